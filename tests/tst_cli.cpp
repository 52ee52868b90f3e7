// genrec CLI end to end: exit codes, one-line errors with locations, JSON output.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

namespace {
struct Result
{
    int code;
    QByteArray out;
    QByteArray err;
};
Result genrec(const QStringList &args, const QByteArray &input = {})
{
    QProcess p;
    p.start(qEnvironmentVariable("GENREC_BIN") + QStringLiteral("/genrec"), args);
    p.waitForStarted();
    if (!input.isEmpty())
        p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(120000);
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}
} // namespace

class TestCli : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initPipesIntoValidate()
    {
        const Result init = genrec({QStringLiteral("config"), QStringLiteral("init")});
        QCOMPARE(init.code, 0);
        QVERIFY(init.out.contains("sft:\n"));
        const Result v = genrec({QStringLiteral("config"), QStringLiteral("validate"), QStringLiteral("-")}, init.out);
        QCOMPARE(v.code, 0);
        const Result show = genrec({QStringLiteral("config"), QStringLiteral("show"), QStringLiteral("-"),
                                    QStringLiteral("--set"), QStringLiteral("seed=5")}, init.out);
        QCOMPARE(show.code, 0);
        QVERIFY(show.out.contains("seed: 5\n"));
    }

    void badConfigExitsTwoWithLocations()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("bad.yaml"));
        QFile f(path);
        f.open(QIODevice::WriteOnly);
        f.write("seed: 1\nsft:\n  optim: sgd\n  learnin_rate: 0.1\n");
        f.close();
        const Result r = genrec({QStringLiteral("config"), QStringLiteral("validate"), path});
        QCOMPARE(r.code, 2);
        const QList<QByteArray> lines = r.err.trimmed().split('\n');
        QCOMPARE(lines.size(), 2);
        QVERIFY(lines[0].startsWith(path.toUtf8() + ":4: sft.learnin_rate: unknown key"));
        QVERIFY(lines[0].contains("did you mean sft.learning_rate"));
        QVERIFY(lines[1].startsWith(path.toUtf8() + ":3: sft.optim:"));
        const Result j = genrec({QStringLiteral("--json"), QStringLiteral("config"), QStringLiteral("validate"), path});
        QCOMPARE(j.code, 2);
        const auto doc = QJsonDocument::fromJson(j.out).object();
        QCOMPARE(doc[QStringLiteral("valid")].toBool(), false);
        QCOMPARE(doc[QStringLiteral("problems")].toArray().size(), 2);
        const Result missing = genrec({QStringLiteral("config"), QStringLiteral("validate"), dir.filePath(QStringLiteral("none.yaml"))});
        QCOMPARE(missing.code, 2);
        QVERIFY(missing.err.startsWith("error: "));
    }

    void usageErrorsExitTwo()
    {
        QCOMPARE(genrec({QStringLiteral("no-such-command")}).code, 2);
        QCOMPARE(genrec({QStringLiteral("data"), QStringLiteral("synth")}).code, 2);
        QCOMPARE(genrec({QStringLiteral("--version")}).code, 0);
    }

    void synthInspectAndMalformedCsv()
    {
        QTemporaryDir dir;
        const QString ds = dir.filePath(QStringLiteral("demo"));
        const Result s = genrec({QStringLiteral("data"), QStringLiteral("synth"), QStringLiteral("--out"), ds,
                                 QStringLiteral("--users"), QStringLiteral("50"), QStringLiteral("--items"), QStringLiteral("48")});
        QCOMPARE(s.code, 0);
        const Result i = genrec({QStringLiteral("--json"), QStringLiteral("data"), QStringLiteral("inspect"), ds});
        QCOMPARE(i.code, 0);
        const auto doc = QJsonDocument::fromJson(i.out).object();
        QCOMPARE(doc[QStringLiteral("items")].toInt(), 48);
        QCOMPARE(doc[QStringLiteral("users")].toInt(), 50);
        QCOMPARE(doc[QStringLiteral("levels")].toInt(), 3);

        // Break line 3 of the test split: exit 2, one line naming file and line.
        const QString csv = ds + QStringLiteral("/test/Demo_Office_synth.csv");
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QList<QByteArray> lines = f.readAll().split('\n');
        f.close();
        lines[2] = "A1,['t'],t,[0],notanumber,['<a_1>'],<a_1>";
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(lines.join('\n'));
        f.close();
        const Result bad = genrec({QStringLiteral("data"), QStringLiteral("inspect"), ds});
        QCOMPARE(bad.code, 2);
        QVERIFY2(bad.err.startsWith("error: " + csv.toUtf8() + ":3: column item_id"), bad.err.constData());
        QCOMPARE(bad.err.count('\n'), 1);
    }

    void runsOnEmptyStore()
    {
        QTemporaryDir dir;
        const QString store = dir.filePath(QStringLiteral("runs.db"));
        const Result r = genrec({QStringLiteral("--json"), QStringLiteral("--store"), store, QStringLiteral("runs"), QStringLiteral("list")});
        QCOMPARE(r.code, 0);
        QVERIFY(QJsonDocument::fromJson(r.out).isArray());
        const Result show = genrec({QStringLiteral("--store"), store, QStringLiteral("runs"), QStringLiteral("show"), QStringLiteral("7")});
        QCOMPARE(show.code, 2);
        QVERIFY(show.err.contains("no run 7"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
