// Qwen2-family model: goldens from the independent PyTorch reference
// (tests/reference/make_model_goldens.py), KV-cache decoding, bf16, loading, vocabulary heads and
// resizing.
#include "core/common/error.h"
#include "training/model/model_loading.h"
#include "training/model/qwen2.h"

#include <QtTest/QtTest>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

using namespace genrec::train;
using genrec::core::Error;

namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

std::string fixtureDir(const std::string &name)
{
    return qEnvironmentVariable("GENREC_FIXTURES").toStdString() + "/model/" + name;
}

std::string readAll(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A minimal safetensors reader for the fixtures (F32 / I64), independent of the I/O library.
NamedTensors readSafetensors(const std::string &path)
{
    const std::string bytes = readAll(path);
    uint64_t headerLen = 0;
    std::memcpy(&headerLen, bytes.data(), 8);
    const auto header = nlohmann::json::parse(bytes.substr(8, headerLen));
    const char *data = bytes.data() + 8 + headerLen;
    NamedTensors out;
    for (const auto &[name, info] : header.items()) {
        if (name == "__metadata__")
            continue;
        const auto dtype = info["dtype"].get<std::string>() == "F32" ? torch::kFloat : torch::kLong;
        std::vector<int64_t> shape = info["shape"].get<std::vector<int64_t>>();
        const auto begin = info["data_offsets"][0].get<size_t>();
        auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
        std::memcpy(t.data_ptr(), data + begin, t.numel() * t.element_size());
        out.emplace_back(name, t);
    }
    return out;
}

std::map<std::string, torch::Tensor> toMap(const NamedTensors &tensors)
{
    return {tensors.begin(), tensors.end()};
}

ModelConfig readConfig(const std::string &dir)
{
    const auto j = nlohmann::json::parse(readAll(dir + "/config.json"));
    ModelConfig c;
    const bool qwen3 = j["model_type"] == "qwen3";
    c.architecture = qwen3 ? Architecture::Qwen3 : Architecture::Qwen2;
    c.vocabSize = j["vocab_size"];
    c.hiddenSize = j["hidden_size"];
    c.intermediateSize = j["intermediate_size"];
    c.numHiddenLayers = j["num_hidden_layers"];
    c.numAttentionHeads = j["num_attention_heads"];
    c.numKeyValueHeads = j["num_key_value_heads"];
    c.headDim = j.value("head_dim", c.hiddenSize / c.numAttentionHeads);
    c.rmsNormEps = j["rms_norm_eps"];
    c.ropeTheta = j["rope_theta"];
    c.tieWordEmbeddings = j["tie_word_embeddings"];
    c.attentionBias = !qwen3;
    c.qkNorm = qwen3;
    return c;
}

Qwen2ForCausalLM loadFixtureModel(const std::string &name)
{
    const std::string dir = fixtureDir(name);
    auto model = makeQwen2(readConfig(dir));
    model->loadStateDict(readSafetensors(dir + "/model.safetensors"), /*strict=*/true, dir);
    return model;
}

// A small random model built by hand (no fixture), for the structural tests.
ModelConfig smallConfig(bool tied, bool qwen3)
{
    ModelConfig c;
    c.architecture = qwen3 ? Architecture::Qwen3 : Architecture::Qwen2;
    c.vocabSize = 97;
    c.hiddenSize = 32;
    c.intermediateSize = 48;
    c.numHiddenLayers = 2;
    c.numAttentionHeads = 4;
    c.numKeyValueHeads = 2;
    c.headDim = 8;
    c.tieWordEmbeddings = tied;
    c.attentionBias = !qwen3;
    c.qkNorm = qwen3;
    c.ropeTheta = 10000.0;
    return c;
}

Qwen2ForCausalLM randomModel(bool tied = false, bool qwen3 = false)
{
    torch::manual_seed(7);
    auto model = makeQwen2(smallConfig(tied, qwen3));
    model->initParameters(0.2);
    return model;
}

double maxAbsDiff(const torch::Tensor &a, const torch::Tensor &b)
{
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

} // namespace

class TestModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        torch::set_num_threads(1);
    }

    void moduleNamesAreHfKeys()
    {
        auto model = randomModel(/*tied=*/false, /*qwen3=*/true);
        std::vector<std::string> names;
        for (const auto &[name, t] : model->stateDict())
            names.push_back(name);
        const auto has = [&](const std::string &n) {
            return std::find(names.begin(), names.end(), n) != names.end();
        };
        QVERIFY(has("model.embed_tokens.weight"));
        QVERIFY(has("model.layers.0.input_layernorm.weight"));
        QVERIFY(has("model.layers.1.self_attn.q_proj.weight"));
        QVERIFY(has("model.layers.1.self_attn.q_norm.weight"));
        QVERIFY(has("model.layers.1.self_attn.k_norm.weight"));
        QVERIFY(has("model.layers.0.post_attention_layernorm.weight"));
        QVERIFY(has("model.layers.0.mlp.gate_proj.weight"));
        QVERIFY(has("model.norm.weight"));
        QVERIFY(has("lm_head.weight"));
        QVERIFY(!has("model.layers.0.self_attn.q_proj.bias")); // Qwen3: no q/k/v bias
        auto tied = randomModel(/*tied=*/true, /*qwen3=*/false);
        int64_t count = 0;
        for (const auto &[name, t] : tied->stateDict()) {
            QVERIFY(name != "lm_head.weight");
            count += t.numel();
        }
        QCOMPARE(tied->parameterCount(), count);
        QVERIFY(tied->named_parameters().find("model.layers.0.self_attn.k_proj.bias"));
    }

    void goldens_data()
    {
        QTest::addColumn<QString>("name");
        QTest::newRow("qwen2 untied, qkv bias") << QStringLiteral("qwen2_tiny");
        QTest::newRow("qwen3 tied, qk norm") << QStringLiteral("qwen3_tiny");
    }

    // Logits, loss and gradients against float64 goldens of the reference implementation.
    void goldens()
    {
        QFETCH(QString, name);
        auto model = loadFixtureModel(name.toStdString());
        const auto g = toMap(readSafetensors(fixtureDir(name.toStdString()) + "/goldens.safetensors"));

        const auto hidden = model->forward(g.at("ids_a"));
        const auto logits = model->logits(hidden);
        QCOMPARE(logits.sizes(), g.at("logits_a").sizes());
        // fp32 against fp64 over 2 layers: observed ~1e-6, tolerance 1e-4 absolute on logits ~|5|.
        QVERIFY2(maxAbsDiff(logits, g.at("logits_a")) < 1e-4,
                 std::to_string(maxAbsDiff(logits, g.at("logits_a"))).c_str());

        const auto loss = causalLmLoss(*model, hidden, g.at("labels_a"));
        QVERIFY(std::abs(loss.item<double>() - g.at("loss_a").item<double>()) < 1e-5);
        loss.backward();
        int grads = 0;
        const auto params = model->named_parameters();
        for (const auto &[key, expected] : g) {
            if (key.rfind("grad.", 0) != 0)
                continue;
            const auto *p = params.find(key.substr(5));
            QVERIFY2(p, key.c_str());
            const double scale = expected.abs().max().item<double>();
            const double diff = maxAbsDiff(p->grad(), expected);
            QVERIFY2(diff < 1e-4 * std::max(scale, 1e-3), (key + ": " + std::to_string(diff)).c_str());
            ++grads;
        }
        QVERIFY(grads >= 6);

        // Left-padded batch: compare where the mask is 1.
        torch::NoGradGuard noGrad;
        const auto mask = g.at("mask_p");
        const auto logitsP = model->logits(model->forward(g.at("ids_p"), mask)); // [3, 12, V]
        const auto valid = mask.to(torch::kBool);
        QVERIFY(maxAbsDiff(logitsP.index({valid}), g.at("logits_p").index({valid})) < 1e-4);
        QVERIFY(torch::isfinite(logitsP).all().item<bool>());
    }

    // Token-by-token decoding with the cache equals a full forward, with left padding, and
    // survives beam-style row expansion and reordering.
    void kvCacheMatchesFullForward_data()
    {
        QTest::addColumn<bool>("qwen3");
        QTest::newRow("qwen2") << false;
        QTest::newRow("qwen3") << true;
    }
    void kvCacheMatchesFullForward()
    {
        QFETCH(bool, qwen3);
        torch::NoGradGuard noGrad;
        auto model = randomModel(/*tied=*/false, qwen3);
        const int64_t B = 3, P = 7, N = 5, V = model->config().vocabSize;
        torch::manual_seed(11);
        const auto ids = torch::randint(0, V, {B, P + N}, torch::kLong);
        auto mask = torch::ones({B, P + N}, torch::kLong);
        mask.index_put_({1, torch::indexing::Slice(0, 2)}, 0);
        mask.index_put_({2, torch::indexing::Slice(0, 4)}, 0);
        const auto full = model->logits(model->forward(ids, mask)); // [B, P+N, V]

        KvCache cache;
        auto step = model->logits(model->forward(ids.narrow(1, 0, P), mask.narrow(1, 0, P), &cache));
        const auto validP = mask.narrow(1, 0, P).to(torch::kBool);
        QVERIFY(maxAbsDiff(step.index({validP}), full.narrow(1, 0, P).index({validP})) < 1e-5);
        for (int64_t t = P; t < P + N; ++t) {
            step = model->logits(model->forward(ids.narrow(1, t, 1), {}, &cache)); // [B, 1, V]
            QVERIFY2(maxAbsDiff(step.squeeze(1), full.select(1, t)) < 1e-5,
                     ("step " + std::to_string(t)).c_str());
        }
        QCOMPARE(cache.length(), P + N);

        // Beams: expand each prompt to 2 rows, then reorder; rows must follow their source.
        KvCache beams;
        model->forward(ids.narrow(1, 0, P), mask.narrow(1, 0, P), &beams);
        beams.expandRows(2);
        QCOMPARE(beams.batchSize(), 2 * B);
        const auto order = torch::tensor({5, 0, 3, 3, 1, 4}, torch::kLong); // rows of the 6
        beams.reorderRows(order);
        const auto src = torch::arange(B).repeat_interleave(2).index_select(0, order); // [6]
        for (int64_t t = P; t < P + 2; ++t) {
            const auto next = ids.index_select(0, src).narrow(1, t, 1); // [6, 1]
            step = model->logits(model->forward(next, {}, &beams)).squeeze(1);
            QVERIFY(maxAbsDiff(step, full.select(1, t).index_select(0, src)) < 1e-5);
        }
    }

    // The fused fp32 CPU kernels (fused_ops.h) against the plain ATen composition: logits, loss
    // and every parameter gradient, over more than one 64-position attention block, with and
    // without left padding.
    void fusedKernelsMatchAtenPath_data()
    {
        QTest::addColumn<bool>("qwen3");
        QTest::addColumn<bool>("padded");
        QTest::addColumn<int>("threads");
        QTest::newRow("qwen2") << false << false << 1;
        QTest::newRow("qwen2 left-padded") << false << true << 1;
        QTest::newRow("qwen3 left-padded") << true << true << 1;
        QTest::newRow("qwen2 left-padded, 2 threads") << false << true << 2;
    }
    void fusedKernelsMatchAtenPath()
    {
        QFETCH(bool, qwen3);
        QFETCH(bool, padded);
        QFETCH(int, threads);
        torch::set_num_threads(threads);
        const auto restore = qScopeGuard([] { torch::set_num_threads(1); });
        auto model = randomModel(/*tied=*/qwen3, qwen3);
        const int64_t B = 2, T = 150;
        torch::manual_seed(5);
        const auto ids = torch::randint(0, 97, {B, T}, torch::kLong);
        auto mask = torch::ones({B, T}, torch::kLong);
        if (padded)
            mask.index_put_({1, torch::indexing::Slice(0, 70)}, 0);
        auto labels = ids.masked_fill(mask.eq(0), kIgnoreIndex);
        labels.index_put_({0, torch::indexing::Slice(0, 10)}, kIgnoreIndex);

        const auto run = [&](bool fusedKernels) {
            model->setFusedKernels(fusedKernels);
            model->zero_grad();
            const auto hidden = model->forward(ids, padded ? mask : torch::Tensor());
            const auto loss = causalLmLoss(*model, hidden, labels);
            loss.backward();
            std::map<std::string, torch::Tensor> grads;
            for (const auto &item : model->named_parameters())
                grads[item.key()] = item.value().grad().clone();
            return std::make_tuple(model->logits(hidden).detach(), loss.item<double>(), grads);
        };
        const auto [logitsA, lossA, gradsA] = run(false);
        const auto [logitsF, lossF, gradsF] = run(true);
        model->setFusedKernels(true);
        const auto valid = mask.to(torch::kBool);
        QVERIFY2(maxAbsDiff(logitsF.index({valid}), logitsA.index({valid})) < 1e-4,
                 std::to_string(maxAbsDiff(logitsF.index({valid}), logitsA.index({valid}))).c_str());
        QVERIFY(std::abs(lossF - lossA) < 1e-5);
        for (const auto &[name, g] : gradsA) {
            const double scale = g.abs().max().item<double>();
            const double diff = maxAbsDiff(gradsF.at(name), g);
            QVERIFY2(diff <= 1e-4 * std::max(scale, 1e-6),
                     (name + ": " + std::to_string(diff) + " of " + std::to_string(scale)).c_str());
        }
    }

    void dropoutOnlyWhileTraining()
    {
        auto model = randomModel();
        const auto ids = torch::randint(0, 97, {2, 6}, torch::kLong);
        model->eval();
        const auto base = model->forward(ids).detach();
        model->setDropout(0.3);
        QVERIFY(maxAbsDiff(model->forward(ids), base) == 0); // eval mode: no dropout
        model->train();
        {
            torch::NoGradGuard noGrad; // inference under no_grad: no dropout either
            QVERIFY(maxAbsDiff(model->forward(ids), base) == 0);
        }
        const auto a = model->forward(ids), b = model->forward(ids);
        QVERIFY(maxAbsDiff(a, base) > 1e-3); // training: dropped units change the output
        QVERIFY(maxAbsDiff(a, b) > 1e-3);    // and each call draws a new mask
        model->setDropout(0.0);
        QVERIFY(maxAbsDiff(model->forward(ids), base) < 1e-5);
        model->eval();
    }

    void logitHeadsAreSlicesOfFullLogits()
    {
        torch::NoGradGuard noGrad;
        auto model = randomModel();
        const auto ids = torch::randint(0, 97, {2, 6}, torch::kLong);
        const auto hidden = model->forward(ids);  // [2, 6, C]
        const auto full = model->logits(hidden);  // [2, 6, V]
        const auto flat = full.view({12, 97});
        const auto pos = torch::tensor({0, 5, 7, 11}, torch::kLong);
        QVERIFY(maxAbsDiff(model->logitsAt(hidden, pos), flat.index_select(0, pos)) < 1e-5);
        auto sel = torch::zeros({2, 6}, torch::kBool);
        sel.index_put_({1, 2}, true);
        sel.index_put_({0, 4}, true);
        const auto at = model->logitsAt(hidden, sel); // [2, V] in (b, t) order
        QVERIFY(maxAbsDiff(at[0], full[0][4]) < 1e-5);
        QVERIFY(maxAbsDiff(at[1], full[1][2]) < 1e-5);
        const auto rows = torch::tensor({3, 96, 0, 40}, torch::kLong);
        const auto sub = model->logitsForRows(hidden, rows); // [2, 6, 4]
        QCOMPARE(sub.sizes(), (std::vector<int64_t>{2, 6, 4}));
        QVERIFY(maxAbsDiff(sub, full.index_select(2, rows)) < 1e-5);
    }

    void lossMatchesFullLogitsAndHandlesNoLabels()
    {
        auto model = randomModel(/*tied=*/true);
        const auto ids = torch::randint(0, 97, {2, 6}, torch::kLong);
        auto labels = ids.clone();
        labels.index_put_({0, torch::indexing::Slice(0, 3)}, kIgnoreIndex);
        const auto hidden = model->forward(ids);
        const auto loss = causalLmLoss(*model, hidden, labels);
        const auto full = model->logits(hidden).narrow(1, 0, 5).reshape({-1, 97});
        const auto ref = torch::cross_entropy_loss(full, labels.narrow(1, 1, 5).reshape({-1}),
                                                   {}, at::Reduction::Mean, kIgnoreIndex);
        QVERIFY(std::abs(loss.item<double>() - ref.item<double>()) < 1e-6);
        const auto none = causalLmLoss(*model, hidden, torch::full({2, 6}, kIgnoreIndex));
        QCOMPARE(none.item<double>(), 0.0);
        none.backward(); // differentiable, contributes nothing
    }

    void bf16StorageMatchesFp32()
    {
        auto model = loadFixtureModel("qwen2_tiny");
        const auto g = toMap(readSafetensors(fixtureDir("qwen2_tiny") + "/goldens.safetensors"));
        const auto ref = model->logits(model->forward(g.at("ids_a"))).detach();
        model->to(torch::kBFloat16);
        QCOMPARE(model->paramDtype(), torch::kBFloat16);
        QCOMPARE(model->computeDtype(), torch::kFloat); // CPU: bf16 storage, fp32 compute
        const auto hidden = model->forward(g.at("ids_a"));
        const auto logits = model->logits(hidden);
        QCOMPARE(logits.scalar_type(), torch::kFloat);
        // Weights rounded to 8 mantissa bits: logits of magnitude ~5 move by ~1e-2.
        const double diff = maxAbsDiff(logits, ref);
        QVERIFY2(diff < 0.1, std::to_string(diff).c_str());
        QVERIFY(diff > 0.0);
        const auto loss = causalLmLoss(*model, hidden, g.at("labels_a"));
        QVERIFY(std::abs(loss.item<double>() - g.at("loss_a").item<double>()) < 2e-2);
        loss.backward();
        const auto &grad = model->model->layers[0]->as<Qwen2DecoderLayerImpl>()->self_attn->q_proj->weight.grad();
        QCOMPARE(grad.scalar_type(), torch::kBFloat16);
        QVERIFY(torch::isfinite(grad).all().item<bool>());
    }

    void stateDictRoundTrip()
    {
        torch::NoGradGuard noGrad;
        auto a = randomModel(/*tied=*/false, /*qwen3=*/true);
        auto b = makeQwen2(a->config());
        const auto report = b->loadStateDict(a->stateDict(), true);
        QVERIFY(report.missing.empty() && report.unexpected.empty());
        const auto ids = torch::randint(0, 97, {2, 5}, torch::kLong);
        QVERIFY(torch::equal(a->logits(a->forward(ids)), b->logits(b->forward(ids))));

        // Non-strict: reports missing and unexpected; strict: throws naming them.
        auto partial = a->stateDict();
        partial.erase(partial.begin());
        partial.emplace_back("model.layers.9.mlp.up_proj.weight", torch::zeros({1}));
        auto c = makeQwen2(a->config());
        const auto r = c->loadStateDict(partial, false);
        QCOMPARE(r.missing, std::vector<std::string>{"model.embed_tokens.weight"});
        QCOMPARE(r.unexpected, std::vector<std::string>{"model.layers.9.mlp.up_proj.weight"});
        try {
            c->loadStateDict(partial, true, "x.safetensors");
            QFAIL("strict load accepted a mismatching state dict");
        } catch (const Error &e) {
            QVERIFY(std::string(e.what()).find("model.embed_tokens.weight") != std::string::npos);
            QVERIFY(std::string(e.what()).find("x.safetensors") != std::string::npos);
        }
        auto wrong = a->stateDict();
        wrong[0].second = torch::zeros({3, 3});
        QVERIFY_THROWS_EXCEPTION(Error, c->loadStateDict(wrong, false));

        // A tied model ignores a stored lm_head.weight (some tied checkpoints carry it).
        auto tied = randomModel(/*tied=*/true);
        auto sd = tied->stateDict();
        sd.emplace_back("lm_head.weight", tied->headWeight().clone());
        const auto rt = makeQwen2(tied->config())->loadStateDict(sd, true);
        QCOMPARE(rt.ignored, std::vector<std::string>{"lm_head.weight"});
    }

    void initParametersFollowsHf()
    {
        torch::manual_seed(3);
        auto model = makeQwen2(smallConfig(false, true));
        model->initParameters();
        for (const auto &[name, t] : model->stateDict()) {
            if (name.find("norm.") != std::string::npos)
                QVERIFY2(torch::all(t == 1).item<bool>(), name.c_str());
            else if (name.size() > 4 && name.substr(name.size() - 4) == "bias")
                QVERIFY2(torch::all(t == 0).item<bool>(), name.c_str());
        }
        const auto w = model->model->embed_tokens->weight;
        QVERIFY(std::abs(w.std().item<double>() - 0.02) < 0.002);
    }

    void resizeKeepsOldRowsAndMeanInitsNewOnes_data()
    {
        QTest::addColumn<bool>("tied");
        QTest::newRow("untied") << false;
        QTest::newRow("tied") << true;
    }
    void resizeKeepsOldRowsAndMeanInitsNewOnes()
    {
        QFETCH(bool, tied);
        auto model = randomModel(tied);
        const auto embed = model->model->embed_tokens->weight.detach().clone(); // [97, C]
        const auto head = model->headWeight().detach().clone();
        auto *param = &model->model->embed_tokens->weight;
        const auto *impl = param->unsafeGetTensorImpl();
        model->resizeTokenEmbeddings(110);
        QCOMPARE(model->config().vocabSize, int64_t(110));
        const auto e = model->model->embed_tokens->weight;
        QCOMPARE(e.sizes(), (std::vector<int64_t>{110, 32}));
        QVERIFY(e.unsafeGetTensorImpl() == impl); // same parameter, new storage
        QVERIFY(torch::equal(e.narrow(0, 0, 97), embed));
        const auto mean = embed.to(torch::kDouble).mean(0).to(torch::kFloat);
        for (int64_t r = 97; r < 110; ++r)
            QVERIFY(torch::equal(e[r], mean));
        const auto h = model->headWeight();
        QCOMPARE(h.size(0), int64_t(110));
        QVERIFY(torch::equal(h.narrow(0, 0, 97), head));
        QVERIFY(torch::equal(h[105], head.to(torch::kDouble).mean(0).to(torch::kFloat)));
        const auto ids = torch::tensor({{1, 105, 109}}, torch::kLong);
        auto hidden = model->forward(ids);
        QCOMPARE(model->logits(hidden).size(2), int64_t(110));
        causalLmLoss(*model, hidden, ids).backward();
        QCOMPARE(model->model->embed_tokens->weight.grad().size(0), int64_t(110));
        // Resizing to the same size changes nothing; shrinking truncates.
        model->resizeTokenEmbeddings(110);
        QVERIFY(torch::equal(model->model->embed_tokens->weight.narrow(0, 0, 97), embed));
        model->resizeTokenEmbeddings(50);
        QVERIFY(torch::equal(model->model->embed_tokens->weight, embed.narrow(0, 0, 50)));
    }

    // HF folder round trip through the I/O library: same logits; bf16 storage on disk rounds.
    void hfFolderRoundTrip()
    {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        torch::NoGradGuard noGrad;
        auto model = loadCausalLm(fixtureDir("qwen3_tiny"));
        model->resizeTokenEmbeddings(310); // the saved config must carry the new vocabulary
        const std::string dir = tmp.path().toStdString() + "/saved";
        saveCausalLm(*model, dir, "float32");
        auto back = loadCausalLm(dir);
        QCOMPARE(back->config().vocabSize, int64_t(310));
        const auto ids = torch::tensor({{5, 17, 305, 42}}, torch::kLong);
        QVERIFY(torch::equal(model->logits(model->forward(ids)), back->logits(back->forward(ids))));

        const std::string bf16 = tmp.path().toStdString() + "/bf16";
        saveCausalLm(*model, bf16, "bfloat16");
        auto half = loadCausalLm(bf16);
        QCOMPARE(half->paramDtype(), torch::kFloat); // CPU default: fp32 parameters
        const double diff = maxAbsDiff(half->logits(half->forward(ids)),
                                       model->logits(model->forward(ids)));
        QVERIFY2(diff > 0 && diff < 0.1, std::to_string(diff).c_str());

        QVERIFY_THROWS_EXCEPTION(Error, loadCausalLm("preset:nonexistent"));
        auto preset = loadCausalLm("preset:tiny", {.presetVocabSize = 123});
        QCOMPARE(preset->config().vocabSize, int64_t(123));
    }

    // `genrec forward` writes the logits as .npy; compare with the reference goldens.
    void cliForwardWritesNpy()
    {
        QTemporaryDir tmp;
        const auto g = toMap(readSafetensors(fixtureDir("qwen2_tiny") + "/goldens.safetensors"));
        const auto ids = g.at("ids_a")[0]; // [10]
        QStringList idList;
        for (int64_t i = 0; i < ids.size(0); ++i)
            idList << QString::number(ids[i].item<int64_t>());
        const QString out = tmp.filePath(QStringLiteral("logits.npy"));
        QProcess p;
        p.start(qEnvironmentVariable("GENREC_BIN") + QStringLiteral("/genrec"),
                {QStringLiteral("forward"), QStringLiteral("--model"),
                 QString::fromStdString(fixtureDir("qwen2_tiny")), QStringLiteral("--ids"),
                 idList.join(QLatin1Char(',')), QStringLiteral("--out"), out,
                 QStringLiteral("--threads"), QStringLiteral("1")});
        QVERIFY(p.waitForFinished(60000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());

        const std::string bytes = readAll(out.toStdString());
        QCOMPARE(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
        const size_t headerLen = static_cast<unsigned char>(bytes[8])
                                 | (static_cast<unsigned char>(bytes[9]) << 8);
        QCOMPARE((10 + headerLen) % 64, size_t(0));
        const std::string header = bytes.substr(10, headerLen);
        QVERIFY2(header.find("'descr': '<f4'") != std::string::npos, header.c_str());
        QVERIFY2(header.find("'shape': (10, 300)") != std::string::npos, header.c_str());
        QCOMPARE(bytes.size(), 10 + headerLen + 10 * 300 * sizeof(float));
        auto logits = torch::empty({10, 300});
        std::memcpy(logits.data_ptr(), bytes.data() + 10 + headerLen, bytes.size() - 10 - headerLen);
        QVERIFY(maxAbsDiff(logits, g.at("logits_a")[0]) < 1e-4);

        // A token id outside the vocabulary is bad input (exit code 2).
        p.start(qEnvironmentVariable("GENREC_BIN") + QStringLiteral("/genrec"),
                {QStringLiteral("forward"), QStringLiteral("--model"),
                 QString::fromStdString(fixtureDir("qwen2_tiny")), QStringLiteral("--ids"),
                 QStringLiteral("1,300")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 2);
    }

    void rejectsBadConfig()
    {
        auto c = smallConfig(false, false);
        c.numKeyValueHeads = 3;
        QVERIFY_THROWS_EXCEPTION(Error, makeQwen2(c));
    }
};

QTEST_GUILESS_MAIN(TestModel)
#include "tst_model.moc"
