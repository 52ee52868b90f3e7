#include "training/model/model_config.h"

#include "core/common/error.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace genrec::train {

using core::throwBadInput;
using json = nlohmann::json;

namespace {

constexpr const char *kSupportedHint =
    "Supported: Qwen2ForCausalLM, Qwen3ForCausalLM and LlamaForCausalLM with plain RoPE, full "
    "attention and SiLU, unquantised.";

[[noreturn]] void unsupported(const std::string &source, const std::string &what)
{
    throwBadInput(source + ": " + what + " is unsupported", kSupportedHint);
}

std::string preview(const json &value)
{
    std::string s = value.dump();
    return s.size() > 80 ? s.substr(0, 80) + "…" : s;
}

bool present(const json &root, const char *field)
{
    return root.contains(field) && !root[field].is_null();
}

/// An integer field; integral floats ("896.0") are accepted as transformers does.
std::optional<int64_t> intField(const json &root, const char *field, const std::string &source)
{
    if (!present(root, field))
        return std::nullopt;
    const json &v = root[field];
    if (v.is_number_integer())
        return v.get<int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
            return static_cast<int64_t>(d);
    }
    throwBadInput(source + ": field '" + field + "' must be an integer (got " + preview(v) + ")");
}

int64_t sizeField(const json &root, const char *field, const std::string &source,
                  std::optional<int64_t> fallback)
{
    const auto v = intField(root, field, source);
    if (!v && !fallback)
        throwBadInput(source + ": required field '" + field + "' is missing",
                      "A Hugging Face config.json states every size of the model.");
    const int64_t value = v ? *v : *fallback;
    if (value <= 0)
        throwBadInput(source + ": field '" + field + "' must be positive (got "
                      + std::to_string(value) + ")");
    return value;
}

double numberField(const json &root, const char *field, const std::string &source,
                   double fallback)
{
    if (!present(root, field))
        return fallback;
    if (!root[field].is_number())
        throwBadInput(source + ": field '" + field + "' must be a number (got "
                      + preview(root[field]) + ")");
    return root[field].get<double>();
}

bool boolField(const json &root, const char *field, const std::string &source, bool fallback)
{
    if (!present(root, field))
        return fallback;
    if (!root[field].is_boolean())
        throwBadInput(source + ": field '" + field + "' must be true or false (got "
                      + preview(root[field]) + ")");
    return root[field].get<bool>();
}

/// A token id: an integer, or a list whose first entry is used (eos_token_id often is one).
/// Negative ids mean "none", as some exporters write -1.
std::optional<int64_t> tokenIdField(const json &root, const char *field,
                                    const std::string &source)
{
    if (!present(root, field))
        return std::nullopt;
    json v = root[field];
    if (v.is_array()) {
        if (v.empty())
            return std::nullopt;
        v = v.front();
    }
    if (!v.is_number_integer())
        throwBadInput(source + ": field '" + field + "' must be a token id or a list of them (got "
                      + preview(root[field]) + ")");
    const int64_t id = v.get<int64_t>();
    return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
}

/// rope_scaling / rope_parameters: only the plain ("default") RoPE is supported.
void checkRope(const json &value, const char *field, const std::string &source)
{
    if (value.is_null())
        return;
    if (!value.is_object())
        throwBadInput(source + ": field '" + std::string(field) + "' must be an object or null");
    for (const char *key : {"rope_type", "type"}) {
        if (value.contains(key) && value[key] != "default")
            unsupported(source, std::string(field) + " " + preview(value)
                                    + " (only plain RoPE; remove the scaling or use a model "
                                      "without it)");
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
        if (it.key() != "rope_type" && it.key() != "type" && it.key() != "rope_theta")
            unsupported(source, std::string(field) + " " + preview(value));
    }
}

} // namespace

std::string architectureClassName(Architecture architecture)
{
    switch (architecture) {
    case Architecture::Qwen2:
        return "Qwen2ForCausalLM";
    case Architecture::Qwen3:
        return "Qwen3ForCausalLM";
    case Architecture::Llama:
        return "LlamaForCausalLM";
    }
    return {};
}

std::string architectureModelType(Architecture architecture)
{
    switch (architecture) {
    case Architecture::Qwen2:
        return "qwen2";
    case Architecture::Qwen3:
        return "qwen3";
    case Architecture::Llama:
        return "llama";
    }
    return {};
}

int64_t ModelConfig::parameterCount() const
{
    const int64_t qDim = numAttentionHeads * headDim;
    const int64_t kvDim = numKeyValueHeads * headDim;
    int64_t layer = hiddenSize * qDim + 2 * hiddenSize * kvDim + qDim * hiddenSize; // q k v o
    if (attentionBias)
        layer += qDim + 2 * kvDim;
    if (attentionOutputBias)
        layer += hiddenSize;
    if (qkNorm)
        layer += 2 * headDim;
    layer += 3 * hiddenSize * intermediateSize; // gate, up, down
    layer += 2 * hiddenSize;                    // input and post-attention RMSNorm
    const int64_t embedding = vocabSize * hiddenSize;
    return embedding + numHiddenLayers * layer + hiddenSize + (tieWordEmbeddings ? 0 : embedding);
}

std::vector<HfTensorSpec> hfTensorShapes(const ModelConfig &c)
{
    const int64_t H = c.hiddenSize, I = c.intermediateSize, V = c.vocabSize;
    const int64_t qDim = c.numAttentionHeads * c.headDim;
    const int64_t kvDim = c.numKeyValueHeads * c.headDim;
    std::vector<HfTensorSpec> specs;
    specs.push_back({"model.embed_tokens.weight", {V, H}});
    for (int64_t l = 0; l < c.numHiddenLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        specs.push_back({p + "self_attn.q_proj.weight", {qDim, H}});
        if (c.attentionBias)
            specs.push_back({p + "self_attn.q_proj.bias", {qDim}});
        specs.push_back({p + "self_attn.k_proj.weight", {kvDim, H}});
        if (c.attentionBias)
            specs.push_back({p + "self_attn.k_proj.bias", {kvDim}});
        specs.push_back({p + "self_attn.v_proj.weight", {kvDim, H}});
        if (c.attentionBias)
            specs.push_back({p + "self_attn.v_proj.bias", {kvDim}});
        specs.push_back({p + "self_attn.o_proj.weight", {H, qDim}});
        if (c.attentionOutputBias)
            specs.push_back({p + "self_attn.o_proj.bias", {H}});
        if (c.qkNorm) {
            specs.push_back({p + "self_attn.q_norm.weight", {c.headDim}});
            specs.push_back({p + "self_attn.k_norm.weight", {c.headDim}});
        }
        specs.push_back({p + "mlp.gate_proj.weight", {I, H}});
        specs.push_back({p + "mlp.up_proj.weight", {I, H}});
        specs.push_back({p + "mlp.down_proj.weight", {H, I}});
        specs.push_back({p + "input_layernorm.weight", {H}});
        specs.push_back({p + "post_attention_layernorm.weight", {H}});
    }
    specs.push_back({"model.norm.weight", {H}});
    if (!c.tieWordEmbeddings)
        specs.push_back({"lm_head.weight", {V, H}});
    return specs;
}

void validateModelConfig(const ModelConfig &c, const std::string &source)
{
    auto check = [&](bool ok, const std::string &message) {
        if (!ok)
            throwBadInput(source + ": " + message);
    };
    auto range = [&](int64_t value, int64_t max, const char *field) {
        check(value > 0 && value <= max, std::string("field '") + field + "' must be in [1, "
                                             + std::to_string(max) + "] (got "
                                             + std::to_string(value) + ")");
    };
    // The caps keep parameterCount() and tensor sizes far from int64 overflow.
    range(c.vocabSize, int64_t{1} << 24, "vocab_size");
    range(c.hiddenSize, int64_t{1} << 20, "hidden_size");
    range(c.intermediateSize, int64_t{1} << 22, "intermediate_size");
    range(c.numHiddenLayers, 4096, "num_hidden_layers");
    range(c.numAttentionHeads, 4096, "num_attention_heads");
    range(c.numKeyValueHeads, 4096, "num_key_value_heads");
    range(c.headDim, 4096, "head_dim");
    range(c.maxPositionEmbeddings, int64_t{1} << 30, "max_position_embeddings");
    check(c.numAttentionHeads % c.numKeyValueHeads == 0,
          "num_attention_heads (" + std::to_string(c.numAttentionHeads)
              + ") must be a multiple of num_key_value_heads ("
              + std::to_string(c.numKeyValueHeads) + ")");
    check(std::isfinite(c.rmsNormEps) && c.rmsNormEps > 0, "rms_norm_eps must be positive");
    check(std::isfinite(c.ropeTheta) && c.ropeTheta > 0, "rope_theta must be positive");
    check(c.torchDtype == "float32" || c.torchDtype == "bfloat16" || c.torchDtype == "float16",
          "torch_dtype '" + c.torchDtype + "' is unsupported (float32, bfloat16 or float16)");
    switch (c.architecture) {
    case Architecture::Qwen2:
        check(c.attentionBias && !c.attentionOutputBias && !c.qkNorm,
              "Qwen2 has q/k/v biases, no o_proj bias and no q/k norm");
        check(c.hiddenSize % c.numAttentionHeads == 0
                  && c.headDim == c.hiddenSize / c.numAttentionHeads,
              "Qwen2 needs head_dim == hidden_size / num_attention_heads");
        break;
    case Architecture::Qwen3:
        check(c.qkNorm, "Qwen3 has q/k norm");
        check(c.attentionBias == c.attentionOutputBias,
              "Qwen3's attention_bias covers q/k/v and o_proj together");
        break;
    case Architecture::Llama:
        check(!c.qkNorm, "Llama has no q/k norm");
        check(c.attentionBias == c.attentionOutputBias,
              "Llama's attention_bias covers q/k/v and o_proj together");
        break;
    }
}

ModelConfig parseModelConfigJson(const std::string &jsonText, const std::string &source)
{
    json root;
    try {
        root = json::parse(jsonText);
    } catch (const json::exception &e) {
        throwBadInput(source + ": not valid JSON (" + e.what() + ")");
    }
    if (!root.is_object())
        throwBadInput(source + ": config.json must be a JSON object");

    ModelConfig c;
    std::string archName;
    if (present(root, "architectures")) {
        const json &a = root["architectures"];
        if (!a.is_array() || a.empty() || !a.front().is_string())
            throwBadInput(source + ": field 'architectures' must be a list of class names");
        archName = a.front().get<std::string>();
    } else if (present(root, "model_type") && root["model_type"].is_string()) {
        archName = root["model_type"].get<std::string>();
    } else {
        throwBadInput(source + ": neither 'architectures' nor 'model_type' is set",
                      kSupportedHint);
    }
    if (archName == "Qwen2ForCausalLM" || archName == "qwen2")
        c.architecture = Architecture::Qwen2;
    else if (archName == "Qwen3ForCausalLM" || archName == "qwen3")
        c.architecture = Architecture::Qwen3;
    else if (archName == "LlamaForCausalLM" || archName == "llama")
        c.architecture = Architecture::Llama;
    else
        unsupported(source, "architecture '" + archName + "'");
    const bool llama = c.architecture == Architecture::Llama;

    if (present(root, "quantization_config"))
        unsupported(source, "quantization_config (quantised checkpoint)");
    if (present(root, "hidden_act")) {
        const json &act = root["hidden_act"];
        if (!act.is_string() || (act != "silu" && act != "swish"))
            unsupported(source, "hidden_act " + preview(act) + " (only silu)");
    }
    if (boolField(root, "use_sliding_window", source, false))
        unsupported(source, "use_sliding_window true (sliding-window attention)");
    if (present(root, "layer_types")) {
        const json &types = root["layer_types"];
        if (!types.is_array())
            throwBadInput(source + ": field 'layer_types' must be a list");
        for (const json &t : types) {
            if (t != "full_attention")
                unsupported(source, "layer_types entry " + preview(t) + " (only full_attention)");
        }
    }
    if (present(root, "rope_scaling"))
        checkRope(root["rope_scaling"], "rope_scaling", source);
    if (boolField(root, "mlp_bias", source, false))
        unsupported(source, "mlp_bias true");
    if (numberField(root, "attention_dropout", source, 0.0) != 0.0)
        unsupported(source, "a non-zero attention_dropout");
    if (numberField(root, "partial_rotary_factor", source, 1.0) != 1.0)
        unsupported(source, "partial_rotary_factor other than 1");

    c.vocabSize = sizeField(root, "vocab_size", source, std::nullopt);
    c.hiddenSize = sizeField(root, "hidden_size", source, std::nullopt);
    c.intermediateSize = sizeField(root, "intermediate_size", source, std::nullopt);
    c.numHiddenLayers = sizeField(root, "num_hidden_layers", source, std::nullopt);
    c.numAttentionHeads = sizeField(root, "num_attention_heads", source, std::nullopt);
    c.numKeyValueHeads = sizeField(root, "num_key_value_heads", source, c.numAttentionHeads);
    if (c.architecture == Architecture::Qwen2 && c.hiddenSize % c.numAttentionHeads != 0)
        throwBadInput(source + ": hidden_size (" + std::to_string(c.hiddenSize)
                      + ") must be a multiple of num_attention_heads ("
                      + std::to_string(c.numAttentionHeads) + ")");
    // transformers' defaults: Qwen3Config has head_dim 128; the others derive it.
    std::optional<int64_t> derivedHeadDim;
    if (c.architecture == Architecture::Qwen3)
        derivedHeadDim = 128;
    else if (c.hiddenSize % c.numAttentionHeads == 0)
        derivedHeadDim = c.hiddenSize / c.numAttentionHeads;
    c.headDim = c.architecture == Architecture::Qwen2
        ? derivedHeadDim.value_or(0)
        : sizeField(root, "head_dim", source, derivedHeadDim);
    if (c.architecture == Architecture::Qwen2 && present(root, "head_dim")
        && intField(root, "head_dim", source) != derivedHeadDim)
        unsupported(source, "a Qwen2 head_dim other than hidden_size / num_attention_heads");
    c.maxPositionEmbeddings =
        sizeField(root, "max_position_embeddings", source, llama ? 2048 : 32768);
    c.rmsNormEps = numberField(root, "rms_norm_eps", source, 1e-6);
    c.ropeTheta = numberField(root, "rope_theta", source, 10000.0);
    if (present(root, "rope_parameters")) {
        const json &rope = root["rope_parameters"];
        checkRope(rope, "rope_parameters", source);
        if (rope.is_object() && rope.contains("rope_theta"))
            c.ropeTheta = numberField(rope, "rope_theta", source, c.ropeTheta);
    }
    c.tieWordEmbeddings = boolField(root, "tie_word_embeddings", source, false);
    switch (c.architecture) {
    case Architecture::Qwen2:
        c.attentionBias = true;
        break;
    case Architecture::Qwen3:
        c.qkNorm = true;
        [[fallthrough]];
    case Architecture::Llama:
        c.attentionBias = c.attentionOutputBias = boolField(root, "attention_bias", source, false);
        break;
    }

    c.bosTokenId = tokenIdField(root, "bos_token_id", source);
    c.eosTokenId = tokenIdField(root, "eos_token_id", source);
    c.padTokenId = tokenIdField(root, "pad_token_id", source);
    if (llama) {
        // LlamaConfig's defaults.
        if (!root.contains("bos_token_id"))
            c.bosTokenId = 1;
        if (!root.contains("eos_token_id"))
            c.eosTokenId = 2;
    }

    // Newer transformers write "dtype" instead of "torch_dtype".
    for (const char *field : {"torch_dtype", "dtype"}) {
        if (!present(root, field))
            continue;
        const json &d = root[field];
        const std::string name = d.is_string() ? d.get<std::string>() : preview(d);
        if (name == "float32" || name == "bfloat16" || name == "float16")
            c.torchDtype = name;
        else
            unsupported(source, std::string(field) + " '" + name + "'");
        break;
    }

    validateModelConfig(c, source);
    return c;
}

std::string modelConfigToJson(const ModelConfig &c)
{
    validateModelConfig(c, "model config");
    json j; // nlohmann sorts keys, as transformers does
    j["architectures"] = {architectureClassName(c.architecture)};
    j["model_type"] = architectureModelType(c.architecture);
    j["attention_dropout"] = 0.0;
    j["hidden_act"] = "silu";
    j["hidden_size"] = c.hiddenSize;
    j["initializer_range"] = 0.02;
    j["intermediate_size"] = c.intermediateSize;
    j["max_position_embeddings"] = c.maxPositionEmbeddings;
    j["num_attention_heads"] = c.numAttentionHeads;
    j["num_hidden_layers"] = c.numHiddenLayers;
    j["num_key_value_heads"] = c.numKeyValueHeads;
    j["rms_norm_eps"] = c.rmsNormEps;
    j["rope_scaling"] = nullptr;
    j["rope_theta"] = c.ropeTheta;
    j["tie_word_embeddings"] = c.tieWordEmbeddings;
    j["torch_dtype"] = c.torchDtype;
    j["use_cache"] = true;
    j["vocab_size"] = c.vocabSize;
    if (c.bosTokenId)
        j["bos_token_id"] = *c.bosTokenId;
    if (c.eosTokenId)
        j["eos_token_id"] = *c.eosTokenId;
    if (c.padTokenId)
        j["pad_token_id"] = *c.padTokenId;
    switch (c.architecture) {
    case Architecture::Qwen3:
        j["head_dim"] = c.headDim;
        j["attention_bias"] = c.attentionBias;
        [[fallthrough]];
    case Architecture::Qwen2:
        j["use_sliding_window"] = false;
        j["sliding_window"] = nullptr;
        j["max_window_layers"] = c.numHiddenLayers;
        break;
    case Architecture::Llama:
        j["head_dim"] = c.headDim;
        j["attention_bias"] = c.attentionBias;
        j["mlp_bias"] = false;
        j["pretraining_tp"] = 1;
        break;
    }
    return j.dump(2) + "\n";
}

// ---------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------

namespace {
struct PresetShape
{
    const char *name;
    int64_t hidden, layers, heads, kvHeads, intermediate, maxPositions;
    const char *dtype;
};
constexpr PresetShape kPresets[] = {
    {"preset:tiny", 64, 2, 4, 2, 172, 4096, "float32"},
    {"preset:mini", 128, 4, 4, 2, 344, 4096, "float32"},
    {"preset:small", 256, 6, 8, 2, 688, 4096, "float32"},
    {"preset:base", 512, 12, 8, 2, 1376, 4096, "float32"},
    {"preset:0.5b", 896, 24, 14, 2, 4864, 32768, "bfloat16"},
};
} // namespace

ModelConfig presetModelConfig(const std::string &name, int64_t vocabSize)
{
    for (const PresetShape &p : kPresets) {
        if (name != p.name)
            continue;
        ModelConfig c;
        c.architecture = Architecture::Qwen2;
        c.vocabSize = vocabSize;
        c.hiddenSize = p.hidden;
        c.intermediateSize = p.intermediate;
        c.numHiddenLayers = p.layers;
        c.numAttentionHeads = p.heads;
        c.numKeyValueHeads = p.kvHeads;
        c.headDim = p.hidden / p.heads;
        c.maxPositionEmbeddings = p.maxPositions;
        c.rmsNormEps = 1e-6;
        c.ropeTheta = 1000000.0;
        c.tieWordEmbeddings = true;
        c.attentionBias = true;
        c.torchDtype = p.dtype;
        validateModelConfig(c, name);
        return c;
    }
    std::string known;
    for (const PresetShape &p : kPresets)
        known += (known.empty() ? "" : ", ") + std::string(p.name);
    throwBadInput("unknown model preset '" + name + "'", "Known presets: " + known + ".");
}

std::vector<std::string> presetNames()
{
    std::vector<std::string> names;
    for (const PresetShape &p : kPresets)
        names.emplace_back(p.name);
    return names;
}

bool isPresetName(const std::string &nameOrPath)
{
    return nameOrPath.rfind("preset:", 0) == 0;
}

} // namespace genrec::train
