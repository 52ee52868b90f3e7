// StoreWatcher delivers only new metric rows, in order, per watched run; RunSeries puts stages
// side by side on one x-axis; chart routing and the debiased EMA match their definitions.
#include "core/store/run_store.h"
#include "ui/chart_series.h"
#include "ui/dashboard_panel.h"
#include "ui/metric_chart.h"
#include "ui/run_controller.h"
#include "ui/smoothing.h"
#include "ui/store_watcher.h"

#include <QApplication>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace genrec;
Q_DECLARE_METATYPE(std::vector<genrec::core::MetricRow>)

class TestUiStoreWatcher : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void incrementalDelivery();
    void statusChanges();
    void stageOffsets();
    void chartRouting();
    void debiasedEma();
    void dashboardAppends();

private:
    QTemporaryDir m_dir;
};

void TestUiStoreWatcher::incrementalDelivery()
{
    qRegisterMetaType<std::vector<core::MetricRow>>();
    const QString path = m_dir.filePath(QStringLiteral("inc.db"));
    core::RunStore writer(path.toStdString());
    const int64_t run = writer.createRun(core::NewRun{});
    const int64_t other = writer.createRun(core::NewRun{});
    writer.appendMetrics({{run, "sft", 1, "loss", 3.0, 10}, {run, "sft", 2, "loss", 2.5, 11},
                          {other, "sft", 1, "loss", 9.0, 10}, {run, "sft", 3, "loss", 2.0, 12}});

    ui::StoreWatcher watcher(path);
    watcher.watchRun(run);
    QSignalSpy spy(&watcher, &ui::StoreWatcher::metricsAppended);
    QVERIFY(watcher.pollNow());
    QCOMPARE(spy.count(), 1);
    auto rows = spy.at(0).at(1).value<std::vector<core::MetricRow>>();
    QCOMPARE(spy.at(0).at(0).toLongLong(), run);
    QCOMPARE(rows.size(), size_t(3)); // the other run's row is not delivered
    QCOMPARE(rows[2].point.value, 2.0);
    const qint64 last = watcher.lastRowId(run);
    QCOMPARE(last, qint64(rows.back().rowId));

    QVERIFY(watcher.pollNow()); // nothing new: no signal
    QCOMPARE(spy.count(), 1);

    writer.appendMetrics({{run, "sft", 4, "loss", 1.5, 13}, {run, "sft", 4, "lr", 1e-4, 13}});
    QVERIFY(watcher.pollNow());
    QCOMPARE(spy.count(), 2);
    rows = spy.at(1).at(1).value<std::vector<core::MetricRow>>();
    QCOMPARE(rows.size(), size_t(2));
    QVERIFY(rows[0].rowId > last);
    QCOMPARE(rows[1].point.key, std::string("lr"));
}

void TestUiStoreWatcher::statusChanges()
{
    const QString path = m_dir.filePath(QStringLiteral("status.db"));
    core::RunStore writer(path.toStdString());
    const int64_t run = writer.createRun(core::NewRun{});
    ui::StoreWatcher watcher(path);
    QSignalSpy status(&watcher, &ui::StoreWatcher::runStatusChanged);
    QSignalSpy list(&watcher, &ui::StoreWatcher::runListChanged);
    QVERIFY(watcher.pollNow());
    QCOMPARE(status.count(), 1);
    QCOMPARE(list.count(), 1);
    writer.markStarted(run, QCoreApplication::applicationPid(), core::hostName());
    QVERIFY(watcher.pollNow());
    QCOMPARE(status.count(), 2);
    QCOMPARE(status.at(1).at(1).toString(), QStringLiteral("running"));
    writer.setStatus(run, core::kStatusFinished);
    QVERIFY(watcher.pollNow());
    QCOMPARE(status.at(2).at(1).toString(), QStringLiteral("finished"));
    QCOMPARE(list.count(), 1);
    writer.deleteRun(run);
    QVERIFY(watcher.pollNow());
    QCOMPARE(list.count(), 2);
}

void TestUiStoreWatcher::stageOffsets()
{
    ui::RunSeries s;
    std::vector<core::MetricRow> rows;
    int64_t id = 0;
    for (int step = 1; step <= 3; ++step) {
        rows.push_back({++id, {1, "sft", step, "loss", 1.0 * step, 100.0 + step}});
        rows.push_back({++id, {1, "sft", step, "samples_seen", 32.0 * step, 100.0 + step}});
    }
    const auto first = s.append(rows, ui::XAxisMode::Step);
    QCOMPARE(first.size(), qsizetype(2));
    QCOMPARE(first[0].x, QVector<double>({1, 2, 3}));
    rows.clear();
    rows.push_back({++id, {1, "rl", 1, "loss", 0.5, 110}});
    rows.push_back({++id, {1, "rl", 1, "samples_seen", 8, 110}});
    rows.push_back({++id, {1, "rl", 2, "loss", 0.4, 111}});
    const auto second = s.append(rows, ui::XAxisMode::Step);
    QCOMPARE(second[0].key, QStringLiteral("loss"));
    QCOMPARE(second[0].x, QVector<double>({4, 5})); // RL continues after SFT's 3 steps
    QVERIFY(second[0].sorted);
    QVector<double> x, y;
    s.series(QStringLiteral("loss"), ui::XAxisMode::Samples, &x, &y);
    QCOMPARE(x, QVector<double>({32, 64, 96, 104, 104})); // step 2 of RL has no samples_seen yet
    s.series(QStringLiteral("loss"), ui::XAxisMode::WallTime, &x, &y);
    QCOMPARE(x.first(), 0.0);
    QCOMPARE(x.last(), 10.0);
    const auto bands = s.stageBands(ui::XAxisMode::Step);
    QCOMPARE(bands.size(), qsizetype(2));
    QCOMPARE(bands[0].name, QStringLiteral("sft"));
    QCOMPARE(bands[1].start, 3.0);
    QCOMPARE(bands[1].end, 5.0);
    QCOMPARE(s.lastRowId(), id);
}

void TestUiStoreWatcher::chartRouting()
{
    QCOMPARE(ui::chartIdForKey(QStringLiteral("loss")), QStringLiteral("loss"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("eval_loss")), QStringLiteral("loss"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("ndcg@10")), QStringLiteral("ranking"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("eval_hr@5")), QStringLiteral("ranking"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("rewards/rule/mean")), QStringLiteral("reward"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("rewards/rule/std")), QString());
    QCOMPARE(ui::chartIdForKey(QStringLiteral("frac_reward_zero_std")), QStringLiteral("frac_reward_zero_std"));
    QCOMPARE(ui::chartIdForKey(QStringLiteral("rss_mb")), QString());
}

void TestUiStoreWatcher::debiasedEma()
{
    // w = 0.5: s1 = 0.5 / (1 - 0.5) = 1; s2 = (0.25 + 1) / (1 - 0.25) = 5/3.
    const auto s = ui::smoothDebiasedEma({1.0, 2.0, std::nan("")}, 0.5);
    QCOMPARE(s[0], 1.0);
    QVERIFY(std::abs(s[1] - 5.0 / 3.0) < 1e-12);
    QVERIFY(std::isnan(s[2]));
    QCOMPARE(ui::smoothDebiasedEma({4.0, 8.0}, 0.0), std::vector<double>({4.0, 8.0}));
}

void TestUiStoreWatcher::dashboardAppends()
{
    const QString path = m_dir.filePath(QStringLiteral("dash.db"));
    core::RunStore writer(path.toStdString());
    const int64_t run = writer.createRun(core::NewRun{});
    writer.appendMetrics({{run, "sft", 1, "loss", 3.0, 10}, {run, "sft", 1, "lr", 1e-3, 10}});
    ui::StoreWatcher watcher(path);
    ui::RunController controller;
    ui::DashboardPanel dash(&watcher, &controller);
    dash.showRun(run);
    QCOMPARE(dash.pointCount(), qsizetype(2));
    QCOMPARE(dash.chart(QStringLiteral("loss"))->pointCount(0), qsizetype(1));
    writer.appendMetrics({{run, "sft", 2, "loss", 2.0, 11}, {run, "sft", 2, "eval_loss", 2.2, 11}});
    watcher.pollNow();
    QCOMPARE(dash.chart(QStringLiteral("loss"))->pointCount(0), qsizetype(2));
    QCOMPARE(dash.chart(QStringLiteral("loss"))->seriesCount(), 2); // loss + eval_loss
    // Hidden (never shown) charts are not replotted.
    QTest::qWait(100);
    QCOMPARE(dash.chart(QStringLiteral("loss"))->replotCount(), 0);
}

QTEST_MAIN(TestUiStoreWatcher)
#include "tst_ui_store_watcher.moc"
