// SFT: prompt goldens (fixed / compat), label masking, memorisation, resume equality, stop, NaN.
#include "core/common/error.h"
#include "core/config/run_config_yaml.h"
#include "core/data/synth.h"
#include "core/store/run_store.h"
#include "training/engine/pipeline.h"
#include "training/eval/evaluator.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/model_loading.h"
#include "training/sft/prompts.h"
#include "training/sft/sft_data.h"
#include "training/sft/sft_trainer.h"

#include "tests/run_fixtures.h"

#include <QtTest/QtTest>

#include <set>

#include <filesystem>

using namespace genrec;
using genrec::testing::makeData;
using genrec::testing::series;

namespace {

core::Dataset tinyDataset()
{
    core::Dataset ds;
    ds.name = "Office_Products";
    for (int i = 1; i <= 3; ++i) {
        core::Item it;
        it.id = i;
        it.title = "Pen " + std::to_string(i);
        it.sidTokens = {"<a_" + std::to_string(i) + ">", "<b_0>", "<c_" + std::to_string(i * 2) + ">"};
        for (const auto &t : it.sidTokens)
            it.sid += t;
        ds.items.push_back(it);
    }
    ds.train.push_back(core::Sample{"u1", {1, 2}, 3, 2});
    ds.buildIndex();
    return ds;
}

const char *const kPre = "Below is an instruction that describes a task, paired with an input that provides further "
                         "context. Write a response that appropriately completes the request. \n\n### Instruction:\n";

core::RunConfig tinyConfig(const std::string &dir, int64_t maxSteps)
{
    core::RunConfig c;
    c.modelNameOrPath = "preset:tiny";
    c.datasetDir = dir + "/data";
    c.outputDir = dir + "/out";
    c.stages = {"sft"};
    c.numThreads = 2;
    c.cutoffLen = 256;
    c.sft.tasks = {"sid_seq2sid"};
    c.sft.evalMaxSamples = 16;
    c.eval.numBeams = 10; // valid HR/NDCG at each evaluation, kept cheap
    c.eval.topk = {1, 5, 10};
    c.sft.earlyStoppingPatience = 0;
    auto &t = c.sft.train;
    t.maxSteps = maxSteps;
    t.perDeviceTrainBatchSize = 8;
    t.perDeviceEvalBatchSize = 16;
    t.gradientAccumulationSteps = 2;
    t.learningRate = 3e-3;
    t.warmupSteps = 5;
    t.lrSchedulerType = "cosine";
    t.evalSteps = 10;
    t.saveSteps = 10;
    t.saveTotalLimit = 2;
    return c;
}

} // namespace

class TestSft : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void promptGoldensFixed()
    {
        const auto ds = tinyDataset();
        const auto ex = train::buildSftExamples(ds, "train", {"sid_seq2sid", "title2sid", "sid2title"},
                                                train::PromptTemplate::Fixed, "office products", 1);
        QCOMPARE(ex.size(), size_t(1 + 3 + 3));
        QCOMPARE(ex[0].preamble, std::string(kPre) + "Can you predict the next possible item that the user may expect?\n\n");
        QCOMPARE(ex[0].user, std::string("### User Input: \nThe user has interacted with items <a_1><b_0><c_2>, <a_2><b_0><c_4> "
                                         "in chronological order. Can you predict the next possible item that the user may expect?"
                                         "\n\n### Response:\n"));
        QCOMPARE(ex[0].response, std::string("<a_3><b_0><c_6>\n"));
        QCOMPARE(ex[1].user, std::string("### User Input: \nWhich item has the title: Pen 1?\n\n### Response:\n"));
        QCOMPARE(ex[1].response, std::string("<a_1><b_0><c_2>\n"));
        QCOMPARE(ex[4].user, std::string("### User Input: \nWhat is the title of item \"<a_1><b_0><c_2>\"?\n\n### Response:\n"));
        for (const auto &e : ex) // B2 fixed: no prompt ends with (or contains) its answer
            QVERIFY(e.user.find(e.response) == std::string::npos);
        // B3: one next-SID wording
        const auto shared = train::nextSidPrompt(train::PromptTemplate::Fixed, {"<a_1><b_0><c_2>", "<a_2><b_0><c_4>"});
        QCOMPARE(shared.user, ex[0].user);
        QCOMPARE(shared.preamble, ex[0].preamble);
    }

    void promptGoldensCompat()
    {
        const auto ds = tinyDataset();
        const auto ex = train::buildSftExamples(ds, "train", {"title2sid", "title_seq2title", "title_seq2sid", "sid_seq2title"},
                                                train::PromptTemplate::Compat, "office products", 1);
        QCOMPARE(ex.size(), size_t(3 + 1 + 1 + 1));
        // bug B2 reproduced: the answer follows "### Response:\n" in the prompt
        QCOMPARE(ex[0].user, std::string("### User Input: \nWhich item has the title: Pen 1?\n\n### Response:\n<a_1><b_0><c_2>\n"));
        QCOMPARE(ex[3].user, std::string("### User Input: \nThe user has palyed the following office productss before: "
                                         "\"Pen 1\",\t\"Pen 2\"\n\n### Response:\n"));
        QCOMPARE(ex[3].response, std::string("\"Pen 3\"\n"));
        QVERIFY(ex[3].preamble.rfind(kPre, 0) == 0);
        QVERIFY(ex[3].preamble.size() > 4 && ex[3].preamble.substr(ex[3].preamble.size() - 3) == "\n \n");
        QCOMPARE(ex[4].user, std::string("### User Input: \nThe user has interacted with the following office products items in "
                                         "chronological order: \"Pen 1\", \"Pen 2\". Can you predict the next item the user may expect?"
                                         "\n\n### Response:\n"));
        QCOMPARE(ex[5].preamble, std::string(kPre) + "Can you recommend the next item for the user based on their interaction history?\n\n");
        QCOMPARE(ex[5].user, std::string("### User Input: \nThe user has sequentially interacted with items <a_1><b_0><c_2>, <a_2><b_0><c_4>. "
                                         "Can you recommend the next item for him? Tell me the title of the item\n\n### Response:\n"));
        QCOMPARE(ex[5].response, std::string("Pen 3\n"));
    }

    void promptGoldensCompact()
    {
        const auto ds = tinyDataset();
        const auto ex = train::buildSftExamples(ds, "train", {"sid_seq2sid", "title2sid", "sid2title", "title_seq2sid"},
                                                train::PromptTemplate::Compact, "office products", 1);
        QCOMPARE(ex.size(), size_t(1 + 3 + 3 + 1));
        QCOMPARE(ex[0].preamble, std::string());
        QCOMPARE(ex[0].user, std::string("sid_seq2sid: <a_1><b_0><c_2><a_2><b_0><c_4>\n"));
        QCOMPARE(ex[0].response, std::string("<a_3><b_0><c_6>\n"));
        QCOMPARE(ex[1].user, std::string("title2sid: Pen 1\n"));
        QCOMPARE(ex[1].response, std::string("<a_1><b_0><c_2>\n"));
        QCOMPARE(ex[4].user, std::string("sid2title: <a_1><b_0><c_2>\n"));
        QCOMPARE(ex[4].response, std::string("Pen 1\n"));
        QCOMPARE(ex[7].user, std::string("title_seq2sid: Pen 1 | Pen 2\n"));
        // evaluation and RL use the same next-SID prompt as SFT
        const auto parts = train::nextSidPromptParts({"<a_1><b_0><c_2>", "<a_2><b_0><c_4>"}, train::PromptTemplate::Compact);
        QCOMPARE(parts.first, ex[0].preamble);
        QCOMPARE(parts.second, ex[0].user);
    }

    void maskingAndTruncation()
    {
        const auto ds = tinyDataset();
        auto tok = train::BpeTokenizer::trainCompact(train::compactTokenizerCorpus(ds, "office products"), 200);
        tok.addTokens(ds.sidVocabulary());
        const auto ex = train::buildSftExamples(ds, "train", {"sid_seq2sid"}, train::PromptTemplate::Fixed, "x", 1)[0];
        const auto t = train::tokenizeExample(tok, ex, 0);
        const auto promptLen = tok.encode(ex.preamble).size() + tok.encode(ex.user).size();
        QCOMPARE(t.inputIds.size(), promptLen + 5); // <a><b><c> "\n" EOS
        for (size_t i = 0; i < t.labels.size(); ++i)
            QCOMPARE(t.labels[i], static_cast<int32_t>(i < promptLen ? train::kIgnoreLabel : t.inputIds[i]));
        QCOMPARE(t.inputIds.back(), tok.eosTokenId());
        QCOMPARE(t.inputIds[t.inputIds.size() - 2], tok.encode("\n").at(0));
        QCOMPARE(t.inputIds[promptLen], tok.tokenToId("<a_3>"));
        const auto cut = train::tokenizeExample(tok, ex, 7); // left truncation keeps the end
        QCOMPARE(cut.inputIds.size(), size_t(7));
        QVERIFY(std::equal(cut.inputIds.begin(), cut.inputIds.end(), t.inputIds.end() - 7));
        QCOMPARE(cut.labels[0], train::kIgnoreLabel);
        QCOMPARE(cut.labels[2], t.inputIds[t.inputIds.size() - 5]);
    }

    void schedule()
    {
        QCOMPARE(train::lrMultiplier("linear", 0, 100, 10), 0.0);
        QCOMPARE(train::lrMultiplier("linear", 5, 100, 10), 0.5);
        QCOMPARE(train::lrMultiplier("linear", 10, 100, 10), 1.0);
        QCOMPARE(train::lrMultiplier("linear", 55, 100, 10), 0.5);
        QCOMPARE(train::lrMultiplier("constant", 90, 100, 10), 1.0);
        QVERIFY(std::abs(train::lrMultiplier("cosine", 55, 100, 10) - 0.5) < 1e-12);
        QCOMPARE(train::resolveInterval(0.05, 1490), int64_t(75));
        QCOMPARE(train::resolveInterval(20, 1490), int64_t(20));
    }

    void memorisesTinySet()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        auto cfg = tinyConfig(dir, 150);
        cfg.maxSamples = 16;
        cfg.sft.train.gradientAccumulationSteps = 1;
        cfg.sft.train.evalSteps = 0;
        cfg.sft.train.saveSteps = 0;
        core::RunStore store(dir + "/runs.db");
        const auto id = train::createTrainingRun(store, cfg, "");
        const auto r = train::runPipeline(store, id, {}, false);
        QCOMPARE(r.status, std::string("finished"));
        const auto loss = series(store, id, "loss");
        QCOMPARE(loss.size(), size_t(150));
        qInfo("loss %f -> %f", loss.front(), loss.back());
        QVERIFY(loss.back() < 0.1);
        QCOMPARE(store.getRun(id)->status, std::string("finished"));
        QVERIFY(std::filesystem::exists(dir + "/out/sft/final_checkpoint/model.safetensors"));
        QVERIFY(std::filesystem::exists(dir + "/out/sid_tokens.json"));

        // HR@1 = 1 on the memorised rows: the final checkpoint ranks every target first.
        const std::string finalDir = dir + "/out/sft/final_checkpoint";
        auto model = train::loadCausalLm(finalDir);
        const auto tok = train::BpeTokenizer::load(finalDir);
        core::Dataset ds = core::loadDataset(dir + "/data", cfg.dataset);
        const auto kept = train::buildSftExamples(ds, "train", {"sid_seq2sid"}, train::PromptTemplate::Fixed,
                                                  ds.categoryPhrase(), static_cast<uint64_t>(cfg.seed), cfg.maxSamples);
        std::vector<core::Sample> rows; // the 16 trained rows, recovered by their prompt text
        for (const auto &s : ds.train)
            for (const auto &e : kept) {
                std::vector<std::string> hist;
                for (auto id : s.history)
                    hist.push_back(ds.item(id)->sid);
                const auto p = train::nextSidPrompt(train::PromptTemplate::Fixed, hist, ds.item(s.target)->sid);
                if (p.user == e.user && p.response == e.response) {
                    rows.push_back(s);
                    break;
                }
            }
        QVERIFY(rows.size() >= 16); // a row repeated in the split matches twice
        ds.test = rows;
        train::Evaluator ev(*model, tok, ds);
        train::EvalOptions eo;
        eo.numBeams = 5;
        eo.ks = {1, 5};
        const auto rep = ev.evaluate(eo);
        qInfo("memorised rows: hr@1 %f", rep.metrics.at("hr@1"));
        QCOMPARE(rep.metrics.at("hr@1"), 1.0);
    }

    void nonFiniteLossStopsAndKeepsLastGoodCheckpoint()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto cfg = tinyConfig(dir, 20);
        cfg.sft.train.evalSteps = 0;
        cfg.sft.train.saveSteps = 5;
        cfg.sft.train.saveTotalLimit = 5;
        const auto id = train::createTrainingRun(store, cfg, "");
        train::RunContext ctx;
        ctx.config = cfg;
        ctx.store = &store;
        ctx.runId = id;
        ctx.outputDir = cfg.outputDir;
        train::setupRunContext(ctx);
        // A numerical blow-up after step 6 (as a diverging run produces): the final norm's weight
        // turns NaN, so step 7's loss is NaN.
        ctx.hooks.onProgress = [&](const train::StageProgress &p) {
            if (p.step == 6) {
                torch::NoGradGuard g;
                ctx.model->model->norm->weight.fill_(std::numeric_limits<float>::quiet_NaN());
            }
        };
        train::SftTrainer trainer(ctx);
        trainer.setup();
        bool threw = false;
        try {
            trainer.train();
        } catch (const core::Error &e) {
            threw = true;
            qInfo("%s", e.what());
            QVERIFY(std::string(e.what()).find("non-finite loss") != std::string::npos);
            QVERIFY(std::string(e.what()).find("step 7") != std::string::npos);
        }
        QVERIFY(threw);
        // the last checkpoint (step 5) holds finite weights and is still the newest one
        const std::string last = train::latestCheckpoint(store, id, "sft");
        QVERIFY(last.find("sft-step5") != std::string::npos);
        for (const auto &[name, t] : train::loadSafetensors(last + "/model.safetensors"))
            QVERIFY2(torch::isfinite(t).all().item<bool>(), name.c_str());
    }

    void resumeEqualsUninterrupted()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto cfgA = tinyConfig(dir, 20);
        cfgA.outputDir = dir + "/a";
        const auto a = train::createTrainingRun(store, cfgA, "");
        QCOMPARE(train::runPipeline(store, a, {}, false).status, std::string("finished"));

        auto cfgB = tinyConfig(dir, 20);
        cfgB.outputDir = dir + "/b";
        const auto b = train::createTrainingRun(store, cfgB, "");
        int64_t seen = 0;
        train::EngineHooks hooks;
        hooks.onProgress = [&](const train::StageProgress &p) { seen = p.step; };
        hooks.stopRequested = [&] { return seen >= 10; };
        const auto stopped = train::runPipeline(store, b, hooks, false);
        QCOMPARE(stopped.status, std::string("stopped"));
        QCOMPARE(stopped.exitCode, 130);
        QCOMPARE(store.getRun(b)->status, std::string("stopped"));
        QCOMPARE(series(store, b, "loss").size(), size_t(10));
        const auto resumed = train::runPipeline(store, b, {}, true);
        QCOMPARE(resumed.status, std::string("finished"));
        const auto la = series(store, a, "loss"), lb = series(store, b, "loss");
        QCOMPARE(la.size(), size_t(20));
        QCOMPARE(lb.size(), size_t(20));
        for (size_t i = 0; i < la.size(); ++i)
            QVERIFY(lb[i] == la[i]); // bit-identical
        QVERIFY(series(store, b, "eval_loss") == series(store, a, "eval_loss"));
        QVERIFY(la.back() < la.front());
    }

    // save_total_limit: the newest and the best checkpoints stay, folders and store rows agree,
    // and no staging folder is left behind.
    void checkpointFoldersMatchTheStore()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto cfg = tinyConfig(dir, 20);
        cfg.sft.train.saveSteps = 4;
        cfg.sft.train.evalSteps = 4;
        cfg.sft.train.saveTotalLimit = 2;
        const auto id = train::createTrainingRun(store, cfg, "");
        QCOMPARE(train::runPipeline(store, id, {}, false).status, std::string("finished"));
        const auto rows = store.checkpoints(id);
        std::set<std::string> inStore, onDisk;
        int best = 0;
        int64_t newest = -1;
        for (const auto &c : rows) {
            inStore.insert(std::filesystem::path(c.path).filename().string());
            best += c.isBest;
            newest = std::max(newest, c.step);
            QVERIFY2(std::filesystem::exists(std::filesystem::path(c.path) / "trainer_state.json"), c.path.c_str());
        }
        for (const auto &e : std::filesystem::directory_iterator(dir + "/out/checkpoints"))
            onDisk.insert(e.path().filename().string());
        QCOMPARE(onDisk, inStore); // no .tmp-* folder, no orphan
        QCOMPARE(best, 1);
        QCOMPARE(newest, int64_t(20));
        QVERIFY(rows.size() == 2 || rows.size() == 3); // limit 2 non-best + the best
        QVERIFY(inStore.count("sft-step20"));
    }

    void stopRequestFromStore()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        const auto id = train::createTrainingRun(store, tinyConfig(dir, 20), "");
        train::EngineHooks hooks; // as `genrec runs stop` does from another process, mid-run
        hooks.onProgress = [&](const train::StageProgress &p) {
            if (p.step == 1)
                store.requestStop(id);
        };
        const auto r = train::runPipeline(store, id, hooks, false);
        QCOMPARE(r.status, std::string("stopped"));
        QCOMPARE(series(store, id, "loss").size(), size_t(1));
        QCOMPARE(store.checkpoints(id).size(), size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestSft)
#include "tst_sft.moc"
