// RunConfig: YAML round trip, every validation path, overrides, did-you-mean, line numbers.
#include "core/common/error.h"
#include "core/config/run_config_schema.h"
#include "core/config/run_config_validate.h"
#include "core/config/run_config_yaml.h"

#include <QtTest>

using namespace genrec::core;

namespace {
bool hasProblem(const std::vector<ConfigProblem> &ps, const std::string &path, const std::string &needle = {})
{
    for (const auto &p : ps)
        if (p.path == path && p.message.find(needle) != std::string::npos)
            return true;
    return false;
}
std::string dump(const std::vector<ConfigProblem> &ps)
{
    std::string out;
    for (const auto &p : ps)
        out += p.toString() + "\n";
    return out;
}
} // namespace

class TestConfig : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void defaultsAreValid()
    {
        const auto ps = validateRunConfig(RunConfig());
        QVERIFY2(ps.empty(), dump(ps).c_str());
    }

    void roundTripIsIdentical()
    {
        RunConfig c;
        c.runName = "my run: \"quoted\" #1";
        c.sft.train.learningRate = 1.25e-4;
        c.rl.rewardWeights = {1.0, 0.5};
        c.gpuIds = {0, 3};
        c.stages = {"sft", "eval"};
        c.loraTarget = {"q_proj", "v_proj"};
        c.rl.beta = 0.0;
        c.eval.lengthPenalty = -0.5;
        for (bool comments : {false, true}) {
            const std::string y1 = runConfigToYaml(c, comments);
            const auto r = parseRunConfigYaml(y1, "rt.yaml");
            QVERIFY2(r.problems.empty(), dump(r.problems).c_str());
            QVERIFY(diffConfigs(c, r.config).empty());
            QCOMPARE(runConfigToYaml(r.config, comments), y1);
        }
    }

    void everyFieldSurvivesYaml()
    {
        // Changing any single field must show up in the diff after a YAML round trip.
        for (const FieldSpec &f : runConfigSchema()) {
            RunConfig c;
            FieldValue v = f.get(c);
            std::visit(
                [&](auto &x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<T, bool>)
                        x = !x;
                    else if constexpr (std::is_same_v<T, int64_t>)
                        x = x + 3;
                    else if constexpr (std::is_same_v<T, double>)
                        x = x + 0.125;
                    else if constexpr (std::is_same_v<T, std::string>)
                        x = x + "x";
                    else if constexpr (std::is_same_v<T, std::vector<std::string>>)
                        x.push_back("y");
                    else
                        x.push_back(7);
                },
                v);
            f.set(c, v);
            const auto r = parseRunConfigYaml(runConfigToYaml(c, false), "f.yaml");
            QVERIFY2(r.problems.empty(), (f.key + ": " + dump(r.problems)).c_str());
            QVERIFY2(r.config.sft.train.learningRate == c.sft.train.learningRate, f.key.c_str());
            QVERIFY2(diffConfigs(r.config, RunConfig()) == std::vector<std::string>{f.key}, f.key.c_str());
        }
    }

    void unknownKeyGetsDidYouMean()
    {
        const auto r = parseRunConfigYaml("sft:\n  learnig_rate: 0.1\nlearning_rate: 0.2\n", "a.yaml");
        QCOMPARE(int(r.problems.size()), 2);
        QCOMPARE(r.problems[0].line, 2);
        QVERIFY(r.problems[0].hint.find("sft.learning_rate") != std::string::npos);
        QCOMPARE(r.problems[1].line, 3);
        QVERIFY(r.problems[1].hint.find("sft.learning_rate") != std::string::npos);
        QVERIFY(r.problems[1].toString().rfind("a.yaml:3: learning_rate: unknown key", 0) == 0);
    }

    void typeErrorsNameTheLine_data()
    {
        QTest::addColumn<QString>("yaml");
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("line");
        QTest::newRow("int") << "seed: 1.5\n" << "seed" << 1;
        QTest::newRow("bool") << "\nbf16: maybe\n" << "bf16" << 2;
        QTest::newRow("float") << "sft:\n  learning_rate: fast\n" << "sft.learning_rate" << 2;
        QTest::newRow("list") << "eval:\n  topk: {a: 1}\n" << "eval.topk" << 2;
        QTest::newRow("int list") << "gpu_ids: [0, x]\n" << "gpu_ids" << 1;
        QTest::newRow("section") << "sft: 3\n" << "sft" << 1;
    }
    void typeErrorsNameTheLine()
    {
        QFETCH(QString, yaml);
        QFETCH(QString, path);
        QFETCH(int, line);
        const auto r = parseRunConfigYaml(yaml.toStdString(), "t.yaml");
        QCOMPARE(int(r.problems.size()), 1);
        QCOMPARE(QString::fromStdString(r.problems[0].path), path);
        QCOMPARE(r.problems[0].line, line);
    }

    void syntaxError()
    {
        const auto r = parseRunConfigYaml("sft: [1\n", "s.yaml");
        QCOMPARE(int(r.problems.size()), 1);
        QVERIFY(r.problems[0].message.find("YAML syntax error") == 0);
        QVERIFY(r.problems[0].line >= 1);
        const auto top = parseRunConfigYaml("- a\n- b\n", "s.yaml");
        QCOMPARE(int(top.problems.size()), 1);
    }

    void validationPaths_data()
    {
        QTest::addColumn<QString>("override");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("needle");
        QTest::newRow("choice") << "finetuning_type=partial" << "finetuning_type" << "not one of";
        QTest::newRow("list choice") << "sft.tasks=[sid_seq2sid, magic]" << "sft.tasks" << "magic";
        QTest::newRow("list dup") << "stages=[sft, sft]" << "stages" << "twice";
        QTest::newRow("min") << "sft.per_device_train_batch_size=0" << "sft.per_device_train_batch_size" << ">=";
        QTest::newRow("max") << "lora_dropout=1.5" << "lora_dropout" << "<=";
        QTest::newRow("no stage") << "stages=[]" << "stages" << "no stage";
        QTest::newRow("order") << "stages=[rl, sft]" << "stages" << "order";
        QTest::newRow("empty model") << "model_name_or_path=\"\"" << "model_name_or_path" << "empty";
        QTest::newRow("preset") << "model_name_or_path=preset:huge" << "model_name_or_path" << "unknown preset";
        QTest::newRow("lora target") << "finetuning_type=lora" << "" << "";
        QTest::newRow("zero1") << "zero_stage=1" << "zero_stage" << "not offered";
        QTest::newRow("gpu on cpu") << "gpu_ids=[0]" << "gpu_ids" << "device is cpu";
        QTest::newRow("epochs") << "sft.num_train_epochs=0" << "sft.num_train_epochs" << "would not train";
        QTest::newRow("metric") << "sft.metric_for_best_model=accuracy" << "sft.metric_for_best_model" << "not a metric";
        QTest::newRow("weights") << "rl.reward_weights=[1.0]" << "rl.reward_weights" << "2 component";
        QTest::newRow("dyn") << "rl.dynamic_sampling=true" << "rl.dynamic_sampling" << "sampling";
        QTest::newRow("topk") << "eval.topk=[1, 100]" << "eval.topk" << "exceeds";
        QTest::newRow("topk0") << "eval.topk=[0]" << "eval.topk" << ">= 1";
        QTest::newRow("nan") << "rl.beta=.nan" << "rl.beta" << "finite";
        QTest::newRow("block") << "quantization_block_size=48" << "quantization_block_size" << "power of two";
    }
    void validationPaths()
    {
        QFETCH(QString, override);
        QFETCH(QString, path);
        QFETCH(QString, needle);
        RunConfig c;
        const auto op = applyOverride(c, override.toStdString());
        QVERIFY2(op.empty(), dump(op).c_str());
        const auto ps = validateRunConfig(c);
        if (path.isEmpty()) {
            QVERIFY2(ps.empty(), dump(ps).c_str()); // lora with default targets is fine
            return;
        }
        QVERIFY2(hasProblem(ps, path.toStdString(), needle.toStdString()), dump(ps).c_str());
        for (const auto &p : ps)
            QVERIFY(!p.hint.empty());
    }

    void loraNeedsTargets()
    {
        RunConfig c;
        c.finetuningType = "qlora";
        c.loraTarget.clear();
        c.quantizationBit = 6;
        const auto ps = validateRunConfig(c);
        QVERIFY(hasProblem(ps, "lora_target"));
        QVERIFY(hasProblem(ps, "quantization_bit", "4 or 8"));
    }

    void everyProblemAtOnce()
    {
        const std::string y = "sft:\n  optim: sgd\n  learnig_rate: 1\nstages: [rl, sft]\nseed: x\n";
        const auto r = checkRunConfigText(y, "m.yaml");
        QVERIFY2(r.problems.size() >= 4, dump(r.problems).c_str());
        QVERIFY(hasProblem(r.problems, "sft.optim"));
        QVERIFY(hasProblem(r.problems, "stages", "order"));
        for (const auto &p : r.problems)
            if (p.path == "sft.optim")
                QCOMPARE(p.line, 2);
        QVERIFY_THROWS_EXCEPTION(Error, loadRunConfig(y, "m.yaml"));
        try {
            loadRunConfig(y, "m.yaml");
        } catch (const Error &e) {
            QCOMPARE(e.exitCode(), kExitBadInput);
        }
    }

    void overrides()
    {
        RunConfig c;
        QVERIFY(applyOverride(c, "sft.learning_rate=1e-5").empty());
        QCOMPARE(c.sft.train.learningRate, 1e-5);
        QVERIFY(applyOverride(c, "stages=[sft]").empty());
        QCOMPARE(c.stages, std::vector<std::string>{"sft"});
        QVERIFY(applyOverride(c, "stages=eval").empty()); // a scalar is a one-element list
        QCOMPARE(c.stages, std::vector<std::string>{"eval"});
        QVERIFY(applyOverride(c, "run_name=").empty());
        QCOMPARE(c.runName, std::string());
        auto bad = applyOverride(c, "sft.learnin_rate=1");
        QCOMPARE(int(bad.size()), 1);
        QVERIFY(bad[0].hint.find("sft.learning_rate") != std::string::npos);
        QCOMPARE(int(applyOverride(c, "seed=abc").size()), 1);
        QCOMPARE(c.seed, int64_t(42));
        QCOMPARE(int(applyOverride(c, "no_equals").size()), 1);
        const auto loaded = loadRunConfig("seed: 1\n", "x.yaml", {"seed=9"});
        QCOMPARE(loaded.seed, int64_t(9));
    }

    void stageDefaultsDiffer()
    {
        RunConfig c;
        QCOMPARE(c.sft.train.learningRate, 3e-4);
        QCOMPARE(c.rl.train.learningRate, 1e-5);
        QCOMPARE(c.rl.train.optim, std::string("paged_adamw_32bit"));
        QCOMPARE(c.rl.train.maxGradNorm, 0.3);
        QCOMPARE(c.rl.train.lrSchedulerType, std::string("cosine"));
    }

    void initOutputIsCommentedAndComplete()
    {
        const std::string y = runConfigToYaml(RunConfig(), true);
        for (const FieldSpec &f : runConfigSchema()) {
            const auto dot = f.key.find('.');
            const std::string name = dot == std::string::npos ? f.key : f.key.substr(dot + 1);
            const auto pos = y.find("\n" + std::string(dot == std::string::npos ? "" : "  ") + name + ": ");
            QVERIFY2(pos != std::string::npos, f.key.c_str());
            const auto eol = y.find('\n', pos + 1);
            QVERIFY2(y.substr(pos, eol - pos).find("  # ") != std::string::npos, f.key.c_str());
        }
    }

    void suggestions()
    {
        QCOMPARE(suggestKeys("sft.lerning_rate").front(), std::string("sft.learning_rate"));
        QCOMPARE(suggestKeys("finetune_type").front(), std::string("finetuning_type"));
        QVERIFY(suggestKeys("completely_unrelated_thing_xyz").empty());
    }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "tst_config.moc"
