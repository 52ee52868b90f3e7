// Engine protocol reader (partial lines, line cap, non-JSON as log) and RunController's process
// supervision against a scripted fake engine (events, exit status, stop -> terminate -> kill).
#include "ui/engine_protocol.h"
#include "ui/run_controller.h"

#include <QCoreApplication>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace genrec;

class TestUiProtocol : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void lineBuffer();
    void lineCap();
    void decode();
    void commandLines();
    void controllerRunsEngine();
    void controllerStopEscalates();

private:
    QString script(const QString &name, const QByteArray &body);
    QTemporaryDir m_dir;
};

QString TestUiProtocol::script(const QString &name, const QByteArray &body)
{
    const QString path = m_dir.filePath(name);
    QFile f(path);
    f.open(QIODevice::WriteOnly);
    f.write("#!/bin/sh\n" + body);
    f.close();
    f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    return path;
}

void TestUiProtocol::lineBuffer()
{
    ui::LineBuffer b;
    QVERIFY(b.feed("{\"event\":").isEmpty());
    auto lines = b.feed("\"log\"}\nsecond\r\nthi");
    QCOMPARE(lines.size(), qsizetype(2));
    QCOMPARE(lines[0], QByteArray("{\"event\":\"log\"}"));
    QCOMPARE(lines[1], QByteArray("second"));
    QCOMPARE(b.feed("rd\n"), QList<QByteArray>({QByteArray("third")}));
    b.feed("tail");
    QCOMPARE(b.takeRest(), QByteArray("tail"));
}

void TestUiProtocol::lineCap()
{
    ui::LineBuffer b(8);
    auto lines = b.feed("0123456789abcdef");
    QVERIFY(lines.isEmpty());
    lines = b.feed("ghij\nok\n");
    QCOMPARE(lines, QList<QByteArray>({QByteArray("01234567"), QByteArray("ok")}));
    QCOMPARE(b.truncatedLines(), 1);
}

void TestUiProtocol::decode()
{
    auto e = ui::decodeEngineLine(R"({"event":"progress","run_id":3,"stage":"sft","step":5,"total":10,"loss":1.25,"lr":0.001})");
    QCOMPARE(e.kind, ui::EngineEventKind::Progress);
    QCOMPARE(e.runId, qint64(3));
    QCOMPARE(e.stage, QStringLiteral("sft"));
    QCOMPARE(e.step, qint64(5));
    QCOMPARE(e.total, qint64(10));
    QCOMPARE(e.loss, 1.25);
    e = ui::decodeEngineLine(R"({"event":"progress","label":"tokenize","done":4,"total":8,"eta_s":2.5})");
    QCOMPARE(e.stage, QStringLiteral("tokenize"));
    QCOMPARE(e.step, qint64(4));
    QCOMPARE(e.etaSeconds, 2.5);
    e = ui::decodeEngineLine(R"({"event":"error","code":2,"message":"bad","hint":"fix it"})");
    QCOMPARE(e.kind, ui::EngineEventKind::Error);
    QCOMPARE(e.code, 2);
    QCOMPARE(e.hint, QStringLiteral("fix it"));
    e = ui::decodeEngineLine(R"({"event":"done","run_id":3,"status":"finished","metrics":{"ndcg@10":0.1}})");
    QCOMPARE(e.kind, ui::EngineEventKind::Done);
    QCOMPARE(e.metrics.value(QStringLiteral("ndcg@10")), 0.1);
    for (const QByteArray line : {QByteArray("plain text"), QByteArray("{broken json"), QByteArray("{\"event\":\"future\"}"),
                                  QByteArray("[1,2]")}) {
        e = ui::decodeEngineLine(line);
        QCOMPARE(e.kind, ui::EngineEventKind::Log);
        QCOMPARE(e.message, QString::fromUtf8(line));
    }
}

void TestUiProtocol::commandLines()
{
    QCOMPARE(ui::trainArguments(QStringLiteral("/a/run.yaml"), QStringLiteral("/s/runs.db")),
             QStringList({QStringLiteral("train"), QStringLiteral("/a/run.yaml"), QStringLiteral("--store"),
                          QStringLiteral("/s/runs.db"), QStringLiteral("--json")}));
    QCOMPARE(ui::shellCommandLine(QStringLiteral("genrec"), {QStringLiteral("train"), QStringLiteral("my run.yaml")}),
             QStringLiteral("genrec train 'my run.yaml'"));
    QCOMPARE(ui::formatDuration(3725), QStringLiteral("1 h 02 min"));
    QCOMPARE(ui::formatDuration(65), QStringLiteral("1 min 05 s"));
}

void TestUiProtocol::controllerRunsEngine()
{
    const QString engine = script(QStringLiteral("fake-ok"),
                                  "echo '{\"event\":\"run_created\",\"run_id\":7,\"store\":\"x\"}'\n"
                                  "echo 'loading the dataset'\n"
                                  "echo '{\"event\":\"progress\",\"run_id\":7,\"stage\":\"sft\",\"step\":1,\"total\":2,\"loss\":1.5}'\n"
                                  "echo 'progress bar on stderr' >&2\n"
                                  "printf '{\"event\":\"done\",\"run_id\":7,\"status\":\"finished\"}'\n");
    ui::RunController c;
    c.setEngine(engine);
    c.setStorePath(m_dir.filePath(QStringLiteral("runs.db")));
    QSignalSpy created(&c, &ui::RunController::runCreated);
    QSignalSpy progress(&c, &ui::RunController::progress);
    QSignalSpy logs(&c, &ui::RunController::logLine);
    QSignalSpy finished(&c, &ui::RunController::finished);
    QString error;
    QVERIFY2(c.launch(QStringLiteral("seed: 1\n"), m_dir.filePath(QStringLiteral("launch/run.yaml")), &error),
             qPrintable(error));
    QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("launch/run.yaml"))));
    QVERIFY(c.isActive());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
    QCOMPARE(created.count(), 1);
    QCOMPARE(created.at(0).at(0).toLongLong(), qint64(7));
    QCOMPARE(progress.count(), 1);
    QCOMPARE(finished.at(0).at(1).toString(), QStringLiteral("finished")); // from the unterminated last line
    QStringList lines;
    for (const auto &l : logs)
        lines << l.at(0).toString();
    QVERIFY(lines.contains(QStringLiteral("loading the dataset")));
    QVERIFY(lines.contains(QStringLiteral("progress bar on stderr")));
    QVERIFY(!c.isActive());
}

void TestUiProtocol::controllerStopEscalates()
{
    // Ignores SIGTERM, so only kill() ends it.
    const QString engine = script(QStringLiteral("fake-stubborn"),
                                  "trap '' TERM\n"
                                  "echo '{\"event\":\"log\",\"message\":\"started\"}'\n"
                                  "while true; do sleep 0.05; done\n");
    ui::RunController c;
    c.setEngine(engine);
    c.setStorePath(m_dir.filePath(QStringLiteral("runs.db")));
    c.setStopTimeouts(100, 300);
    QSignalSpy logs(&c, &ui::RunController::logLine);
    QSignalSpy finished(&c, &ui::RunController::finished);
    QString error;
    QVERIFY(c.launch(QStringLiteral("seed: 1\n"), m_dir.filePath(QStringLiteral("launch/stubborn.yaml")), &error));
    QTRY_VERIFY_WITH_TIMEOUT(logs.count() >= 2, 5000); // the command line + "started"
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
    QCOMPARE(finished.at(0).at(1).toString(), QStringLiteral("stopped"));
    bool killed = false;
    for (const auto &l : logs)
        killed = killed || l.at(0).toString().contains(QLatin1String("killing"));
    QVERIFY(killed);
}

QTEST_MAIN(TestUiProtocol)
#include "tst_ui_protocol.moc"
