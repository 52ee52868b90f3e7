// Run store: schema, migrations, round trips, crash status, concurrency, SIGKILL safety.
#include "core/common/error.h"
#include "core/store/metric_writer.h"
#include "core/store/run_store.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>
#include <csignal>
#include <signal.h>
#include <unistd.h>

using namespace genrec::core;

namespace {
QString probe()
{
    return QCoreApplication::applicationDirPath() + QStringLiteral("/store_probe");
}
int64_t count(RunStore &s, const char *sql)
{
    sqlite3_stmt *st = nullptr;
    sqlite3_prepare_v2(s.handle(), sql, -1, &st, nullptr);
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}
} // namespace

class TestRunStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void freshStoreIsMigrated()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("sub/dir/runs.db")).toStdString();
        RunStore s(path);
        QCOMPARE(count(s, "PRAGMA user_version"), int64_t(RunStore::schemaVersion()));
        sqlite3_stmt *st = nullptr;
        sqlite3_prepare_v2(s.handle(), "PRAGMA journal_mode", -1, &st, nullptr);
        QVERIFY(sqlite3_step(st) == SQLITE_ROW);
        QCOMPARE(QString::fromUtf8(reinterpret_cast<const char *>(sqlite3_column_text(st, 0))), QStringLiteral("wal"));
        sqlite3_finalize(st);
        QCOMPARE(count(s, "PRAGMA foreign_keys"), int64_t(1));
        QCOMPARE(s.integrityCheck(), std::string("ok"));
    }

    void migrationsAreIdempotentAndGuarded()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("runs.db")).toStdString();
        int64_t id;
        {
            RunStore s(path);
            id = s.createRun({.name = "a"});
        }
        {
            RunStore s(path); // reopening migrates nothing and keeps data
            QVERIFY(s.getRun(id).has_value());
            sqlite3_exec(s.handle(), "PRAGMA user_version=99", nullptr, nullptr, nullptr);
        }
        try {
            RunStore s(path);
            QFAIL("a newer schema must be refused");
        } catch (const Error &e) {
            QCOMPARE(e.kind(), ErrorKind::BadInput);
            QVERIFY(std::string(e.what()).find("newer") != std::string::npos);
        }
        // A foreign SQLite file is not taken over.
        const std::string other = dir.filePath(QStringLiteral("other.db")).toStdString();
        sqlite3 *db = nullptr;
        sqlite3_open(other.c_str(), &db);
        sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        QVERIFY_THROWS_EXCEPTION(Error, RunStore{other});
        // Not a database at all.
        const std::string junk = dir.filePath(QStringLiteral("junk.db")).toStdString();
        FILE *f = std::fopen(junk.c_str(), "wb");
        std::fputs("this is not sqlite, just some text that is long enough to look like a header......", f);
        std::fclose(f);
        QVERIFY_THROWS_EXCEPTION(Error, RunStore{junk});
    }

    void runRoundTrip()
    {
        QTemporaryDir dir;
        RunStore s(dir.filePath(QStringLiteral("runs.db")).toStdString());
        NewRun nr{.name = "sft-demo", .configYaml = "seed: 1\n", .resolvedYaml = "seed: 1\nbf16: false\n",
                  .model = "preset:tiny", .finetuningType = "lora", .dataset = "Demo", .tags = {"x", "y"}};
        const int64_t parent = s.createRun(nr);
        nr.parentId = parent;
        nr.name = "rl-demo";
        const int64_t child = s.createRun(nr);
        auto r = s.getRun(child);
        QVERIFY(r);
        QCOMPARE(r->status, std::string(kStatusQueued));
        QCOMPARE(*r->parentId, parent);
        QCOMPARE(r->tags, (std::vector<std::string>{"x", "y"}));
        s.markStarted(child, getpid(), "");
        QCOMPARE(s.getRun(child)->status, std::string(kStatusRunning));
        s.setCurrentStage(child, "rl");
        s.appendMetrics({{child, "rl", 1, "reward", 0.5, 0}, {child, "rl", 2, "reward", 0.75, 0},
                         {child, "rl", 1, "kl", 0.01, 0}});
        QCOMPARE(s.metricKeys(child), (std::vector<std::string>{"kl", "reward"}));
        const auto series = s.metricSeries(child, "reward");
        QCOMPARE(int(series.size()), 2);
        QCOMPARE(series[1].value, 0.75);
        const auto rows = s.metricsSince(child, 0);
        QCOMPARE(int(rows.size()), 3);
        QCOMPARE(int(s.metricsSince(child, rows[1].rowId).size()), 1);
        const int64_t c1 = s.addCheckpoint({.runId = child, .stage = "rl", .step = 1, .path = "/a"});
        const int64_t c2 = s.addCheckpoint({.runId = child, .stage = "rl", .step = 2, .path = "/b"});
        s.markBestCheckpoint(c1);
        s.markBestCheckpoint(c2);
        const auto cks = s.checkpoints(child);
        QVERIFY(!cks[0].isBest && cks[1].isBest);
        s.addEvent({.runId = child, .kind = "stage_start", .message = "rl"});
        QCOMPARE(int(s.eventsSince(child, 0).size()), 1);
        EvalResult e{.runId = child, .stage = "eval", .split = "test", .metricsJson = R"({"ndcg@10":0.1})",
                     .userIds = {"u1", "u2", "u3"}, .ranks = {0, -1, 4}};
        s.addEvalResult(e);
        const auto evals = s.evalResults(child, true);
        QCOMPARE(int(evals.size()), 1);
        QCOMPARE(evals[0].ranks, (std::vector<int32_t>{0, -1, 4}));
        QCOMPARE(evals[0].userIds[2], std::string("u3"));
        s.setStatus(child, kStatusFinished);
        QVERIFY(s.getRun(child)->endedAt > 0);
        // user intent
        s.renameRun(child, "renamed");
        s.setNotes(child, "n");
        s.removeTag(child, "x");
        s.addTag(child, "z");
        r = s.getRun(child);
        QCOMPARE(r->name, std::string("renamed"));
        QCOMPARE(r->tags, (std::vector<std::string>{"y", "z"}));
        QCOMPARE(int(s.listRuns({.tag = "z"}).size()), 1);
        QCOMPARE(int(s.listRuns({.text = "sft"}).size()), 1);
        QCOMPARE(int(s.listRuns({.status = "finished"}).size()), 1);
        // Deleting the parent keeps the child (lineage link cleared); deleting cascades.
        QVERIFY(s.deleteRun(parent));
        QVERIFY(!s.getRun(child)->parentId);
        QVERIFY(s.deleteRun(child));
        QVERIFY(!s.deleteRun(child));
        QCOMPARE(count(s, "SELECT count(*) FROM metrics"), int64_t(0));
        QCOMPARE(count(s, "SELECT count(*) FROM eval_ranks"), int64_t(0));
        QCOMPARE(count(s, "SELECT count(*) FROM run_tags"), int64_t(0));
    }

    void deadProcessReadsCrashed()
    {
        QTemporaryDir dir;
        RunStore s(dir.filePath(QStringLiteral("runs.db")).toStdString());
        const int64_t id = s.createRun({.name = "x"});
        s.markStarted(id, 0x3FFFFFFF, ""); // above pid_max: certainly no such process
        QCOMPARE(s.getRun(id)->status, std::string(kStatusCrashed));
        QCOMPARE(s.reconcileCrashed(), 1);
        const auto r = s.getRun(id);
        QCOMPARE(r->status, std::string(kStatusCrashed));
        QVERIFY(!r->error.empty());
        // A live process stays running.
        const int64_t live = s.createRun({.name = "y"});
        s.markStarted(live, getpid(), "");
        QCOMPARE(s.reconcileCrashed(), 0);
        QCOMPARE(s.getRun(live)->status, std::string(kStatusRunning));
        s.requestStop(live);
        QVERIFY(s.stopRequested(live));
    }

    void metricWriterBatches()
    {
        QTemporaryDir dir;
        RunStore s(dir.filePath(QStringLiteral("runs.db")).toStdString());
        const int64_t id = s.createRun({.name = "w"});
        {
            MetricWriter w(s, id, 100, 1e9);
            for (int i = 0; i < 250; ++i)
                w.add("sft", i, "loss", i);
            QCOMPARE(count(s, "SELECT count(*) FROM metrics"), int64_t(200)); // two full batches
        }
        QCOMPARE(count(s, "SELECT count(*) FROM metrics"), int64_t(250)); // the rest on destruction
        QVERIFY(s.getRun(id)->heartbeatAt > 0);
    }

    void twoProcessesWriteWhileOneReads()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("runs.db")).toStdString();
        RunStore reader(path);
        const int64_t a = reader.createRun({.name = "a"});
        const int64_t b = reader.createRun({.name = "b"});
        QProcess pa, pb;
        pa.start(probe(), {QStringLiteral("write"), QString::fromStdString(path), QString::number(a),
                           QStringLiteral("200"), QStringLiteral("10")});
        pb.start(probe(), {QStringLiteral("write"), QString::fromStdString(path), QString::number(b),
                           QStringLiteral("200"), QStringLiteral("10")});
        QVERIFY(pa.waitForStarted() && pb.waitForStarted());
        // Incremental reads while they write: rowids only grow and nothing is seen twice.
        int64_t last = 0, seen = 0;
        while (pa.state() != QProcess::NotRunning || pb.state() != QProcess::NotRunning) {
            for (const auto &row : reader.metricsSince(a, last)) {
                QVERIFY(row.rowId > last);
                last = row.rowId;
                ++seen;
            }
            QTest::qWait(5);
        }
        QCOMPARE(pa.exitStatus(), QProcess::NormalExit);
        QCOMPARE(pb.exitStatus(), QProcess::NormalExit);
        QCOMPARE(pa.exitCode(), 0);
        QCOMPARE(pb.exitCode(), 0);
        for (const auto &row : reader.metricsSince(a, last)) {
            last = row.rowId;
            ++seen;
        }
        QCOMPARE(seen, int64_t(2000));
        QCOMPARE(int(reader.metricSeries(b, "loss").size()), 2000);
        QCOMPARE(reader.integrityCheck(), std::string("ok"));
    }

    void sigkillMidTransactionLosesOnlyThatTransaction()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("runs.db")).toStdString();
        int64_t id;
        {
            RunStore s(path);
            id = s.createRun({.name = "k"});
            s.appendMetrics({{id, "sft", 0, "loss", 1.0, 0}, {id, "sft", 1, "loss", 0.5, 0}});
        }
        QProcess p;
        p.start(probe(), {QStringLiteral("hold"), QString::fromStdString(path), QString::number(id), QStringLiteral("5000")});
        QVERIFY(p.waitForReadyRead(20000));
        QVERIFY(p.readAll().contains("ready"));
        ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
        QVERIFY(p.waitForFinished());
        RunStore s(path);
        QCOMPARE(s.integrityCheck(), std::string("ok"));
        QCOMPARE(int(s.metricSeries(id, "loss").size()), 2); // committed rows survive
        QCOMPARE(int(s.metricSeries(id, "held").size()), 0); // the open transaction is gone
        s.appendMetrics({{id, "sft", 2, "loss", 0.25, 0}});  // and the store is writable again
        QCOMPARE(int(s.metricSeries(id, "loss").size()), 3);
    }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "tst_run_store.moc"
