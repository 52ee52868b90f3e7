// GRPO: exact rewards (rule, ranking, collisions), group advantages, the loss terms, KL = 0 at
// the start, reward rises on a toy task, LoRA reference = base model, resume = uninterrupted.
#include "core/common/error.h"
#include "core/data/synth.h"
#include "core/store/run_store.h"
#include "training/engine/pipeline.h"
#include "training/engine/run_context.h"
#include "training/eval/evaluator.h"
#include "training/io/hf_folder_torch.h"
#include "training/rl/grpo_trainer.h"
#include "training/rl/rewards.h"

#include "tests/run_fixtures.h"

#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <map>

using namespace genrec;
using genrec::testing::makeData;
using genrec::testing::series;

namespace {

core::RunConfig rlConfig(const std::string &dir, int64_t maxSteps)
{
    core::RunConfig c;
    c.modelNameOrPath = "preset:tiny";
    c.datasetDir = dir + "/data";
    c.outputDir = dir + "/out";
    c.stages = {"rl"};
    c.numThreads = 1; // a tiny model: one thread beats two spinning on shared cores
    c.cutoffLen = 256;
    c.maxSamples = 8;
    auto &r = c.rl;
    r.tasks = {"sid_seq2sid"};
    r.maxPromptLength = 48; // the most recent history only: keeps the test fast
    r.numGenerations = 32; // = the catalogue: every group holds its target, so every step learns
    r.evalMaxSamples = 8;
    r.metricForBestModel = "ndcg@4";
    auto &t = r.train;
    t.maxSteps = maxSteps;
    t.perDeviceTrainBatchSize = 32; // 1 prompt x 32 generations per micro-step
    t.gradientAccumulationSteps = 2;
    t.learningRate = 3e-3;
    t.optim = "adamw_torch";
    t.warmupSteps = 0;
    t.warmupRatio = 0;
    t.lrSchedulerType = "constant";
    t.maxGradNorm = 1.0;
    t.evalSteps = 0;
    t.saveSteps = 0;
    c.eval.numBeams = 4;
    c.eval.topk = {1, 4};
    c.eval.perDeviceEvalBatchSize = 8;
    return c;
}

/// A RunContext over the store's run (setupRunContext done).
struct Harness
{
    core::RunStore store;
    train::RunContext ctx;
    Harness(const std::string &dir, const core::RunConfig &cfg) : store(dir + "/runs.db")
    {
        ctx.config = cfg;
        ctx.store = &store;
        ctx.runId = train::createTrainingRun(store, cfg, "");
        ctx.outputDir = cfg.outputDir;
        train::setupRunContext(ctx);
    }
};

double meanOf(const std::vector<double> &v, size_t from, size_t to)
{
    double s = 0;
    for (size_t i = from; i < to; ++i)
        s += v[i];
    return s / static_cast<double>(to - from);
}

} // namespace

class TestGrpo : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void rewardsExact()
    {
        const std::vector<std::string> sids = {"<a_1><b_1>", "<a_2><b_2>", "<a_3><b_3>", "<a_4><b_4>"};
        // rule: only the exact SID scores
        QVERIFY(train::ruleRewards(sids, "<a_3><b_3>") == (std::vector<double>{0, 0, 1, 0}));
        QVERIFY(train::ruleRewards(sids, "<a_3><b_4>") == (std::vector<double>{0, 0, 0, 0}));
        // ranking: S = 1 + 1/log2(3) + 1/2 + 1/log2(5); misses at rank k get -(1/log2(k+2))/S
        const double s = 1.0 + 1.0 / std::log2(3.0) + 0.5 + 1.0 / std::log2(5.0);
        const auto rk = train::rankingRewards(sids, "<a_3><b_3>");
        QCOMPARE(rk.size(), size_t(4));
        QVERIFY(std::abs(rk[0] - (-1.0 / s)) < 1e-15);
        QVERIFY(std::abs(rk[1] - (-1.0 / std::log2(3.0) / s)) < 1e-15);
        QCOMPARE(rk[2], 0.0);
        QVERIFY(std::abs(rk[3] - (-1.0 / std::log2(5.0) / s)) < 1e-15);
        QVERIFY(train::rankingRewards(sids, "<a_9><b_9>") == (std::vector<double>{0, 0, 0, 0})); // no hit: all 0
        // ranking = rule + penalty, weighted
        const auto g = train::computeGroupRewards("ranking", {2.0, 0.5}, sids, "<a_3><b_3>");
        QVERIFY(g.names == (std::vector<std::string>{"rule", "ranking"}));
        QVERIFY(std::abs(g.total[2] - 2.0) < 1e-15);
        QVERIFY(std::abs(g.total[0] - 0.5 * rk[0]) < 1e-15);
        QCOMPARE(train::computeGroupRewards("ranking_only", {}, sids, "<a_3><b_3>").names, std::vector<std::string>{"ranking"});
        QVERIFY_THROWS_EXCEPTION(core::Error, train::computeGroupRewards("ranking", {1.0}, sids, "x"));
        QVERIFY_THROWS_EXCEPTION(core::Error, train::rewardComponents("semantic"));

        // Spec §6.5 test vectors: G = 16, ranking, hit at rank 0.
        std::vector<std::string> g16;
        for (int i = 0; i < 16; ++i)
            g16.push_back("<s_" + std::to_string(i) + ">");
        const auto r16 = train::computeGroupRewards("ranking", {}, g16, "<s_0>");
        QCOMPARE(r16.total[0], 1.0);
        QVERIFY(std::abs(r16.total[1] - (-0.1033)) < 5e-5);
        QVERIFY(std::abs(r16.total[2] - (-0.0819)) < 5e-5);
        QVERIFY(std::abs(r16.total[15] - (-0.0401)) < 5e-5);
        const auto [mean, sd] = train::groupMeanStd(r16.total);
        QVERIFY(std::abs(mean - 0.01024) < 5e-6);
        QVERIFY(std::abs(sd - 0.26449) < 5e-6);
        const auto a16 = train::groupAdvantages(r16.total, true);
        QVERIFY(std::abs(a16[0] - 3.7407) < 5e-5);
        QVERIFY(std::abs(a16[1] - (-0.4292)) < 5e-5);
        QVERIFY(std::abs(a16[15] - (-0.1901)) < 5e-5);
        const auto rule16 = train::groupAdvantages(train::ruleRewards(g16, "<s_0>"), true);
        QVERIFY(std::abs(rule16[0] - 3.7485) < 5e-5);
        QVERIFY(std::abs(rule16[7] - (-0.2499)) < 5e-5);
    }

    void collisionsCountAsHits()
    {
        // Two items share a SID: the trie has one path for both, and generating it is a hit for
        // either target (calc.py semantics).
        core::Dataset ds;
        ds.name = "Office_Products";
        const std::vector<std::vector<std::string>> sid = {{"<a_1>", "<b_1>"}, {"<a_1>", "<b_2>"}, {"<a_1>", "<b_2>"}};
        for (int i = 0; i < 3; ++i) {
            core::Item it;
            it.id = i + 1;
            it.title = "Item " + std::to_string(i + 1);
            it.sidTokens = sid[static_cast<size_t>(i)];
            for (const auto &t : it.sidTokens)
                it.sid += t;
            ds.items.push_back(it);
        }
        ds.buildIndex();
        auto tok = train::BpeTokenizer::trainCompact({"Item 1", "Item 2"}, 20);
        tok.addTokens(ds.sidVocabulary());
        const auto trie = train::buildSidTrie(ds, tok);
        QCOMPARE(trie.numPaths(), size_t(2));
        std::vector<std::string> completions;
        for (const auto &e : trie.enumeratePaths())
            completions.push_back(ds.item(e.items.front())->sid);
        for (int64_t target : {2, 3}) {
            const auto r = train::ruleRewards(completions, ds.item(target)->sid);
            QCOMPARE(r[0] + r[1], 1.0);
            QCOMPARE(r[1], 1.0); // the shared path <a_1><b_2>
        }
        QCOMPARE(train::ruleRewards(completions, ds.item(1)->sid)[0], 1.0);
    }

    void advantagesAreGroupNormalised()
    {
        const std::vector<double> r = {1.0, 0.0, 0.0, 0.5};
        const auto [mean, sd] = train::groupMeanStd(r);
        QCOMPARE(mean, 0.375);
        QVERIFY(std::abs(sd - std::sqrt((0.390625 + 0.140625 * 2 + 0.015625) / 3.0)) < 1e-15); // unbiased
        const auto a = train::groupAdvantages(r, true);
        double sum = 0;
        for (size_t i = 0; i < r.size(); ++i) {
            QVERIFY(std::abs(a[i] - (r[i] - mean) / (sd + 1e-4)) < 1e-15);
            sum += a[i];
        }
        QVERIFY(std::abs(sum) < 1e-12);
        const auto dr = train::groupAdvantages(r, false); // dr_grpo: no std division
        for (size_t i = 0; i < r.size(); ++i)
            QCOMPARE(dr[i], r[i] - mean);
        for (bool scale : {true, false}) { // constant groups give exactly 0
            QVERIFY(train::groupAdvantages({0.0, 0.0, 0.0}, scale) == (std::vector<double>{0, 0, 0}));
            QVERIFY(train::groupAdvantages({-0.3, -0.3}, scale) == (std::vector<double>{0, 0}));
        }
    }

    void lossTerms()
    {
        // Two sequences of lengths 2 and 1 (L = 2).
        auto mask = torch::tensor({1.0f, 1.0f, 1.0f, 0.0f}).view({2, 2});
        auto logp = torch::tensor({-0.5f, -1.0f, -2.0f, 0.0f}).view({2, 2}).requires_grad_(true);
        auto adv = torch::tensor({1.0f, -2.0f});
        train::GrpoLossOptions o;
        o.beta = 0.1;
        o.stepSequences = 2;
        o.stepTokens = 3;
        o.maxCompletionTokens = 4;
        // policy = reference, ratio 1: KL 0, loss = -mean_seq(mean_tok A) = -(1 + -2)/2
        auto t = train::grpoLoss(logp, logp.detach(), logp.detach(), adv, mask, o);
        QCOMPARE(t.klSum, 0.0);
        QCOMPARE(t.clipped, 0.0);
        QCOMPARE(t.tokens, 3.0);
        QVERIFY(std::abs(t.loss.item<double>() - 0.5) < 1e-7);
        t.loss.backward(); // d/dlogp = -A / len / N
        auto gr = logp.grad();
        QVERIFY(std::abs(gr[0][0].item<double>() - (-0.25)) < 1e-7);
        QVERIFY(std::abs(gr[1][0].item<double>() - 1.0) < 1e-7);
        QCOMPARE(gr[1][1].item<double>(), 0.0);
        // k3 KL by hand: ref - logp = d → e^d - d - 1
        auto ref = torch::tensor({-0.7f, -1.0f, -1.0f, 0.0f}).view({2, 2});
        auto k = train::grpoLoss(logp.detach(), logp.detach(), ref, adv, mask, o);
        const double k0 = std::exp(-0.2) + 0.2 - 1.0, k2 = std::exp(1.0) - 2.0;
        QVERIFY(std::abs(k.klSum - (k0 / 2.0 + k2)) < 1e-6);
        // dapo: token mean over the step; dr_grpo: / (N * Lmax)
        o.lossType = "dapo";
        QVERIFY(std::abs(train::grpoLoss(logp.detach(), logp.detach(), {}, adv, mask, o).loss.item<double>() - (-(1 + 1 - 2) / 3.0)) < 1e-7);
        o.lossType = "dr_grpo";
        QVERIFY(std::abs(train::grpoLoss(logp.detach(), logp.detach(), {}, adv, mask, o).loss.item<double>() - 0.0) < 1e-7);
        // clipping: ratio e^0.5 > 1.2 with A > 0 is clipped, ratio e^-0.5 with A < 0 too
        o.lossType = "grpo";
        auto old = logp.detach() - torch::tensor({0.5f, 0.0f, -0.5f, 0.0f}).view({2, 2});
        auto c = train::grpoLoss(logp.detach(), old, {}, adv, mask, o);
        QCOMPARE(c.clipped, 2.0);
        o.lossType = "gspo";
        auto s = train::grpoLoss(logp.detach(), logp.detach(), {}, adv, mask, o);
        QVERIFY(std::abs(s.loss.item<double>() - 0.5) < 1e-7);
    }

    void klIsZeroWhenPolicyIsReference()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        auto cfg = rlConfig(dir, 4);
        cfg.rl.beta = 0.05;
        cfg.rl.train.learningRate = 1e-2;
        Harness h(dir, cfg);
        train::GrpoTrainer trainer(h.ctx);
        trainer.setup();
        std::vector<std::vector<int32_t>> prompts, completions;
        const auto trie = train::buildSidTrie(h.ctx.dataset, h.ctx.tokenizer);
        const auto paths = trie.enumeratePaths();
        for (size_t i = 0; i < 6; ++i) {
            prompts.push_back(trainer.prompts()[i % trainer.prompts().size()].ids);
            completions.push_back(paths[i * 3 % paths.size()].tokens);
        }
        const auto pol = trainer.policyLogProbs(prompts, completions);
        const auto ref = trainer.referenceLogProbs(prompts, completions);
        QVERIFY(pol == ref); // a frozen copy of the same weights: bit-identical
        const auto r = trainer.train();
        QCOMPARE(r.status, std::string("finished"));
        const auto kl = series(h.store, h.ctx.runId, "kl");
        QCOMPARE(kl.size(), size_t(4));
        QCOMPARE(kl.front(), 0.0); // first step: the policy is the reference
        QVERIFY(kl.back() > 0.0);  // after updates it is not
        const auto pol2 = trainer.policyLogProbs(prompts, completions);
        QVERIFY(pol2 != pol);
        QVERIFY(trainer.referenceLogProbs(prompts, completions) == ref); // the reference stayed frozen
        // the rollout table of the first step
        bool found = false;
        for (const auto &e : h.store.eventsSince(h.ctx.runId, 0))
            if (e.kind == "rollouts") {
                const auto j = nlohmann::json::parse(e.payloadJson);
                QCOMPARE(j.at("step").get<int64_t>(), int64_t(1));
                const auto &s0 = j.at("samples").at(0);
                QVERIFY(s0.at("target_sid").get<std::string>().rfind("<a_", 0) == 0);
                QVERIFY(s0.at("completions").size() >= size_t(16));
                QVERIFY(s0.at("completions").at(0).at("rewards").contains("rule"));
                QVERIFY(s0.at("completions").at(0).at("rewards").contains("ranking"));
                QVERIFY(s0.at("completions").at(0).contains("advantage"));
                found = true;
            }
        QVERIFY(found);
    }

    void rewardRisesOnToyTask()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp, 40, 32);
        auto cfg = rlConfig(dir, 50);
        cfg.maxSamples = 4;
        cfg.rl.beamSearch = false; // sampling: the mean reward is the target's probability mass
        cfg.rl.rewardType = "rule";
        cfg.rl.numGenerations = 8;
        cfg.rl.beta = 0.0;
        cfg.rl.train.perDeviceTrainBatchSize = 16;
        cfg.rl.train.gradientAccumulationSteps = 1;
        cfg.rl.train.learningRate = 3e-2;
        core::RunStore store(dir + "/runs.db");
        const auto id = train::createTrainingRun(store, cfg, "");
        const auto r = train::runPipeline(store, id, {}, false);
        QCOMPARE(r.status, std::string("finished"));
        const auto reward = series(store, id, "reward");
        QCOMPARE(reward.size(), size_t(50));
        const double first = meanOf(reward, 0, 5), last = meanOf(reward, 45, 50);
        qInfo("mean reward first 5 steps %.3f, last 5 steps %.3f", first, last);
        QVERIFY2(last > first + 0.2, ("reward " + std::to_string(first) + " -> " + std::to_string(last)).c_str());
        QVERIFY(series(store, id, "kl").empty()); // beta 0: no reference pass
        QCOMPARE(series(store, id, "entropy").size(), size_t(50));
        QVERIFY(std::filesystem::exists(dir + "/out/rl/final_checkpoint/model.safetensors"));
    }

    // add_gt: every group holds its target, so no group has a zero reward spread; without it,
    // an untrained model's 4 beams over 32 items mostly miss and many groups carry no signal.
    void addGtPutsTheTargetIntoEveryGroup()
    {
        std::map<bool, std::vector<double>> zeroStd;
        for (bool addGt : {false, true}) {
            QTemporaryDir tmp;
            const std::string dir = makeData(tmp, 40, 32);
            auto cfg = rlConfig(dir, 4);
            cfg.rl.rewardType = "rule";
            cfg.rl.addGt = addGt;
            cfg.rl.numGenerations = 4;
            cfg.rl.train.perDeviceTrainBatchSize = 16; // 4 prompts x 4 beams
            cfg.rl.train.gradientAccumulationSteps = 1;
            core::RunStore store(dir + "/runs.db");
            const auto id = train::createTrainingRun(store, cfg, "");
            QCOMPARE(train::runPipeline(store, id, {}, false).status, std::string("finished"));
            zeroStd[addGt] = series(store, id, "frac_reward_zero_std");
            QCOMPARE(zeroStd[addGt].size(), size_t(4));
            if (!addGt)
                continue;
            // The rollout table marks the completions that were put in.
            int added = 0, groups = 0;
            for (const auto &e : store.eventsSince(id, 0)) {
                if (e.kind != "rollouts")
                    continue;
                const auto payload = nlohmann::json::parse(e.payloadJson);
                for (const auto &smp : payload.at("samples")) {
                    ++groups;
                    bool hasTarget = false;
                    for (const auto &c : smp.at("completions")) {
                        added += c.at("ground_truth_added").get<bool>();
                        hasTarget = hasTarget || c.at("sid") == smp.at("target_sid");
                    }
                    QVERIFY(hasTarget);
                }
            }
            QVERIFY(groups > 0);
            QVERIFY(added > 0);
        }
        for (double v : zeroStd[true])
            QCOMPARE(v, 0.0);
        QVERIFY(meanOf(zeroStd[false], 0, 4) > 0.0);
    }

    void loraReferenceIsTheBaseModel()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        auto cfg = rlConfig(dir, 5);
        cfg.finetuningType = "lora";
        cfg.loraDropout = 0.0;
        cfg.rl.beta = 0.05;
        cfg.rl.train.learningRate = 2e-2;
        Harness h(dir, cfg);
        train::GrpoTrainer trainer(h.ctx);
        trainer.setup();
        std::vector<std::vector<int32_t>> prompts, completions;
        const auto paths = train::buildSidTrie(h.ctx.dataset, h.ctx.tokenizer).enumeratePaths();
        for (size_t i = 0; i < 6; ++i) {
            prompts.push_back(trainer.prompts()[i % trainer.prompts().size()].ids);
            completions.push_back(paths[i * 5 % paths.size()].tokens);
        }
        const auto base = trainer.policyLogProbs(prompts, completions); // B = 0: the base model
        QVERIFY(trainer.referenceLogProbs(prompts, completions) == base);
        QCOMPARE(trainer.train().status, std::string("finished"));
        const auto pol = trainer.policyLogProbs(prompts, completions);
        const auto ref = trainer.referenceLogProbs(prompts, completions);
        double moved = 0, diff = 0;
        for (size_t i = 0; i < base.size(); ++i)
            for (size_t j = 0; j < base[i].size(); ++j) {
                moved = std::max(moved, std::abs(pol[i][j] - base[i][j]));
                diff = std::max(diff, std::abs(ref[i][j] - base[i][j]));
            }
        qInfo("policy moved %.4g from the base, reference %.3g", moved, diff);
        QVERIFY(moved > 1e-3);   // adapters and new rows trained
        QCOMPARE(diff, 0.0);     // adapters off + row snapshot = the base, exactly
        QVERIFY(h.ctx.trainable.adaptersEnabled()); // restored after the reference pass
        QVERIFY(trainer.policyLogProbs(prompts, completions) == pol);
    }

    void resumeEqualsUninterrupted()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto make = [&](const std::string &out) {
            auto c = rlConfig(dir, 6);
            c.outputDir = dir + "/" + out;
            c.rl.rewardType = "ranking";
            c.rl.beta = 0.04;
            c.rl.syncRefModel = true;
            c.rl.refModelSyncSteps = 2; // the reference changes, so it must be checkpointed too
            c.rl.numIterations = 2;     // clipped ratio path
            c.rl.train.evalSteps = 3;
            c.rl.train.saveSteps = 3;
            c.rl.train.lrSchedulerType = "cosine";
            return c;
        };
        const auto a = train::createTrainingRun(store, make("a"), "");
        QCOMPARE(train::runPipeline(store, a, {}, false).status, std::string("finished"));
        const auto b = train::createTrainingRun(store, make("b"), "");
        int64_t seen = 0;
        train::EngineHooks hooks;
        hooks.onProgress = [&](const train::StageProgress &p) { seen = p.step; };
        hooks.stopRequested = [&] { return seen >= 2; };
        const auto stopped = train::runPipeline(store, b, hooks, false);
        QCOMPARE(stopped.status, std::string("stopped"));
        QCOMPARE(stopped.exitCode, 130);
        QCOMPARE(series(store, b, "loss").size(), size_t(2));
        QCOMPARE(train::runPipeline(store, b, {}, true).status, std::string("finished"));
        for (const char *key : {"loss", "reward", "kl", "grad_norm", "eval_ndcg@4"}) {
            const auto sa = series(store, a, key), sb = series(store, b, key);
            QVERIFY2(!sa.empty() && sa == sb, key); // bit-identical
        }
        const auto wa = train::loadSafetensors(dir + "/a/rl/final_checkpoint/model.safetensors");
        const auto wb = train::loadSafetensors(dir + "/b/rl/final_checkpoint/model.safetensors");
        QCOMPARE(wa.size(), wb.size());
        for (const auto &[k, v] : wa)
            QVERIFY2(torch::equal(v, wb.at(k)), k.c_str());
        // a rollouts event at each evaluation step (3, 6) and at step 1
        int rollouts = 0;
        for (const auto &e : store.eventsSince(a, 0))
            rollouts += e.kind == "rollouts";
        QCOMPARE(rollouts, 3);
    }
};

QTEST_GUILESS_MAIN(TestGrpo)
#include "tst_grpo.moc"
