// Compare view: config diff rows from the schema, final metrics, and the paired bootstrap of the
// NDCG@10 difference against numbers computed by hand from the stored per-user ranks.
#include "core/config/run_config_schema.h"
#include "core/config/run_config_yaml.h"
#include "core/eval/ranking_metrics.h"
#include "core/store/run_store.h"
#include "ui/compare_logic.h"
#include "ui/compare_panel.h"
#include "ui/metric_chart.h"
#include "ui/store_watcher.h"

#include <QApplication>
#include <QLabel>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace genrec;

namespace {

int64_t addRun(core::RunStore &store, const std::string &name, const core::RunConfig &c)
{
    core::NewRun nr;
    nr.name = name;
    nr.configYaml = core::runConfigToYaml(c, false);
    nr.resolvedYaml = nr.configYaml;
    nr.model = c.modelNameOrPath;
    return store.createRun(nr);
}

core::EvalResult evalOf(int64_t runId, std::vector<std::string> users, std::vector<int32_t> ranks,
                        const std::string &split = "test")
{
    core::EvalResult e;
    e.runId = runId;
    e.stage = "eval";
    e.split = split;
    e.userIds = std::move(users);
    e.ranks = std::move(ranks);
    double ndcg = 0;
    for (const int32_t r : e.ranks)
        ndcg += r >= 0 && r < 10 ? 1.0 / std::log2(r + 2.0) : 0.0;
    e.metricsJson = "{\"ndcg@10\": " + std::to_string(ndcg / double(e.ranks.size())) + ", \"hr@10\": 0.5}";
    return e;
}

} // namespace

class TestUiCompare : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void diffRows();
    void pairedBootstrapByHand();
    void pairsByUserId();
    void refusesDifferentSplits();
    void panelShowsEverything();
};

void TestUiCompare::diffRows()
{
    core::RunConfig a, b;
    b.sft.train.learningRate = 1e-4;
    b.seed = 7;
    const auto all = ui::configDiffRows({a, b}, false);
    QCOMPARE(all.size(), qsizetype(core::runConfigSchema().size()));
    const auto diff = ui::configDiffRows({a, b}, true);
    QCOMPARE(diff.size(), qsizetype(2));
    QCOMPARE(diff[0].key, QStringLiteral("seed")); // schema order: run keys first
    QCOMPARE(diff[0].values, QStringList({QStringLiteral("42"), QStringLiteral("7")}));
    QCOMPARE(diff[1].key, QStringLiteral("sft.learning_rate"));
    QCOMPARE(diff[1].values, QStringList({QStringLiteral("0.0003"), QStringLiteral("0.0001")}));
    QVERIFY(diff[1].differs);
}

void TestUiCompare::pairedBootstrapByHand()
{
    // 4 users. A: ranks 0, -1, 2, 1 ; B: ranks 0, 0, 2, -1.
    // NDCG@10 per user: A = 1, 0, 0.5, 1/log2(3); B = 1, 1, 0.5, 0.
    const std::vector<int32_t> ra = {0, -1, 2, 1}, rb = {0, 0, 2, -1};
    const double ndcgA = (1 + 0 + 0.5 + 1 / std::log2(3.0)) / 4;
    const double ndcgB = (1 + 1 + 0.5 + 0) / 4;
    const auto a = evalOf(1, {"u1", "u2", "u3", "u4"}, ra);
    const auto b = evalOf(2, {"u1", "u2", "u3", "u4"}, rb);
    const auto p = ui::comparePairedNdcg(a, b, QStringLiteral("A"), QStringLiteral("B"), 10, 1000, 0);
    QVERIFY2(p.ok, qPrintable(p.reason));
    QCOMPARE(p.rows, qsizetype(4));
    QVERIFY(std::abs(p.ndcgA - ndcgA) < 1e-12);
    QVERIFY(std::abs(p.ndcgB - ndcgB) < 1e-12);
    QVERIFY(std::abs(p.diff.meanDiff - (ndcgB - ndcgA)) < 1e-12); // 0.0923...
    // The interval is the core helper's, called with B first.
    const auto ref = core::pairedBootstrapNdcgDiff(rb, ra, 10, 1000, 0);
    QCOMPARE(p.diff.ciLow, ref.ciLow);
    QCOMPARE(p.diff.ciHigh, ref.ciHigh);
    QVERIFY(p.diff.ciLow <= p.diff.meanDiff && p.diff.meanDiff <= p.diff.ciHigh);
    const QString expected = QStringLiteral("B beats A by %1 NDCG@10, 95 % CI [%2, %3]")
                                 .arg(QString::number(ndcgB - ndcgA, 'f', 3), QString::number(ref.ciLow, 'f', 3),
                                      QString::number(ref.ciHigh, 'f', 3));
    QVERIFY2(p.text.startsWith(expected), qPrintable(p.text + QStringLiteral(" vs ") + expected));

    // Swapping the runs states the same result for the same winner.
    const auto q = ui::comparePairedNdcg(b, a, QStringLiteral("B"), QStringLiteral("A"), 10, 1000, 0);
    QVERIFY(q.text.startsWith(QStringLiteral("B beats A by %1").arg(QString::number(ndcgB - ndcgA, 'f', 3))));
}

void TestUiCompare::pairsByUserId()
{
    const auto a = evalOf(1, {"u1", "u2", "u3"}, {0, 5, -1});
    const auto b = evalOf(2, {"u3", "u1", "u2"}, {1, 0, 5}); // same users, other order
    const auto p = ui::comparePairedNdcg(a, b, QStringLiteral("A"), QStringLiteral("B"));
    QVERIFY(p.ok);
    const double diffU3 = 1 / std::log2(3.0); // only u3 differs: -1 -> rank 1
    QVERIFY(std::abs(p.diff.meanDiff - diffU3 / 3) < 1e-12);

    const auto c = evalOf(3, {"u1", "u2", "u9"}, {0, 5, -1});
    QVERIFY(!ui::comparePairedNdcg(a, c, QStringLiteral("A"), QStringLiteral("C")).ok);
}

void TestUiCompare::refusesDifferentSplits()
{
    const auto a = evalOf(1, {"u1"}, {0}, "test");
    const auto b = evalOf(2, {"u1"}, {0}, "valid");
    const auto p = ui::comparePairedNdcg(a, b, QStringLiteral("A"), QStringLiteral("B"));
    QVERIFY(!p.ok);
    QVERIFY(p.reason.contains(QLatin1String("valid")));
}

void TestUiCompare::panelShowsEverything()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("runs.db"));
    int64_t ida = 0, idb = 0;
    {
        core::RunStore store(path.toStdString());
        core::RunConfig a, b;
        b.finetuningType = "lora";
        ida = addRun(store, "base", a);
        idb = addRun(store, "lora", b);
        std::vector<core::MetricPoint> pts;
        for (int s = 1; s <= 50; ++s) {
            pts.push_back({ida, "sft", s, "loss", 2.0 / s, 100.0 + s});
            pts.push_back({idb, "sft", s, "loss", 1.5 / s, 200.0 + s});
        }
        store.appendMetrics(pts);
        store.addEvalResult(evalOf(ida, {"u1", "u2", "u3", "u4"}, {0, -1, 2, 1}));
        store.addEvalResult(evalOf(idb, {"u1", "u2", "u3", "u4"}, {0, 0, 2, -1}));
    }
    ui::StoreWatcher watcher(path);
    ui::ComparePanel panel(&watcher);
    panel.resize(1000, 700);
    panel.setRuns({ida, idb});
    QCOMPARE(panel.metric(), QStringLiteral("loss"));
    // Curves are read on a worker thread.
    QTRY_COMPARE(panel.chart()->seriesCount(), 2);
    QVERIFY(!panel.isLoading());
    QCOMPARE(panel.chart()->pointCount(0), qsizetype(50));

    // Differences only: finetuning_type alone differs.
    QCOMPARE(panel.diffTable()->rowCount(), 1);
    QCOMPARE(panel.diffTable()->item(0, 0)->text(), QStringLiteral("finetuning_type"));
    QCOMPARE(panel.diffTable()->item(0, 2)->text(), QStringLiteral("lora"));
    panel.setDifferencesOnly(false);
    QCOMPARE(panel.diffTable()->rowCount(), int(core::runConfigSchema().size()));

    QCOMPARE(panel.pairedComparisons().size(), qsizetype(1));
    QVERIFY(panel.pairedComparisons().first().ok);
    QVERIFY2(panel.pairedText().contains(QLatin1String("#2 lora beats #1 base by 0.092")), qPrintable(panel.pairedText()));
    // Final metrics: split row + hr@10 + ndcg@10.
    QCOMPARE(panel.metricsTable()->rowCount(), 3);
}

QTEST_MAIN(TestUiCompare)
#include "tst_ui_compare.moc"
