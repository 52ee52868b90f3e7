// ModelConfig: parsing HF config.json for Qwen2 / Qwen3 / Llama, rejecting what the engine does
// not implement, serialising back, presets and parameter counts (checked against the published
// sizes of Qwen2.5-0.5B, Qwen3-0.6B and TinyLlama-1.1B).

#include "core/common/error.h"
#include "training/model/model_config.h"

#include <nlohmann/json.hpp>

#include <QtTest/QtTest>

using namespace genrec::train;
using genrec::core::Error;
using genrec::core::ErrorKind;
using json = nlohmann::json;

namespace {

// The public config.json of Qwen/Qwen2.5-0.5B-Instruct (fields as published).
const char *kQwen25 = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 21,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// Qwen/Qwen3-0.6B: explicit head_dim, q/k norm, eos as published.
const char *kQwen3 = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// TinyLlama/TinyLlama-1.1B: untied, GQA, no attention_bias field (defaults to false).
const char *kLlama = R"({
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 5632,
  "max_position_embeddings": 2048,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 22,
  "num_key_value_heads": 4,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "float32",
  "use_cache": true,
  "vocab_size": 32000
})";

/// kQwen25 with `patch` merged in (a null value removes the field).
std::string patched(const char *base, const std::string &patch)
{
    json j = json::parse(base);
    j.merge_patch(json::parse(patch));
    return j.dump();
}

std::int64_t sumOfShapes(const ModelConfig &c)
{
    std::int64_t total = 0;
    for (const HfTensorSpec &s : hfTensorShapes(c)) {
        std::int64_t n = 1;
        for (auto d : s.shape)
            n *= d;
        total += n;
    }
    return total;
}

void compareConfigs(const ModelConfig &a, const ModelConfig &b)
{
    QCOMPARE(a.architecture, b.architecture);
    QCOMPARE(a.vocabSize, b.vocabSize);
    QCOMPARE(a.hiddenSize, b.hiddenSize);
    QCOMPARE(a.intermediateSize, b.intermediateSize);
    QCOMPARE(a.numHiddenLayers, b.numHiddenLayers);
    QCOMPARE(a.numAttentionHeads, b.numAttentionHeads);
    QCOMPARE(a.numKeyValueHeads, b.numKeyValueHeads);
    QCOMPARE(a.headDim, b.headDim);
    QCOMPARE(a.maxPositionEmbeddings, b.maxPositionEmbeddings);
    QCOMPARE(a.rmsNormEps, b.rmsNormEps);
    QCOMPARE(a.ropeTheta, b.ropeTheta);
    QCOMPARE(a.tieWordEmbeddings, b.tieWordEmbeddings);
    QCOMPARE(a.attentionBias, b.attentionBias);
    QCOMPARE(a.attentionOutputBias, b.attentionOutputBias);
    QCOMPARE(a.qkNorm, b.qkNorm);
    QCOMPARE(a.bosTokenId, b.bosTokenId);
    QCOMPARE(a.eosTokenId, b.eosTokenId);
    QCOMPARE(a.padTokenId, b.padTokenId);
    QCOMPARE(a.torchDtype, b.torchDtype);
}

} // namespace

class TestModelConfig : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesQwen2();
    void parsesQwen3();
    void parsesLlama();
    void defaultsAndVariants();
    void tokenIds();
    void unsupported_data();
    void unsupported();
    void toJsonRoundTrip_data();
    void toJsonRoundTrip();
    void toJsonFields();
    void validateRejectsUnrepresentable();
    void presets();
    void tensorShapesMatchParameterCount();
};

void TestModelConfig::parsesQwen2()
{
    const ModelConfig c = parseModelConfigJson(kQwen25, "qwen/config.json");
    QCOMPARE(c.architecture, Architecture::Qwen2);
    QCOMPARE(c.vocabSize, 151936);
    QCOMPARE(c.hiddenSize, 896);
    QCOMPARE(c.intermediateSize, 4864);
    QCOMPARE(c.numHiddenLayers, 24);
    QCOMPARE(c.numAttentionHeads, 14);
    QCOMPARE(c.numKeyValueHeads, 2);
    QCOMPARE(c.headDim, 64);
    QCOMPARE(c.maxPositionEmbeddings, 32768);
    QCOMPARE(c.rmsNormEps, 1e-6);
    QCOMPARE(c.ropeTheta, 1e6);
    QVERIFY(c.tieWordEmbeddings);
    QVERIFY(c.attentionBias);
    QVERIFY(!c.attentionOutputBias);
    QVERIFY(!c.qkNorm);
    QCOMPARE(c.bosTokenId, std::optional<int64_t>(151643));
    QCOMPARE(c.eosTokenId, std::optional<int64_t>(151645));
    QCOMPARE(c.padTokenId, std::nullopt);
    QCOMPARE(c.torchDtype, std::string("bfloat16"));
    QCOMPARE(c.parameterCount(), int64_t(494032768)); // Qwen2.5-0.5B's published count
}

void TestModelConfig::parsesQwen3()
{
    const ModelConfig c = parseModelConfigJson(kQwen3, "config.json");
    QCOMPARE(c.architecture, Architecture::Qwen3);
    QCOMPARE(c.headDim, 128); // explicit, != hidden / heads (64)
    QVERIFY(c.qkNorm);
    QVERIFY(!c.attentionBias);
    QVERIFY(!c.attentionOutputBias);
    QCOMPARE(c.maxPositionEmbeddings, 40960);
    QCOMPARE(c.ropeTheta, 1e6); // an integer in the file
    // 0.6B total, 0.44B without embeddings (model card).
    QCOMPARE(c.parameterCount(), int64_t(596049920));
    QCOMPARE(c.parameterCount() - c.vocabSize * c.hiddenSize, int64_t(440467456));

    const ModelConfig biased =
        parseModelConfigJson(patched(kQwen3, R"({"attention_bias": true})"), "config.json");
    QVERIFY(biased.attentionBias);
    QVERIFY(biased.attentionOutputBias);
    QCOMPARE(biased.parameterCount() - c.parameterCount(),
             int64_t(28) * (16 * 128 + 2 * 8 * 128 + 1024));
}

void TestModelConfig::parsesLlama()
{
    const ModelConfig c = parseModelConfigJson(kLlama, "config.json");
    QCOMPARE(c.architecture, Architecture::Llama);
    QCOMPARE(c.headDim, 64);
    QVERIFY(!c.attentionBias);
    QVERIFY(!c.qkNorm);
    QVERIFY(!c.tieWordEmbeddings);
    QCOMPARE(c.rmsNormEps, 1e-5);
    QCOMPARE(c.ropeTheta, 10000.0);
    QCOMPARE(c.parameterCount(), int64_t(1100048384)); // TinyLlama-1.1B's published count
}

void TestModelConfig::defaultsAndVariants()
{
    // transformers' defaults for absent optional fields.
    const ModelConfig q = parseModelConfigJson(
        patched(kQwen25, R"({"num_key_value_heads": null, "rope_theta": null,
                             "tie_word_embeddings": null, "torch_dtype": null,
                             "max_position_embeddings": null, "rms_norm_eps": null})"),
        "config.json");
    QCOMPARE(q.numKeyValueHeads, q.numAttentionHeads);
    QCOMPARE(q.ropeTheta, 10000.0);
    QVERIFY(!q.tieWordEmbeddings);
    QCOMPARE(q.torchDtype, std::string("float32"));
    QCOMPARE(q.maxPositionEmbeddings, 32768);

    const ModelConfig q3 =
        parseModelConfigJson(patched(kQwen3, R"({"head_dim": null})"), "config.json");
    QCOMPARE(q3.headDim, 128);
    const ModelConfig l = parseModelConfigJson(
        patched(kLlama, R"({"bos_token_id": null, "eos_token_id": null,
                            "max_position_embeddings": null})"),
        "config.json");
    QCOMPARE(l.maxPositionEmbeddings, 2048);
    QCOMPARE(l.headDim, 64);

    // Architecture from model_type alone; "dtype" (newer transformers); integral floats; a
    // plain-RoPE rope_scaling and rope_parameters.
    const ModelConfig m = parseModelConfigJson(
        patched(kQwen25, R"({"architectures": null, "torch_dtype": null, "dtype": "float16",
                             "hidden_size": 896.0, "rope_scaling": {"rope_type": "default"},
                             "rope_parameters": {"rope_type": "default", "rope_theta": 500000}})"),
        "config.json");
    QCOMPARE(m.architecture, Architecture::Qwen2);
    QCOMPARE(m.torchDtype, std::string("float16"));
    QCOMPARE(m.hiddenSize, 896);
    QCOMPARE(m.ropeTheta, 500000.0);
    // Qwen2 ignores attention_bias: its q/k/v always carry a bias.
    QVERIFY(parseModelConfigJson(patched(kQwen25, R"({"attention_bias": false})"), "c")
                .attentionBias);
}

void TestModelConfig::tokenIds()
{
    const ModelConfig list = parseModelConfigJson(
        patched(kQwen25, R"({"eos_token_id": [151645, 151643], "pad_token_id": 151643})"), "c");
    QCOMPARE(list.eosTokenId, std::optional<int64_t>(151645));
    QCOMPARE(list.padTokenId, std::optional<int64_t>(151643));
    const ModelConfig none = parseModelConfigJson(
        patched(kQwen25, R"({"eos_token_id": [], "bos_token_id": null, "pad_token_id": -1})"), "c");
    QCOMPARE(none.eosTokenId, std::nullopt);
    QCOMPARE(none.bosTokenId, std::nullopt);
    QCOMPARE(none.padTokenId, std::nullopt);
    // LlamaConfig defaults bos/eos to 1/2 when absent.
    json j = json::parse(kLlama);
    j.erase("bos_token_id");
    j.erase("eos_token_id");
    const ModelConfig l = parseModelConfigJson(j.dump(), "c");
    QCOMPARE(l.bosTokenId, std::optional<int64_t>(1));
    QCOMPARE(l.eosTokenId, std::optional<int64_t>(2));
}

void TestModelConfig::unsupported_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("reason");
    auto row = [](const char *name, const std::string &text, const char *reason) {
        QTest::newRow(name) << QString::fromStdString(text) << QString::fromUtf8(reason);
    };
    row("rope_scaling yarn",
        patched(kQwen25, R"({"rope_scaling": {"type": "yarn", "factor": 4.0}})"),
        "rope_scaling");
    row("rope_scaling llama3",
        patched(kLlama, R"({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}})"),
        "rope_scaling");
    row("rope_scaling factor only", patched(kQwen25, R"({"rope_scaling": {"factor": 2.0}})"),
        "rope_scaling");
    row("rope_parameters yarn", patched(kQwen3, R"({"rope_parameters": {"rope_type": "yarn"}})"),
        "rope_parameters");
    row("sliding window", patched(kQwen25, R"({"use_sliding_window": true})"),
        "use_sliding_window true");
    row("layer_types", patched(kQwen3, R"({"layer_types": ["full_attention", "sliding_attention"]})"),
        "layer_types");
    row("gelu", patched(kQwen25, R"({"hidden_act": "gelu"})"), "hidden_act \"gelu\"");
    row("mistral", patched(kQwen25, R"({"architectures": ["MistralForCausalLM"]})"),
        "architecture 'MistralForCausalLM'");
    row("no architecture", patched(kQwen25, R"({"architectures": null, "model_type": null})"),
        "neither 'architectures' nor 'model_type'");
    row("quantised", patched(kQwen25, R"({"quantization_config": {"quant_method": "gptq"}})"),
        "quantization_config");
    row("mlp_bias", patched(kLlama, R"({"mlp_bias": true})"), "mlp_bias");
    row("attention dropout", patched(kQwen25, R"({"attention_dropout": 0.1})"),
        "attention_dropout");
    row("partial rotary", patched(kLlama, R"({"partial_rotary_factor": 0.5})"),
        "partial_rotary_factor");
    row("missing hidden_size", patched(kQwen25, R"({"hidden_size": null})"),
        "required field 'hidden_size' is missing");
    row("missing vocab_size", patched(kLlama, R"({"vocab_size": null})"),
        "required field 'vocab_size'");
    row("string size", patched(kQwen25, R"({"num_hidden_layers": "24"})"),
        "'num_hidden_layers' must be an integer");
    row("zero size", patched(kQwen25, R"({"intermediate_size": 0})"),
        "'intermediate_size' must be positive");
    row("heads vs kv heads", patched(kQwen25, R"({"num_key_value_heads": 3})"),
        "multiple of num_key_value_heads");
    row("hidden vs heads", patched(kQwen25, R"({"num_attention_heads": 13})"),
        "multiple of num_attention_heads");
    row("qwen2 head_dim", patched(kQwen25, R"({"head_dim": 128})"), "head_dim");
    row("float8 dtype", patched(kQwen25, R"({"torch_dtype": "float8_e4m3fn"})"),
        "torch_dtype 'float8_e4m3fn'");
    row("bool as string", patched(kQwen25, R"({"tie_word_embeddings": "yes"})"),
        "'tie_word_embeddings' must be true or false");
    row("bad token id", patched(kQwen25, R"({"eos_token_id": "</s>"})"), "eos_token_id");
    row("huge vocab", patched(kQwen25, R"({"vocab_size": 100000000000})"), "vocab_size");
    row("bad JSON", "{\"hidden_size\": ", "not valid JSON");
    row("not an object", "[1]", "must be a JSON object");
}

void TestModelConfig::unsupported()
{
    QFETCH(QString, text);
    QFETCH(QString, reason);
    try {
        parseModelConfigJson(text.toStdString(), "/models/x/config.json");
        QFAIL("expected core::Error");
    } catch (const Error &e) {
        QCOMPARE(e.kind(), ErrorKind::BadInput);
        const std::string what = e.what();
        QVERIFY2(what.rfind("/models/x/config.json: ", 0) == 0, what.c_str());
        QVERIFY2(what.find(reason.toStdString()) != std::string::npos, what.c_str());
    }
}

void TestModelConfig::toJsonRoundTrip_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("qwen2.5") << QString::fromUtf8(kQwen25);
    QTest::newRow("qwen3") << QString::fromUtf8(kQwen3);
    QTest::newRow("qwen3 biased") << QString::fromStdString(
        patched(kQwen3, R"({"attention_bias": true, "pad_token_id": 0})"));
    QTest::newRow("llama") << QString::fromUtf8(kLlama);
}

void TestModelConfig::toJsonRoundTrip()
{
    QFETCH(QString, text);
    const ModelConfig a = parseModelConfigJson(text.toStdString(), "a");
    const ModelConfig b = parseModelConfigJson(modelConfigToJson(a), "b");
    compareConfigs(a, b);
    for (const std::string &name : presetNames()) {
        ModelConfig p = presetModelConfig(name, 1000);
        p.bosTokenId = 1;
        p.eosTokenId = 2;
        p.padTokenId = 3;
        compareConfigs(p, parseModelConfigJson(modelConfigToJson(p), name));
    }
}

void TestModelConfig::toJsonFields()
{
    const json q2 = json::parse(modelConfigToJson(parseModelConfigJson(kQwen25, "c")));
    QCOMPARE(q2["architectures"], json::array({"Qwen2ForCausalLM"}));
    QCOMPARE(q2["model_type"], "qwen2");
    QCOMPARE(q2["use_sliding_window"], false);
    QCOMPARE(q2["tie_word_embeddings"], true);
    QCOMPARE(q2["torch_dtype"], "bfloat16");
    QCOMPARE(q2["hidden_act"], "silu");
    QVERIFY(q2["rope_scaling"].is_null());
    QVERIFY(!q2.contains("head_dim"));
    QVERIFY(!q2.contains("pad_token_id"));
    QCOMPARE(q2["eos_token_id"], 151645);

    const json q3 = json::parse(modelConfigToJson(parseModelConfigJson(kQwen3, "c")));
    QCOMPARE(q3["model_type"], "qwen3");
    QCOMPARE(q3["head_dim"], 128);
    QCOMPARE(q3["attention_bias"], false);

    const json l = json::parse(modelConfigToJson(parseModelConfigJson(kLlama, "c")));
    QCOMPARE(l["architectures"], json::array({"LlamaForCausalLM"}));
    QCOMPARE(l["model_type"], "llama");
    QCOMPARE(l["mlp_bias"], false);
    QCOMPARE(l["num_key_value_heads"], 4);
    QVERIFY(!l.contains("use_sliding_window"));
}

void TestModelConfig::validateRejectsUnrepresentable()
{
    ModelConfig c = presetModelConfig("preset:tiny", 100);
    c.attentionBias = false; // Qwen2 always has q/k/v bias
    QVERIFY_THROWS_EXCEPTION(Error, modelConfigToJson(c));
    c = presetModelConfig("preset:tiny", 100);
    c.qkNorm = true;
    QVERIFY_THROWS_EXCEPTION(Error, modelConfigToJson(c));
    c = presetModelConfig("preset:tiny", 100);
    c.architecture = Architecture::Llama; // Llama's bias covers o_proj too
    QVERIFY_THROWS_EXCEPTION(Error, modelConfigToJson(c));
    c.attentionOutputBias = true;
    QCOMPARE(parseModelConfigJson(modelConfigToJson(c), "c").attentionOutputBias, true);
    c = presetModelConfig("preset:tiny", 100);
    c.torchDtype = "int8";
    QVERIFY_THROWS_EXCEPTION(Error, modelConfigToJson(c));
}

void TestModelConfig::presets()
{
    QCOMPARE(presetNames(), (std::vector<std::string>{"preset:tiny", "preset:mini", "preset:small",
                                                      "preset:base", "preset:0.5b"}));
    QVERIFY(isPresetName("preset:tiny"));
    QVERIFY(!isPresetName("/models/preset:tiny"));

    // A compact tokenizer of ~12k tokens (byte-level BPE plus SID tokens).
    const int64_t vocab = 12000;
    struct Range
    {
        const char *name;
        double low, high;
    };
    for (const Range &r : {Range{"preset:tiny", 0.5e6, 2e6}, Range{"preset:small", 5e6, 20e6},
                           Range{"preset:base", 25e6, 80e6}}) {
        const ModelConfig c = presetModelConfig(r.name, vocab);
        QCOMPARE(c.architecture, Architecture::Qwen2);
        QVERIFY(c.attentionBias);
        QVERIFY(c.tieWordEmbeddings);
        QCOMPARE(c.vocabSize, vocab);
        const auto n = static_cast<double>(c.parameterCount());
        QVERIFY2(n >= r.low && n <= r.high, (std::string(r.name) + ": " + std::to_string(n)).c_str());
    }
    const ModelConfig tiny = presetModelConfig("preset:tiny", vocab);
    QCOMPARE(tiny.parameterCount() - vocab * 64, int64_t(91200)); // the 2 blocks + final norm

    // preset:0.5b at Qwen2.5's vocabulary is exactly Qwen2.5-0.5B.
    const ModelConfig big = presetModelConfig("preset:0.5b", 151936);
    QCOMPARE(big.parameterCount(), int64_t(494032768));
    compareConfigs(big, [] {
        ModelConfig q = parseModelConfigJson(kQwen25, "c");
        q.bosTokenId = q.eosTokenId = std::nullopt;
        return q;
    }());

    try {
        presetModelConfig("preset:huge", vocab);
        QFAIL("expected core::Error");
    } catch (const Error &e) {
        QCOMPARE(e.kind(), ErrorKind::BadInput);
        QVERIFY(std::string(e.what()).find("preset:huge") != std::string::npos);
        QVERIFY(e.hint().find("preset:tiny") != std::string::npos);
    }
    QVERIFY_THROWS_EXCEPTION(Error, presetModelConfig("preset:tiny", 0));
}

void TestModelConfig::tensorShapesMatchParameterCount()
{
    for (const char *text : {kQwen25, kQwen3, kLlama}) {
        const ModelConfig c = parseModelConfigJson(text, "c");
        QCOMPARE(sumOfShapes(c), c.parameterCount());
    }
    const ModelConfig biased =
        parseModelConfigJson(patched(kLlama, R"({"attention_bias": true})"), "c");
    QCOMPARE(sumOfShapes(biased), biased.parameterCount());

    const auto specs = hfTensorShapes(presetModelConfig("preset:tiny", 100));
    QCOMPARE(specs.front().name, std::string("model.embed_tokens.weight"));
    QCOMPARE(specs.front().shape, (std::vector<int64_t>{100, 64}));
    QCOMPARE(specs.back().name, std::string("model.norm.weight")); // tied: no lm_head
    QCOMPARE(specs.size(), std::size_t(1 + 2 * 12 + 1));
    auto find = [&](const std::string &name) {
        for (const auto &s : specs) {
            if (s.name == name)
                return s.shape;
        }
        return std::vector<int64_t>{};
    };
    QCOMPARE(find("model.layers.1.self_attn.k_proj.weight"), (std::vector<int64_t>{32, 64}));
    QCOMPARE(find("model.layers.1.self_attn.k_proj.bias"), (std::vector<int64_t>{32}));
    QCOMPARE(find("model.layers.0.mlp.down_proj.weight"), (std::vector<int64_t>{64, 172}));
    QVERIFY(find("model.layers.0.self_attn.o_proj.bias").empty());

    const auto q3 = hfTensorShapes(parseModelConfigJson(kQwen3, "c"));
    bool hasQNorm = false;
    for (const auto &s : q3)
        hasQNorm |= s.name == "model.layers.27.self_attn.q_norm.weight" && s.shape == std::vector<int64_t>{128};
    QVERIFY(hasQNorm);
}

QTEST_APPLESS_MAIN(TestModelConfig)
#include "tst_model_config.moc"
