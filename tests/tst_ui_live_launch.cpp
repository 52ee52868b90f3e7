// The studio drives the real engine: the demo config launched from the New-run form (with a few
// values made small) runs `genrec train` as a child process, its metric points reach the
// dashboard's charts through the store, Stop ends it as "stopped", Resume continues it from its
// checkpoint, and a child killed with SIGKILL is shown as crashed. Built only with the trainer
// (GENREC_BUILD_TRAINER); GENREC_ENGINE_PATH is the genrec binary of this build.
#include "core/store/run_store.h"
#include "ui/dashboard_panel.h"
#include "ui/main_window.h"
#include "ui/metric_chart.h"
#include "ui/run_controller.h"
#include "ui/run_form_panel.h"
#include "ui/store_watcher.h"

#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <sys/types.h>

using namespace genrec;

class TestUiLiveLaunch : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void launchStopResumeCrash();

private:
    QTemporaryDir m_home;
};

void TestUiLiveLaunch::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    qputenv("XDG_CONFIG_HOME", m_home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", m_home.filePath(QStringLiteral("data")).toUtf8());
    qputenv("GENREC_ENGINE", GENREC_ENGINE_PATH);
    QVERIFY2(QFileInfo(QStringLiteral(GENREC_ENGINE_PATH)).isExecutable(), GENREC_ENGINE_PATH);
}

void TestUiLiveLaunch::launchStopResumeCrash()
{
    const QString storePath = m_home.filePath(QStringLiteral("data/genrec/runs.db"));
    ui::MainWindow w(storePath);
    w.resize(1200, 800);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    ui::RunController *controller = w.controller();
    controller->setStopTimeouts(20000, 10000);
    QCOMPARE(controller->engine(), QStringLiteral(GENREC_ENGINE_PATH));

    // The shipped demo config, made small: SFT only, tiny batches, a checkpoint every 5 steps,
    // enough steps that the run is still going when it is stopped.
    w.loadDemo();
    core::RunConfig c = w.runForm()->config();
    c.stages = {"sft"};
    c.sft.train.maxSteps = 2000;
    c.sft.train.perDeviceTrainBatchSize = 4;
    c.sft.train.gradientAccumulationSteps = 1;
    c.sft.train.saveSteps = 5;
    c.sft.train.evalSteps = 100000;
    c.numThreads = 1;
    w.runForm()->setConfig(c);
    w.runForm()->validateNow();
    QVERIFY2(w.runForm()->canLaunch(), qPrintable(w.runForm()->problemTexts().join(QLatin1Char('\n'))));

    QSignalSpy finished(controller, &ui::RunController::finished);
    auto *launch = w.runForm()->findChild<QPushButton *>(QStringLiteral("launchButton"));
    QVERIFY(launch);
    QTest::mouseClick(launch, Qt::LeftButton);
    QVERIFY(controller->isActive());

    // The run appears and its loss points reach the dashboard's chart through the store.
    QTRY_VERIFY_WITH_TIMEOUT(controller->runId() > 0, 20000);
    const qint64 runId = controller->runId();
    QCOMPARE(w.dashboard()->runId(), runId);
    ui::MetricChart *loss = w.dashboard()->chart(QStringLiteral("loss"));
    QTRY_VERIFY_WITH_TIMEOUT(loss->seriesCount() > 0 && loss->pointCount(0) >= 8, 30000);
    QVERIFY(loss->replotCount() > 0); // visible chart, replotted as points arrived

    // Stop: the engine saves and exits with 130, the run reads "stopped".
    controller->stop();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
    QCOMPARE(finished.at(0).at(1).toString(), QString::fromLatin1(core::kStatusStopped));
    core::RunStore store(storePath.toStdString());
    QCOMPARE(store.getRun(runId)->status, std::string(core::kStatusStopped));
    QVERIFY(!store.checkpoints(runId).empty());
    const qint64 pointsAtStop = loss->pointCount(0);

    // Resume: the same run continues and new points arrive.
    QVERIFY(!controller->isActive());
    QString error;
    QVERIFY2(controller->resume(runId, &error), qPrintable(error));
    w.dashboard()->showRun(runId);
    QTRY_VERIFY_WITH_TIMEOUT(loss->pointCount(0) > pointsAtStop + 2, 30000);
    QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(store.getRun(runId)->status),
                              QString::fromLatin1(core::kStatusRunning), 10000);

    // A crash: SIGKILL to the child; the studio reports it, the store reads "crashed".
    const qint64 pid = store.getRun(runId)->pid;
    QVERIFY(pid > 0);
    QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 15000);
    QCOMPARE(finished.at(1).at(1).toString(), QString::fromLatin1(core::kStatusCrashed));
    QCOMPARE(store.getRun(runId)->status, std::string(core::kStatusCrashed));
    w.watcher()->pollNow();
    QTRY_VERIFY_WITH_TIMEOUT(w.dashboard()->findChild<QPushButton *>(QStringLiteral("resumeButton"))->isEnabled(), 5000);
}

QTEST_MAIN(TestUiLiveLaunch)
#include "tst_ui_live_launch.moc"
