// Fine-tuning methods (full / freeze / LoRA / QLoRA), blockwise quantisation, the AdamW
// optimisers and gradient checkpointing, on a tiny random Qwen2.
#include "core/common/error.h"
#include "training/finetune/finetune.h"
#include "training/finetune/quant.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"
#include "training/runtime/allocator.h"

#include <QtTest/QtTest>

#include <dlfcn.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace genrec::train;

namespace {

ModelConfig tinyConfig(bool tied)
{
    ModelConfig c;
    c.vocabSize = 64;
    c.hiddenSize = 32;
    c.intermediateSize = 64;
    c.numHiddenLayers = 2;
    c.numAttentionHeads = 4;
    c.numKeyValueHeads = 2;
    c.headDim = 8;
    c.tieWordEmbeddings = tied;
    c.attentionBias = true;
    return c;
}

Qwen2ForCausalLM tinyModel(bool tied, uint64_t seed = 1)
{
    torch::manual_seed(seed);
    auto m = makeQwen2(tinyConfig(tied));
    m->initParameters(0.1);
    return m;
}

const std::vector<int64_t> kNewIds = {60, 3, 50, 61};

torch::Tensor batchIds()
{
    return torch::tensor({{1, 60, 5, 50, 7, 3, 9, 61}, {2, 3, 61, 4, 60, 6, 50, 8}},
                         torch::kLong); // [2, 8]
}

torch::Tensor lossOf(Qwen2ForCausalLMImpl &m)
{
    const auto ids = batchIds();
    return causalLmLoss(m, m.forward(ids), ids);
}

std::map<std::string, torch::Tensor> snapshot(Qwen2ForCausalLMImpl &m)
{
    std::map<std::string, torch::Tensor> s;
    for (const auto &[k, v] : m.stateDict())
        s[k] = v.detach().clone();
    return s;
}

void train(Qwen2ForCausalLMImpl &m, Optimizer &opt, int steps)
{
    for (int i = 0; i < steps; ++i) {
        opt.zeroGrad();
        lossOf(m).backward();
        opt.step();
    }
}

OptimizerOptions adam(const std::string &kind, double wd = 0.1)
{
    OptimizerOptions o;
    o.kind = kind;
    o.learningRate = 1e-2;
    o.weightDecay = wd;
    return o;
}

bool sameRowsExcept(const torch::Tensor &a, const torch::Tensor &b, const std::vector<int64_t> &skip)
{
    for (int64_t r = 0; r < a.size(0); ++r) {
        if (std::find(skip.begin(), skip.end(), r) != skip.end())
            continue;
        if (!torch::equal(a[r], b[r]))
            return false;
    }
    return true;
}

std::string tmpDir(const std::string &name)
{
    auto d = std::filesystem::temp_directory_path() / ("genrec-tst-finetune-" + name);
    std::filesystem::remove_all(d);
    return d.string();
}

} // namespace

class TestFinetune : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }

    void fullTrainsEverything()
    {
        auto m = tinyModel(false);
        auto before = snapshot(*m);
        FinetuneOptions o;
        o.type = "full";
        auto set = applyFinetuning(*m, o, kNewIds);
        QCOMPARE(set.trainableCount, m->parameterCount());
        QCOMPARE(set.totalCount, m->parameterCount());
        auto opt = makeOptimizer(set.groups, adam("adamw_torch"));
        train(*m, *opt, 2);
        for (const auto &[k, v] : m->stateDict())
            QVERIFY2(!torch::equal(before[k], v), k.c_str());
        // Norms, biases and the embedding are in the no-decay group.
        for (const auto &g : set.groups)
            for (const auto &n : g.names)
                if (n.find("norm") != std::string::npos || n.find(".bias") != std::string::npos
                    || n.find("embed_tokens") != std::string::npos)
                    QVERIFY2(!g.decay, n.c_str());
    }

    void freezeKeepsOriginalRowsBitIdentical_data()
    {
        QTest::addColumn<bool>("tied");
        QTest::addColumn<QString>("optim");
        for (const char *k : {"adamw_torch", "adamw_8bit", "paged_adamw_32bit"}) {
            QTest::newRow((std::string("untied ") + k).c_str()) << false << QString::fromLatin1(k);
            QTest::newRow((std::string("tied ") + k).c_str()) << true << QString::fromLatin1(k);
        }
    }
    void freezeKeepsOriginalRowsBitIdentical()
    {
        QFETCH(bool, tied);
        QFETCH(QString, optim);
        auto m = tinyModel(tied);
        auto before = snapshot(*m);
        FinetuneOptions o;
        o.type = "freeze";
        auto set = applyFinetuning(*m, o, kNewIds);
        const int64_t C = 32, n = int64_t(kNewIds.size());
        QCOMPARE(set.trainableCount, n * C * (tied ? 1 : 2));
        // Weight decay on, also for the row group, to prove the optimiser never touches old rows.
        auto groups = set.groups;
        for (auto &g : groups)
            g.decay = true;
        auto opt = makeOptimizer(groups, adam(optim.toStdString(), 0.5));
        train(*m, *opt, 3);
        QCOMPARE(opt->stateBytes() > 0, true);
        const auto after = snapshot(*m);
        for (const auto &[k, v] : after) {
            const bool table = k == "model.embed_tokens.weight" || k == "lm_head.weight";
            if (!table) {
                QVERIFY2(torch::equal(before[k], v), k.c_str());
                continue;
            }
            QVERIFY2(sameRowsExcept(before[k], v, kNewIds), k.c_str());
            for (auto id : kNewIds)
                QVERIFY2(!torch::equal(before[k][id], v[id]), k.c_str());
        }
        // No table gets a gradient (old rows cannot change, no dense [V, C] buffer); the trained
        // rows get an [R, C] one.
        opt->zeroGrad();
        lossOf(*m).backward();
        QVERIFY(!m->model->embed_tokens->weight.grad().defined());
        if (!tied)
            QVERIFY(!m->lm_head->weight.grad().defined());
        for (const auto &p : set.parameters()) {
            QVERIFY(p.grad().defined());
            QCOMPARE(p.grad().size(0), n);
            QVERIFY(p.grad().abs().sum().item<double>() > 0);
        }
    }

    void freezeRejectsOutOfRangeIds()
    {
        auto m = tinyModel(true);
        FinetuneOptions o;
        o.type = "freeze";
        QVERIFY_THROWS_EXCEPTION(genrec::core::Error, applyFinetuning(*m, o, {64}));
        o.type = "partial";
        QVERIFY_THROWS_EXCEPTION(genrec::core::Error, applyFinetuning(*m, o, {}));
        o.type = "full";
        auto set = applyFinetuning(*m, o, {});
        QVERIFY_THROWS_EXCEPTION(genrec::core::Error, set.saveAdapter("/nonexistent"));
    }

    void loraInitEqualsBaseAndTrainsOnlyAdapters()
    {
        auto m = tinyModel(false);
        m->eval();
        const auto ids = batchIds();
        const auto base = m->logits(m->forward(ids)).detach();
        auto before = snapshot(*m);
        FinetuneOptions o;
        o.type = "lora";
        o.loraRank = 4;
        o.loraDropout = 0.0;
        auto set = applyFinetuning(*m, o, kNewIds);
        // B = 0: the adapter adds exactly zero, but the projections then run unfused (separate
        // q/k/v GEMMs), so the sums may round differently.
        QVERIFY(torch::allclose(m->logits(m->forward(ids)), base, 1e-5, 1e-6));
        // 2 layers × 7 targets, A [4, in] + B [out, 4]; plus new rows of embed and lm_head.
        const int64_t perLayer = 4 * (32 + 32) + 4 * (32 + 16) + 4 * (32 + 16) + 4 * (32 + 32)
                                 + 2 * 4 * (32 + 64) + 4 * (64 + 32);
        QCOMPARE(set.trainableCount, 2 * perLayer + 2 * 4 * 32);
        m->train();
        auto opt = makeOptimizer(set.groups, adam("adamw_torch"));
        train(*m, *opt, 3);
        for (const auto &[k, v] : snapshot(*m)) {
            if (k == "model.embed_tokens.weight" || k == "lm_head.weight")
                QVERIFY2(sameRowsExcept(before[k], v, kNewIds), k.c_str());
            else
                QVERIFY2(torch::equal(before[k], v), k.c_str());
        }
        m->eval();
        const auto tuned = m->logits(m->forward(ids)).detach();
        QVERIFY(!torch::allclose(tuned, base));
        set.setAdaptersEnabled(false);
        const auto off = m->logits(m->forward(ids)).detach();
        set.setAdaptersEnabled(true);
        // Adapters off = the base projections (new embedding rows stay trained).
        QVERIFY(!torch::allclose(off, tuned));

        // Adapter round trip in PEFT layout.
        const auto dir = tmpDir("adapter");
        set.saveAdapter(dir);
        std::ifstream cf(dir + "/adapter_config.json");
        const auto cfg = nlohmann::json::parse(cf);
        QCOMPARE(cfg["peft_type"].get<std::string>(), std::string("LORA"));
        QCOMPARE(cfg["task_type"].get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(cfg["r"].get<int>(), 4);
        QCOMPARE(cfg["target_modules"].size(), size_t(7));
        auto m2 = tinyModel(false);
        auto set2 = applyFinetuning(*m2, o, kNewIds);
        set2.loadAdapter(dir);
        m2->eval();
        QVERIFY(torch::allclose(m2->logits(m2->forward(ids)), tuned, 1e-6, 1e-6));
        std::filesystem::remove_all(dir);

        // Merged export equals the adapter forward.
        set.mergeLora();
        QVERIFY(!m->model->layers[0]->as<Qwen2DecoderLayerImpl>()->self_attn->q_proj->adapter);
        const auto merged = m->logits(m->forward(ids)).detach();
        QVERIFY(torch::allclose(merged, tuned, 1e-5, 1e-5));
    }

    void rsLoraScale()
    {
        auto m = tinyModel(true);
        FinetuneOptions o;
        o.type = "lora";
        o.loraRank = 4;
        o.loraAlpha = 8;
        o.useRslora = true;
        o.loraDropout = 0;
        o.loraTarget = {"q_proj"};
        auto set = applyFinetuning(*m, o, {});
        QCOMPARE(set.groups.size(), size_t(1));
        QCOMPARE(set.groups[0].params.size(), size_t(4)); // 2 layers × (A, B)
        // Set B = 1 and check the delta's scale alpha/sqrt(r) = 4 on one projection.
        auto &proj = *m->model->layers[0]->as<Qwen2DecoderLayerImpl>()->self_attn->q_proj;
        auto x = torch::randn({3, 32});
        const auto base = torch::linear(x, proj.weight, proj.bias);
        {
            torch::NoGradGuard g;
            set.groups[0].params[1].fill_(1.0);
        }
        proj.eval();
        const auto A = set.groups[0].params[0];
        const auto expect = base + torch::linear(torch::linear(x, A), torch::ones({32, 4})) * 4.0;
        QVERIFY(torch::allclose(proj.forward(x), expect, 1e-5, 1e-5));
    }

    void quantisationErrorBounds()
    {
        torch::manual_seed(3);
        const auto w = torch::randn({96, 40}); // 3840 elements, 60 blocks of 64
        for (int bits : {8, 4}) {
            const auto q = quantizeBlockwise(w, bits, 64);
            const auto d = dequantize(q);
            QCOMPARE(d.sizes(), w.sizes());
            const auto err = (d - w).abs().view({-1, 64});            // [60, 64]
            const auto absmax = w.abs().view({-1, 64}).amax(1, true); // [60, 1]
            // int8: half a step (absmax/127/2); NF4: half the widest gap of the codebook.
            const double bound = bits == 8 ? 0.5 / 127 : 0.5 * (1.0 - 0.6961928009986877);
            QVERIFY((err <= absmax * bound * 1.0001 + 1e-7).all().item<bool>());
            QCOMPARE(q.codes.numel(), bits == 8 ? 3840 : 1920);
            // Re-quantising the dequantised tensor reproduces the codes.
            QVERIFY(torch::equal(quantizeBlockwise(d, bits, 64).codes, q.codes));
            const double rel = ((d - w).norm() / w.norm()).item<double>();
            qInfo("%d-bit blockwise(64) relative error %.4f", bits, rel);
            QVERIFY(rel < (bits == 8 ? 0.01 : 0.12));
        }
        // Padding: numel not a multiple of the block.
        const auto v = torch::randn({7, 3});
        QVERIFY(torch::allclose(dequantize(quantizeBlockwise(v, 8, 8)), v, 0, 0.02));
        QVERIFY_THROWS_EXCEPTION(genrec::core::Error, quantizeBlockwise(v, 3, 64));
    }

    void qloraQuantisesBasesAndTrains()
    {
        for (int bits : {8, 4}) {
            auto m = tinyModel(true);
            m->eval();
            const auto ids = batchIds();
            const auto ref = m->logits(m->forward(ids)).detach();
            FinetuneOptions o;
            o.type = "qlora";
            o.quantizationBit = bits;
            o.quantizationBlockSize = 32;
            o.loraDropout = 0;
            auto set = applyFinetuning(*m, o, kNewIds);
            QVERIFY(set.quantizedBytes() > 0);
            QVERIFY(set.quantizedBytes() * (bits == 8 ? 3 : 6) < set.replacedBytes());
            const auto q = m->logits(m->forward(ids)).detach();
            const double rel = ((q - ref).norm() / ref.norm()).item<double>();
            qInfo("qlora %d-bit relative logits error %.4f", bits, rel);
            QVERIFY(rel < (bits == 8 ? 0.02 : 0.2));
            m->train();
            auto opt = makeOptimizer(set.groups, adam("adamw_torch"));
            const double l0 = lossOf(*m).item<double>();
            train(*m, *opt, 5);
            QVERIFY(lossOf(*m).item<double>() < l0);
        }
    }

    void adamwTorchMatchesTorchAdamW()
    {
        torch::manual_seed(5);
        auto a = torch::randn({16, 8}).set_requires_grad(true);
        auto b = a.detach().clone().set_requires_grad(true);
        ParamGroup g{"decay", {"w"}, {a}, {torch::Tensor()}, true};
        auto mine = makeOptimizer({g}, adam("adamw_torch", 0.1));
        torch::optim::AdamW ref({b}, torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
        const auto target = torch::randn({16, 8});
        for (int i = 0; i < 20; ++i) {
            mine->zeroGrad();
            ref.zero_grad();
            (a - target).pow(2).sum().backward();
            (b - target).pow(2).sum().backward();
            mine->step();
            ref.step();
        }
        QVERIFY(torch::allclose(a, b, 1e-6, 1e-6));
    }

    void adamw8bitTracksFp32()
    {
        torch::manual_seed(7);
        const auto X = torch::randn({256, 64});
        const auto wTrue = torch::randn({64, 1});
        const auto y = X.mm(wTrue);
        auto w32 = torch::zeros({64, 1}).set_requires_grad(true);
        auto w8 = torch::zeros({64, 1}).set_requires_grad(true);
        auto o32 = makeOptimizer({ParamGroup{"d", {"w"}, {w32}, {torch::Tensor()}, true}},
                                 adam("adamw_torch", 0.01));
        auto o8opts = adam("adamw_8bit", 0.01);
        o8opts.blockSize = 16;
        auto o8 = makeOptimizer({ParamGroup{"d", {"w"}, {w8}, {torch::Tensor()}, true}}, o8opts);
        for (int i = 0; i < 200; ++i) {
            for (auto [w, o] : {std::pair{w32, o32.get()}, std::pair{w8, o8.get()}}) {
                o->zeroGrad();
                (X.mm(w) - y).pow(2).mean().backward();
                o->step();
            }
        }
        const double rel = ((w8 - w32).norm() / w32.norm()).item<double>();
        const double l32 = (X.mm(w32) - y).pow(2).mean().item<double>();
        const double l8 = (X.mm(w8) - y).pow(2).mean().item<double>();
        qInfo("8-bit vs fp32 AdamW after 200 steps: param rel diff %.5f, loss %.5f vs %.5f", rel, l8, l32);
        QVERIFY(rel < 0.05);
        QVERIFY(l8 < 1.25 * l32 && l8 > 0.8 * l32);
        QVERIFY(o8->stateBytes() * 3 < o32->stateBytes());
    }

    void pagedEqualsInMemory()
    {
        torch::manual_seed(9);
        auto a = torch::randn({33, 5}).set_requires_grad(true);
        auto b = a.detach().clone().set_requires_grad(true);
        auto oa = makeOptimizer({ParamGroup{"d", {"w"}, {a}, {torch::Tensor()}, true}}, adam("adamw_torch"));
        auto ob = makeOptimizer({ParamGroup{"d", {"w"}, {b}, {torch::Tensor()}, true}},
                                adam("paged_adamw_32bit"));
        for (int i = 0; i < 5; ++i) {
            for (auto [w, o] : {std::pair{a, oa.get()}, std::pair{b, ob.get()}}) {
                o->zeroGrad();
                w.pow(3).sum().backward();
                o->step();
            }
        }
        QVERIFY(torch::equal(a, b));
    }

    void optimizerStateRoundTrip_data()
    {
        QTest::addColumn<QString>("optim");
        QTest::newRow("adamw_torch") << QStringLiteral("adamw_torch");
        QTest::newRow("adamw_8bit") << QStringLiteral("adamw_8bit");
        QTest::newRow("paged_adamw_32bit") << QStringLiteral("paged_adamw_32bit");
    }
    void optimizerStateRoundTrip()
    {
        QFETCH(QString, optim);
        const auto kind = optim.toStdString();
        auto m1 = tinyModel(false);
        FinetuneOptions o;
        o.type = "freeze";
        auto s1 = applyFinetuning(*m1, o, kNewIds);
        auto opt1 = makeOptimizer(s1.groups, adam(kind));
        train(*m1, *opt1, 2);
        const auto dir = tmpDir("optim-" + kind);
        opt1->save(dir);
        // A second model in the same state resumes from the saved optimiser.
        auto m2 = tinyModel(false);
        {
            torch::NoGradGuard g;
            for (const auto &[k, v] : m1->stateDict())
                for (const auto &[k2, v2] : m2->stateDict())
                    if (k == k2)
                        v2.copy_(v);
        }
        auto s2 = applyFinetuning(*m2, o, kNewIds);
        auto opt2 = makeOptimizer(s2.groups, adam(kind));
        opt2->load(dir);
        QCOMPARE(opt2->stepCount(), int64_t(2));
        train(*m1, *opt1, 2);
        train(*m2, *opt2, 2);
        for (const auto &[k, v] : snapshot(*m1))
            QVERIFY2(torch::equal(v, snapshot(*m2)[k]), k.c_str());
        auto opt3 = makeOptimizer(s2.groups, adam(kind == "adamw_8bit" ? "adamw_torch" : "adamw_8bit"));
        QVERIFY_THROWS_EXCEPTION(genrec::core::Error, opt3->load(dir));
        std::filesystem::remove_all(dir);
    }

    // Decoding keeps freed pages (jemalloc decay off) and the configured decay comes back after
    // the outermost guard; training's 2 s decay is what malloc_conf.cpp sets.
    void keepFreedPagesWhileDecoding()
    {
        if (!jemallocActive())
            QSKIP("this build does not link jemalloc (libjemalloc-dev missing)");
        using MallctlFn = int (*)(const char *, void *, size_t *, void *, size_t);
        const auto mallctl = reinterpret_cast<MallctlFn>(::dlsym(RTLD_DEFAULT, "mallctl"));
        const auto read = [&] {
            ssize_t v = 0;
            size_t len = sizeof(v);
            return mallctl("arena.0.dirty_decay_ms", &v, &len, nullptr, 0) == 0 ? v : ssize_t(-99);
        };
        QCOMPARE(read(), ssize_t(2000));
        {
            KeepFreedPages outer;
            QCOMPARE(read(), ssize_t(-1));
            {
                KeepFreedPages inner;
                QCOMPARE(read(), ssize_t(-1));
            }
            QCOMPARE(read(), ssize_t(-1)); // the outer guard still holds
        }
        QCOMPARE(read(), ssize_t(2000));
    }

    // Recomputation in backward (whole layers, or each layer's norm + MLP) gives the gradients
    // of the plain path: same RNG draws for LoRA and residual dropout, every trained tensor.
    void checkpointedGradsEqualPlain_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("mode");    // layer | mlp
        QTest::addColumn<QString>("targets"); // "" = all seven projections
        QTest::addColumn<double>("dropout");  // residual dropout of the model
        QTest::addColumn<bool>("fused");
        QTest::newRow("full/layer") << QStringLiteral("full") << QStringLiteral("layer") << QStringLiteral("") << 0.0 << true;
        QTest::newRow("lora+dropout/layer") << QStringLiteral("lora") << QStringLiteral("layer") << QStringLiteral("") << 0.0 << true;
        QTest::newRow("full/mlp") << QStringLiteral("full") << QStringLiteral("mlp") << QStringLiteral("") << 0.1 << true;
        QTest::newRow("freeze/mlp (frozen down closes the block)") << QStringLiteral("freeze") << QStringLiteral("mlp") << QStringLiteral("") << 0.1 << true;
        QTest::newRow("freeze/mlp unfused") << QStringLiteral("freeze") << QStringLiteral("mlp") << QStringLiteral("") << 0.0 << false;
        QTest::newRow("lora all targets/mlp") << QStringLiteral("lora") << QStringLiteral("mlp") << QStringLiteral("") << 0.1 << true;
        QTest::newRow("lora q,v/mlp") << QStringLiteral("lora") << QStringLiteral("mlp") << QStringLiteral("q_proj,v_proj") << 0.0 << true;
        QTest::newRow("lora gate,up/mlp") << QStringLiteral("lora") << QStringLiteral("mlp") << QStringLiteral("gate_proj,up_proj") << 0.1 << true;
    }
    void checkpointedGradsEqualPlain()
    {
        QFETCH(QString, type);
        QFETCH(QString, mode);
        QFETCH(QString, targets);
        QFETCH(double, dropout);
        QFETCH(bool, fused);
        std::vector<std::map<std::string, torch::Tensor>> grads;
        for (bool recompute : {false, true}) {
            auto m = tinyModel(false);
            FinetuneOptions o;
            o.type = type.toStdString();
            o.loraDropout = 0.2;
            if (!targets.isEmpty()) {
                o.loraTarget.clear();
                for (const auto &t : targets.split(QLatin1Char(',')))
                    o.loraTarget.push_back(t.toStdString());
            }
            auto set = applyFinetuning(*m, o, kNewIds);
            m->train();
            m->setDropout(dropout);
            m->setFusedKernels(fused);
            if (mode == QLatin1String("layer"))
                m->setGradientCheckpointing(recompute);
            else
                m->setMlpRecompute(recompute);
            torch::manual_seed(11); // same dropout masks
            lossOf(*m).backward();
            std::map<std::string, torch::Tensor> g;
            for (const auto &grp : set.groups)
                for (size_t i = 0; i < grp.params.size(); ++i)
                    g[grp.names[i]] = grp.params[i].grad().clone();
            grads.push_back(g);
        }
        QVERIFY(!grads[0].empty());
        int nonZero = 0; // LoRA B starts at 0, so A's gradient is 0 at step 0; the rest is not
        for (const auto &[k, v] : grads[0]) {
            nonZero += v.abs().sum().item<double>() > 0;
            QVERIFY2(grads[1].count(k) && grads[1][k].defined(), k.c_str());
            QVERIFY2(torch::allclose(v, grads[1][k], 1e-5, 1e-6), k.c_str());
        }
        QVERIFY(nonZero >= int(grads[0].size()) / 2);
    }
};

QTEST_GUILESS_MAIN(TestFinetune)
#include "tst_finetune.moc"
