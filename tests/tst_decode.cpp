// Constrained beam search, sampling, teacher forcing and the evaluator on a tiny random model.
#include "core/data/dataset.h"
#include "core/eval/sid_trie.h"
#include "training/decode/beam_search.h"
#include "training/eval/evaluator.h"
#include "training/model/qwen2.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <set>

using namespace genrec;
using namespace genrec::train;

namespace {

ModelConfig tinyConfig(int64_t vocab)
{
    ModelConfig c;
    c.architecture = Architecture::Qwen2;
    c.vocabSize = vocab;
    c.hiddenSize = 32;
    c.intermediateSize = 64;
    c.numHiddenLayers = 2;
    c.numAttentionHeads = 4;
    c.numKeyValueHeads = 2;
    c.headDim = 8;
    c.attentionBias = true;
    c.tieWordEmbeddings = false;
    return c;
}

Qwen2ForCausalLM tinyModel(int64_t vocab, uint64_t seed)
{
    torch::manual_seed(seed);
    Qwen2ForCausalLM m = makeQwen2(tinyConfig(vocab));
    m->initParameters(0.4); // large weights: well separated scores, no near-ties
    m->eval();
    return m;
}

// Token ids: 0-9 prompt words, 5 = "\n", 6 = EOS, 10-29 SID tokens.
constexpr int32_t kNl = 5, kEos = 6;
std::vector<core::SidTriePath> catalogue()
{
    std::vector<std::vector<int32_t>> sids = {
        {10, 15, 20}, {10, 15, 21}, {10, 16, 20}, {11, 15, 22}, {11, 17, 23},
        {12, 18, 24}, {12, 18, 25}, {10, 15, 20}, // item 7 collides with item 0
        {12, 18, 24, 29},                         // a 4-token SID
        {13, 19, 26}};
    std::vector<core::SidTriePath> paths;
    for (size_t i = 0; i < sids.size(); ++i) {
        auto p = sids[i];
        p.push_back(kNl);
        p.push_back(kEos);
        paths.emplace_back(static_cast<int64_t>(i), p);
    }
    return paths;
}

std::vector<std::vector<int32_t>> prompts()
{
    return {{1, 2, 3}, {4, 3, 2, 1, 0, 7, 8}, {9}, {2, 2, 8, 1, 3}};
}

struct Scored
{
    std::vector<int32_t> tokens;
    double logProb;
};

// Brute force: every trie path scored by one uncached forward pass over prompt + path.
std::vector<Scored> bruteForce(Qwen2ForCausalLMImpl &model, const core::SidTrie &trie,
                               const std::vector<int32_t> &prompt, Normalisation norm)
{
    torch::NoGradGuard ng;
    std::vector<Scored> out;
    for (const auto &e : trie.enumeratePaths()) {
        std::vector<int64_t> seq(prompt.begin(), prompt.end());
        seq.insert(seq.end(), e.tokens.begin(), e.tokens.end());
        auto ids = torch::tensor(seq, torch::kLong).view({1, -1});
        auto logits = model.logits(model.forward(ids)).to(torch::kDouble)[0]; // [T, V]
        double s = 0.0;
        int32_t node = trie.root();
        for (size_t j = 0; j < e.tokens.size(); ++j) {
            auto row = logits[static_cast<int64_t>(prompt.size() + j - 1)];
            if (norm == Normalisation::FullVocab) {
                s += torch::log_softmax(row, 0)[e.tokens[j]].item<double>();
            } else {
                const auto allowed = trie.allowedTokens(node);
                std::vector<int64_t> a(allowed.begin(), allowed.end());
                auto sub = row.index_select(0, torch::tensor(a, torch::kLong));
                const auto pos = std::find(a.begin(), a.end(), e.tokens[j]) - a.begin();
                s += torch::log_softmax(sub, 0)[pos].item<double>();
            }
            node = trie.child(node, e.tokens[j]);
        }
        out.push_back({e.tokens, s});
    }
    std::sort(out.begin(), out.end(), [](const Scored &a, const Scored &b) { return a.logProb > b.logProb; });
    return out;
}

} // namespace

class TestDecode : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void beamSearchEqualsBruteForce_data()
    {
        QTest::addColumn<bool>("constrained");
        QTest::newRow("full-vocab") << false;
        QTest::newRow("constrained") << true;
    }

    void beamSearchEqualsBruteForce()
    {
        QFETCH(bool, constrained);
        const Normalisation norm = constrained ? Normalisation::Constrained : Normalisation::FullVocab;
        auto model = tinyModel(40, 1);
        const auto trie = core::SidTrie::build(catalogue());
        QCOMPARE(trie.numPaths(), size_t{9});
        BeamSearchOptions o;
        o.numBeams = 12; // >= every level's prefix count: the search is exhaustive
        o.normalisation = norm;
        const auto ps = prompts();
        const auto res = constrainedBeamSearch(*model, trie, ps, o);
        QCOMPARE(res.size(), ps.size());
        for (size_t p = 0; p < ps.size(); ++p) {
            const auto bf = bruteForce(*model, trie, ps[p], norm);
            QCOMPARE(res[p].size(), bf.size());
            std::set<std::vector<int32_t>> seen;
            for (size_t k = 0; k < bf.size(); ++k) {
                const Hypothesis &h = res[p][k];
                QVERIFY(trie.findPath(h.tokens) >= 0);
                QVERIFY(seen.insert(h.tokens).second);
                QCOMPARE(h.items, trie.itemsAt(trie.findPath(h.tokens)));
                QCOMPARE(h.tokens, bf[k].tokens);
                QVERIFY2(std::abs(h.logProb - bf[k].logProb) < 1e-4,
                         (std::to_string(h.logProb) + " vs " + std::to_string(bf[k].logProb)).c_str());
                if (k > 0)
                    QVERIFY(res[p][k - 1].score >= h.score);
            }
        }
        // The collision: one path, two items.
        bool sawCollision = false;
        for (const auto &h : res[0])
            sawCollision |= h.items == std::vector<int64_t>{0, 7};
        QVERIFY(sawCollision);
    }

    void fewBeamsStayValidDistinctSorted()
    {
        auto model = tinyModel(40, 2);
        const auto trie = core::SidTrie::build(catalogue());
        BeamSearchOptions o;
        o.numBeams = 3;
        const auto res = constrainedBeamSearch(*model, trie, prompts(), o);
        for (const auto &list : res) {
            QCOMPARE(list.size(), size_t{3});
            std::set<std::vector<int32_t>> seen;
            for (size_t k = 0; k < list.size(); ++k) {
                QVERIFY(trie.findPath(list[k].tokens) >= 0);
                QVERIFY(seen.insert(list[k].tokens).second);
                if (k)
                    QVERIFY(list[k - 1].score >= list[k].score);
            }
        }
        o.numReturn = 1;
        o.lengthPenalty = 1.0;
        const auto one = constrainedBeamSearch(*model, trie, prompts(), o);
        for (const auto &list : one) {
            QCOMPARE(list.size(), size_t{1});
            QCOMPARE(list[0].score, list[0].logProb / static_cast<double>(list[0].tokens.size()));
        }
    }

    void batchedEqualsPerPrompt()
    {
        auto model = tinyModel(40, 3);
        const auto trie = core::SidTrie::build(catalogue());
        BeamSearchOptions o;
        o.numBeams = 4;
        const auto ps = prompts();
        const auto batched = constrainedBeamSearch(*model, trie, ps, o);
        for (size_t p = 0; p < ps.size(); ++p) {
            const auto single = constrainedBeamSearch(*model, trie, {ps[p]}, o);
            QCOMPARE(single[0].size(), batched[p].size());
            for (size_t k = 0; k < single[0].size(); ++k) {
                QCOMPARE(single[0][k].tokens, batched[p][k].tokens);
                QVERIFY(std::abs(single[0][k].logProb - batched[p][k].logProb) < 1e-4);
            }
        }
    }

    void teacherForcingMatchesBeamScores()
    {
        auto model = tinyModel(40, 4);
        const auto trie = core::SidTrie::build(catalogue());
        const auto ps = prompts();
        for (Normalisation norm : {Normalisation::FullVocab, Normalisation::Constrained}) {
            BeamSearchOptions o;
            o.numBeams = 5;
            o.normalisation = norm;
            const auto res = constrainedBeamSearch(*model, trie, ps, o);
            std::vector<std::vector<int32_t>> pp, cc;
            for (size_t p = 0; p < ps.size(); ++p)
                for (const auto &h : res[p])
                    pp.push_back(ps[p]), cc.push_back(h.tokens);
            const auto lp = teacherForcedLogProbs(*model, pp, cc, norm, &trie);
            size_t i = 0;
            for (size_t p = 0; p < ps.size(); ++p)
                for (const auto &h : res[p]) {
                    QCOMPARE(lp[i].size(), h.tokens.size());
                    double s = 0.0;
                    for (double v : lp[i])
                        s += v;
                    QVERIFY(std::abs(s - h.logProb) < 1e-4);
                    ++i;
                }
        }
    }

    void samplingYieldsValidItems()
    {
        auto model = tinyModel(40, 5);
        const auto trie = core::SidTrie::build(catalogue());
        SampleOptions o;
        o.numSamples = 16;
        o.temperature = 1.5;
        o.seed = 7;
        const auto a = constrainedSample(*model, trie, prompts(), o);
        const auto b = constrainedSample(*model, trie, prompts(), o);
        QCOMPARE(a.size(), prompts().size());
        std::set<std::vector<int32_t>> distinct;
        for (size_t p = 0; p < a.size(); ++p) {
            QCOMPARE(a[p].size(), size_t{16});
            for (size_t k = 0; k < a[p].size(); ++k) {
                const int32_t node = trie.findPath(a[p][k].tokens);
                QVERIFY(node >= 0);
                QCOMPARE(a[p][k].items, trie.itemsAt(node));
                QVERIFY(a[p][k].logProb < 0.0);
                QCOMPARE(a[p][k].tokens, b[p][k].tokens); // same seed, same samples
                distinct.insert(a[p][k].tokens);
            }
        }
        QVERIFY(distinct.size() > 1);
        // top-k = 1 is greedy within the trie: every sample of a prompt is the same path.
        o.topK = 1;
        const auto g = constrainedSample(*model, trie, prompts(), o);
        for (const auto &list : g)
            for (const auto &h : list)
                QCOMPARE(h.tokens, list.front().tokens);
    }

    void evaluatorMetricsMatchHandComputed()
    {
        // Tokenizer: bytes + specials, SID tokens added.
        BpeTokenizer tok = BpeTokenizer::trainCompact({"hello world"}, 0);
        core::Dataset ds;
        ds.name = "tiny";
        const std::vector<std::vector<std::string>> sids = {
            {"<a_1>", "<b_1>", "<c_1>"}, {"<a_1>", "<b_1>", "<c_2>"}, {"<a_1>", "<b_2>", "<c_1>"},
            {"<a_2>", "<b_1>", "<c_1>"}, {"<a_1>", "<b_1>", "<c_1>"}, // item 4 collides with item 0
            {"<a_2>", "<b_2>", "<c_2>", "<d_1>"}};
        std::vector<std::string> vocab;
        for (size_t i = 0; i < sids.size(); ++i) {
            core::Item it;
            it.id = static_cast<int64_t>(i);
            it.title = "Item " + std::to_string(i);
            it.sidTokens = sids[i];
            for (const auto &s : sids[i])
                it.sid += s, vocab.push_back(s);
            ds.items.push_back(it);
        }
        std::sort(vocab.begin(), vocab.end());
        vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
        tok.addTokens(vocab);
        ds.test = {{"u0", {0, 1}, 2, 2}, {"u1", {3}, 4, 3}, {"u2", {5, 2, 1}, 0, 4},
                   {"u3", {1}, 5, 5}, {"u4", {2, 2}, 3, 6}};
        ds.buildIndex();
        auto model = tinyModel(tok.size(), 6);
        Evaluator ev(*model, tok, ds);
        QCOMPARE(ev.trie().numPaths(), size_t{5});
        EvalOptions o;
        o.numBeams = 5;
        o.ks = {1, 3, 5};
        o.batchSize = 2;
        int64_t lastDone = 0;
        const EvalReport rep = ev.evaluate(o, [&](int64_t done, int64_t total) {
            lastDone = done;
            return total == 5;
        });
        QVERIFY(!rep.cancelled);
        QCOMPARE(lastDone, int64_t{5});
        QCOMPARE(rep.numRows, int64_t{5});
        // Hand computation: rank = position of the target SID among all paths by brute force.
        std::vector<int32_t> expected;
        std::set<std::string> top1;
        for (const auto &s : ds.test) {
            std::vector<std::string> hist;
            for (int64_t id : s.history)
                hist.push_back(ds.item(id)->sid);
            const auto bf = bruteForce(*model, ev.trie(), encodeNextSidPrompt(tok, hist), Normalisation::FullVocab);
            int32_t rank = -1;
            for (size_t k = 0; k < bf.size() && rank < 0; ++k) {
                const auto &items = ev.trie().itemsAt(ev.trie().findPath(bf[k].tokens));
                if (std::count(items.begin(), items.end(), s.target)) // a shared SID credits all its items
                    rank = static_cast<int32_t>(k);
            }
            expected.push_back(rank);
            top1.insert(ds.item(ev.trie().itemsAt(ev.trie().findPath(bf[0].tokens)).front())->sid);
        }
        QCOMPARE(rep.ranks, expected);
        QCOMPARE(rep.userIds, (std::vector<std::string>{"u0", "u1", "u2", "u3", "u4"}));
        for (int k : {1, 3, 5}) {
            double hr = 0, ndcg = 0;
            for (int32_t r : expected)
                if (r >= 0 && r < k)
                    hr += 1, ndcg += 1.0 / std::log2(r + 2.0);
            QVERIFY(std::abs(rep.metrics.at("hr@" + std::to_string(k)) - hr / 5) < 1e-12);
            QVERIFY(std::abs(rep.metrics.at("ndcg@" + std::to_string(k)) - ndcg / 5) < 1e-12);
        }
        QCOMPARE(rep.metrics.at("hr@5"), 1.0); // every path is listed
        QCOMPARE(rep.metrics.at("coverage@5"), 1.0);
        QVERIFY(std::abs(rep.metrics.at("coverage@1") - static_cast<double>(top1.size()) / 5.0) < 1e-12);
        QCOMPARE(rep.metrics.at("level_acc@3"), rep.metrics.at("hr@1"));
        QCOMPARE(rep.examples.size(), size_t{3});
        QCOMPARE(rep.examples[0].historyTitles, (std::vector<std::string>{"Item 0", "Item 1"}));
        QCOMPARE(rep.examples[0].top.size(), size_t{5});

        // Cancelling after the first batch keeps the rows done.
        const EvalReport part = ev.evaluate(o, [](int64_t, int64_t) { return false; });
        QVERIFY(part.cancelled);
        QCOMPARE(part.numRows, int64_t{2});
    }
};

QTEST_GUILESS_MAIN(TestDecode)
#include "tst_decode.moc"
