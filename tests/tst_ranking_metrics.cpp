#include "core/common/error.h"
#include "core/eval/ranking_metrics.h"

#include <QtTest/QtTest>

#include <cmath>
#include <map>

using namespace genrec::core;

using Ranks = std::vector<int32_t>;
using Ks = std::vector<int>;
using Strings = std::vector<std::string>;

Q_DECLARE_METATYPE(Ranks)

namespace {

// 1/log2(rank + 2) for the ranks used below.
constexpr double kGain1 = 0.6309297535714575; // rank 1
constexpr double kGain4 = 0.38685280723454163; // rank 4

constexpr double kTol = 1e-12;

template<typename F>
void expectBadInput(F &&f)
{
    try {
        f();
        QFAIL("expected genrec::core::Error");
    } catch (const Error &e) {
        QCOMPARE(e.kind(), ErrorKind::BadInput);
    }
}

const std::string kSidA = "<a_1><b_1><c_1>";
const std::string kSidB = "<a_1><b_2><c_1>";
const std::string kSidC = "<a_2><b_1><c_1>";
const std::string kSidD = "<a_2><b_2><c_2><d_1>";
const std::string kSidE = "<a_3><b_1><c_1>";
const std::string kBogus = "<a_9><b_9><c_9>";

} // namespace

class TestRankingMetrics : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void hrNdcg_data();
    void hrNdcg();
    void cutOffsBeyondListLength();
    void rankOfTargetFindsFirst();
    void invalidPredictionsAreMissesAndCounted();
    void sharedSidCreditsEveryItem();
    void endToEnd();
    void normalize();
    void badInput();
    void coverage();
    void levelAccuracyTokens();
    void levelAccuracyStrings();
    void levelAccuracyVariableLength();
    void bootstrapExcludesZero();
    void bootstrapIncludesZero();
    void bootstrapConstantDifference();
    void bootstrapDeterministic();
};

void TestRankingMetrics::hrNdcg_data()
{
    QTest::addColumn<Ranks>("ranks");
    QTest::addColumn<int>("listLength");
    QTest::addColumn<int>("k");
    QTest::addColumn<double>("hr");
    QTest::addColumn<double>("ndcg");

    QTest::newRow("hit@0 K=1") << Ranks{0} << 10 << 1 << 1.0 << 1.0;
    QTest::newRow("hit@1 K=1") << Ranks{1} << 10 << 1 << 0.0 << 0.0;
    QTest::newRow("hit@1 K=3") << Ranks{1} << 10 << 3 << 1.0 << kGain1;
    QTest::newRow("hit@4 K=3") << Ranks{4} << 10 << 3 << 0.0 << 0.0;
    QTest::newRow("hit@4 K=5") << Ranks{4} << 10 << 5 << 1.0 << kGain4;
    QTest::newRow("miss") << Ranks{-1} << 10 << 10 << 0.0 << 0.0;
    QTest::newRow("mixed K=1") << Ranks{0, 1, 4, -1} << 5 << 1 << 0.25 << 0.25;
    QTest::newRow("mixed K=3") << Ranks{0, 1, 4, -1} << 5 << 3 << 0.5 << (1.0 + kGain1) / 4;
    QTest::newRow("mixed K=5") << Ranks{0, 1, 4, -1} << 5 << 5 << 0.75
                               << (1.0 + kGain1 + kGain4) / 4;
    QTest::newRow("no hit at 0") << Ranks{1, 4, -1} << 5 << 5 << 2.0 / 3
                                 << (kGain1 + kGain4) / 3;
    QTest::newRow("all misses") << Ranks{-1, -1, -1} << 50 << 50 << 0.0 << 0.0;
    QTest::newRow("no rows") << Ranks{} << 50 << 10 << 0.0 << 0.0;
}

void TestRankingMetrics::hrNdcg()
{
    QFETCH(Ranks, ranks);
    QFETCH(int, listLength);
    QFETCH(int, k);
    QFETCH(double, hr);
    QFETCH(double, ndcg);
    const Ks ks{k};
    const RankingReport report = computeRankingMetrics(ranks, ks, listLength);
    QCOMPARE(report.numRows, static_cast<int64_t>(ranks.size()));
    QCOMPARE(report.atK.size(), std::size_t(1));
    QCOMPARE(report.atK[0].k, k);
    QVERIFY2(std::abs(report.atK[0].hr - hr) < kTol, qPrintable(QString::number(report.atK[0].hr)));
    QVERIFY2(std::abs(report.atK[0].ndcg - ndcg) < kTol,
             qPrintable(QString::number(report.atK[0].ndcg, 'g', 17)));
}

void TestRankingMetrics::cutOffsBeyondListLength()
{
    const Ranks ranks{0, 2, -1, 4};
    const Ks ks{10, 1, 5, 3, 50, 5};
    const RankingReport report = computeRankingMetrics(ranks, ks, 5, 7);
    QCOMPARE(report.listLength, 5);
    QCOMPARE(report.numInvalid, int64_t(7));
    QCOMPARE(report.atK.size(), std::size_t(3)); // 1, 3, 5; 10 and 50 exceed the list; 5 merged
    QCOMPARE(report.atK[0].k, 1);
    QCOMPARE(report.atK[1].k, 3);
    QCOMPARE(report.atK[2].k, 5);
    QVERIFY(report.find(10) == nullptr);
    QVERIFY(report.find(5) != nullptr);
    QCOMPARE(report.find(5)->hr, 0.75);
}

void TestRankingMetrics::rankOfTargetFindsFirst()
{
    const Strings preds{kSidB, kSidC, kSidA, kSidA};
    QCOMPARE(rankOfTarget(preds, kSidA), 2);
    QCOMPARE(rankOfTarget(preds, kSidB), 0);
    QCOMPARE(rankOfTarget(preds, kSidE), kMissRank);
    QCOMPARE(rankOfTarget(Strings{}, kSidE), kMissRank);

    const std::vector<std::vector<int32_t>> tokPreds{{1, 2, 3}, {1, 2, 4}, {1, 2, 4, 7}};
    QCOMPARE(rankOfTarget(tokPreds, std::vector<int32_t>{1, 2, 4}), 1);
    QCOMPARE(rankOfTarget(tokPreds, std::vector<int32_t>{1, 2, 4, 7}), 2);
    QCOMPARE(rankOfTarget(tokPreds, std::vector<int32_t>{1, 2}), kMissRank); // prefix only
}

void TestRankingMetrics::invalidPredictionsAreMissesAndCounted()
{
    const std::unordered_set<std::string> catalogue{kSidA, kSidB, kSidC};
    // The invalid prediction still occupies its slot, so the target's rank is its list index.
    RowScore s = scoreRow(Strings{kBogus, kSidB, kSidA}, kSidA, catalogue);
    QCOMPARE(s.rank, 2);
    QCOMPARE(s.numInvalid, 1);

    s = scoreRow(Strings{kSidB, kBogus, kBogus}, kSidA, catalogue);
    QCOMPARE(s.rank, kMissRank);
    QCOMPARE(s.numInvalid, 2);

    // A prediction equal to a target that is not in the catalogue is invalid, never a hit.
    s = scoreRow(Strings{kBogus, kSidA}, kBogus, catalogue);
    QCOMPARE(s.rank, kMissRank);
    QCOMPARE(s.numInvalid, 1);
}

void TestRankingMetrics::sharedSidCreditsEveryItem()
{
    // Items 7 and 8 collide on kSidA: a prediction of kSidA is a hit for either target item.
    const std::map<int64_t, std::string> sidOf{{7, kSidA}, {8, kSidA}, {9, kSidB}};
    const std::unordered_set<std::string> catalogue{kSidA, kSidB};
    const Strings preds{kSidB, kSidA};
    QCOMPARE(scoreRow(preds, sidOf.at(7), catalogue).rank, 1);
    QCOMPARE(scoreRow(preds, sidOf.at(8), catalogue).rank, 1);
    QCOMPARE(scoreRow(preds, sidOf.at(9), catalogue).rank, 0);
}

void TestRankingMetrics::endToEnd()
{
    const std::unordered_set<std::string> catalogue{kSidA, kSidB, kSidC, kSidD, kSidE};
    struct Row
    {
        Strings predictions;
        std::string target;
    };
    const std::vector<Row> rows{
        {{kSidA, kSidB, kSidC, kSidD, kSidE}, kSidA},   // rank 0
        {{kSidB, kSidD, kSidC, kSidA, kSidE}, kSidD},   // rank 1 (4-token SID)
        {{kSidB, kSidC, kSidA, kBogus, kSidE}, kSidE},  // rank 4, one invalid
        {{kSidB, kSidC, kBogus, kBogus, kSidA}, kSidD}, // miss, two invalid
    };
    Ranks ranks;
    int64_t invalid = 0;
    for (const auto &row : rows) {
        const RowScore s = scoreRow(row.predictions, row.target, catalogue);
        ranks.push_back(s.rank);
        invalid += s.numInvalid;
    }
    QCOMPARE(ranks, (Ranks{0, 1, 4, -1}));
    const Ks ks{1, 3, 5, 10};
    const RankingReport r = computeRankingMetrics(ranks, ks, 5, invalid);
    QCOMPARE(r.numInvalid, int64_t(3));
    QCOMPARE(r.atK.size(), std::size_t(3));
    QVERIFY(std::abs(r.find(5)->ndcg - (1.0 + kGain1 + kGain4) / 4) < kTol);
    QCOMPARE(r.find(3)->hr, 0.5);
}

void TestRankingMetrics::normalize()
{
    QCOMPARE(normalizeSid("\"<a_1><b_2><c_3>\"\n"), std::string("<a_1><b_2><c_3>"));
    QCOMPARE(normalizeSid("  <a_1><b_2><c_3> \n"), std::string("<a_1><b_2><c_3>"));
    QCOMPARE(normalizeSid("<a_1>"), std::string("<a_1>"));
    QCOMPARE(normalizeSid(" \n\"\" "), std::string());
}

void TestRankingMetrics::badInput()
{
    const Ks ks{1};
    const Ks bad{0};
    expectBadInput([&] { computeRankingMetrics(Ranks{5}, ks, 5); });  // rank past the list
    expectBadInput([&] { computeRankingMetrics(Ranks{-2}, ks, 5); }); // not a rank
    expectBadInput([&] { computeRankingMetrics(Ranks{0}, bad, 5); });
    expectBadInput([] { pairedBootstrapNdcgDiff(Ranks{0, 1}, Ranks{0}, 10); });
    expectBadInput([] { pairedBootstrapNdcgDiff(Ranks{}, Ranks{}, 10); });
    expectBadInput([] { pairedBootstrapNdcgDiff(Ranks{0}, Ranks{0}, 10, 0); });
    expectBadInput([] { pairedBootstrapNdcgDiff(Ranks{0}, Ranks{0}, 10, 10, 1, 1.0); });
    expectBadInput([] {
        levelAccuracy(std::vector<std::vector<int32_t>>{{1}}, std::vector<std::vector<int32_t>>{});
    });
}

void TestRankingMetrics::coverage()
{
    const std::unordered_set<std::string> catalogue{kSidA, kSidB, kSidC, kSidD, kSidE};
    const std::vector<Strings> lists{{kSidA, kSidB, kSidC}, {kSidA, kSidD, kBogus}};
    QCOMPARE(catalogueCoverage(lists, 1, catalogue), 1.0 / 5);  // {A}
    QCOMPARE(catalogueCoverage(lists, 2, catalogue), 3.0 / 5);  // {A, B, D}
    QCOMPARE(catalogueCoverage(lists, 3, catalogue), 4.0 / 5);  // + C; the invalid one ignored
    QCOMPARE(catalogueCoverage(lists, 50, catalogue), 4.0 / 5); // K past the list length
    QCOMPARE(catalogueCoverage(lists, 3, {}), 0.0);

    const std::vector<std::vector<int64_t>> items{{0, 1, 2}, {0, 3, -1}, {7}};
    QCOMPARE(catalogueCoverage(items, 2, 5), 3.0 / 5);
    QCOMPARE(catalogueCoverage(items, 3, 5), 4.0 / 5); // -1 and the out-of-range 7 ignored
    QCOMPARE(catalogueCoverage(items, 3, 8), 5.0 / 8);
}

void TestRankingMetrics::levelAccuracyTokens()
{
    using T = std::vector<std::vector<int32_t>>;
    const T targets{{1, 2, 3}, {1, 2, 3}, {1, 5, 6}, {4, 5, 6}};
    const T top1{{1, 2, 3}, {1, 2, 9}, {1, 9, 6}, {}}; // matching depth 3, 2, 1, 0
    const LevelAccuracy acc = levelAccuracy(top1, targets);
    QCOMPARE(acc.accuracy, (std::vector<double>{0.75, 0.5, 0.25}));
    QCOMPARE(acc.rows, (std::vector<int64_t>{4, 4, 4}));
    // A match on a later level does not count without the earlier ones: row 3 of {1,9,6}.
}

void TestRankingMetrics::levelAccuracyStrings()
{
    QCOMPARE(splitSid("<a_1><b_22><c_3>"), (Strings{"<a_1>", "<b_22>", "<c_3>"}));
    QCOMPARE(splitSid("<a_1>x"), (Strings{"<a_1>", "x"}));
    QVERIFY(splitSid("").empty());

    const Strings targets{kSidA, kSidA, kSidB, kSidC};
    const Strings top1{kSidA, "<a_1><b_1><c_7>", kSidA, kSidE};
    const LevelAccuracy acc = levelAccuracy(top1, targets);
    // depths: 3, 2, 1 (<a_1> shared, <b_1> vs <b_2>), 0 → level accuracies 3/4, 2/4, 1/4
    QCOMPARE(acc.accuracy, (std::vector<double>{0.75, 0.5, 0.25}));

    // The last level equals HR@1 for fixed-length SIDs.
    Ranks ranks;
    for (std::size_t i = 0; i < targets.size(); ++i)
        ranks.push_back(rankOfTarget(Strings{top1[i]}, targets[i]));
    const Ks ks{1};
    QCOMPARE(computeRankingMetrics(ranks, ks, 1).atK[0].hr, acc.accuracy.back());
}

void TestRankingMetrics::levelAccuracyVariableLength()
{
    using T = std::vector<std::vector<int32_t>>;
    const T targets{{1, 2, 3, 4}, {1, 2, 3}, {1, 2, 3, 5}};
    const T top1{{1, 2, 3, 4}, {1, 2, 3}, {1, 2, 3}}; // the last stops one token short
    const LevelAccuracy acc = levelAccuracy(top1, targets);
    QCOMPARE(acc.rows, (std::vector<int64_t>{3, 3, 3, 2})); // level 4 only for 4-token targets
    QCOMPARE(acc.accuracy, (std::vector<double>{1.0, 1.0, 1.0, 0.5}));
}

void TestRankingMetrics::bootstrapExcludesZero()
{
    // Run A hits at rank 0 on rows 0..79, run B only on rows 0..19: A is better by 0.6 NDCG.
    Ranks a(100, -1), b(100, -1);
    for (int i = 0; i < 80; ++i)
        a[i] = 0;
    for (int i = 0; i < 20; ++i)
        b[i] = 0;
    const BootstrapResult r = pairedBootstrapNdcgDiff(a, b, 10, 2000, 42);
    QVERIFY(std::abs(r.meanDiff - 0.6) < kTol);
    QCOMPARE(r.resamples, 2000);
    QCOMPARE(r.confidence, 0.95);
    QVERIFY(r.ciLow > 0.0);
    QVERIFY(r.ciLow < r.meanDiff && r.meanDiff < r.ciHigh);
    // Standard error sqrt(0.6 * 0.4 / 100) ≈ 0.049, so the interval is about ±0.1.
    QVERIFY(r.ciLow > 0.45 && r.ciHigh < 0.75);

    // Swapping the runs flips the sign.
    const BootstrapResult s = pairedBootstrapNdcgDiff(b, a, 10, 2000, 42);
    QVERIFY(std::abs(s.meanDiff + 0.6) < kTol);
    QVERIFY(s.ciHigh < 0.0);
}

void TestRankingMetrics::bootstrapIncludesZero()
{
    // A hits rows 0..49, B hits rows 25..74: as many rows favour A as B, the true difference is 0.
    Ranks a(100, -1), b(100, -1);
    for (int i = 0; i < 50; ++i)
        a[i] = 1;
    for (int i = 25; i < 75; ++i)
        b[i] = 1;
    const BootstrapResult r = pairedBootstrapNdcgDiff(a, b, 10, 2000, 42);
    QVERIFY(std::abs(r.meanDiff) < kTol);
    QVERIFY(r.ciLow < 0.0 && r.ciHigh > 0.0);
    // The NDCG@1 of both runs is 0 everywhere (rank 1 is past K = 1): a degenerate interval.
    const BootstrapResult at1 = pairedBootstrapNdcgDiff(a, b, 1, 200, 42);
    QCOMPARE(at1.ciLow, 0.0);
    QCOMPARE(at1.ciHigh, 0.0);
}

void TestRankingMetrics::bootstrapConstantDifference()
{
    const std::vector<double> a{0.5, 0.7, 0.9}, b{0.25, 0.45, 0.65};
    const BootstrapResult r = pairedBootstrapMeanDiff(a, b, 100, 3);
    QVERIFY(std::abs(r.meanDiff - 0.25) < kTol);
    QVERIFY(std::abs(r.ciLow - 0.25) < kTol);
    QVERIFY(std::abs(r.ciHigh - 0.25) < kTol);
}

void TestRankingMetrics::bootstrapDeterministic()
{
    Ranks a, b;
    for (int i = 0; i < 300; ++i) {
        a.push_back(i % 7 == 0 ? -1 : i % 5);
        b.push_back(i % 3 == 0 ? -1 : i % 9);
    }
    const BootstrapResult r1 = pairedBootstrapNdcgDiff(a, b, 10, 500, 123);
    const BootstrapResult r2 = pairedBootstrapNdcgDiff(a, b, 10, 500, 123);
    QCOMPARE(r1.meanDiff, r2.meanDiff);
    QCOMPARE(r1.ciLow, r2.ciLow);
    QCOMPARE(r1.ciHigh, r2.ciHigh);
    const BootstrapResult r3 = pairedBootstrapNdcgDiff(a, b, 10, 500, 124);
    QCOMPARE(r3.meanDiff, r1.meanDiff); // the observed difference does not depend on the seed
    QVERIFY(r3.ciLow != r1.ciLow || r3.ciHigh != r1.ciHigh);
}

QTEST_APPLESS_MAIN(TestRankingMetrics)
#include "tst_ranking_metrics.moc"
