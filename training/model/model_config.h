#pragma once
/// @file model_config.h
/// The architecture description of a Qwen2-family causal LM, as read from an HF `config.json`
/// (Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM) or built from a preset.
/// Plain struct, no Torch: the studio and the memory estimator read it too.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace genrec::train {

enum class Architecture { Qwen2, Qwen3, Llama };

struct ModelConfig
{
    Architecture architecture = Architecture::Qwen2;
    int64_t vocabSize = 0;            ///< embedding rows (may exceed the tokenizer's size: padding rows)
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numHiddenLayers = 0;
    int64_t numAttentionHeads = 0;
    int64_t numKeyValueHeads = 0;
    int64_t headDim = 0;              ///< explicit for Qwen3, else hiddenSize / numAttentionHeads
    int64_t maxPositionEmbeddings = 32768;
    double rmsNormEps = 1e-6;
    double ropeTheta = 1000000.0;
    bool tieWordEmbeddings = false;
    bool attentionBias = false;       ///< q/k/v projections carry a bias (Qwen2)
    bool attentionOutputBias = false; ///< o_proj carries a bias (Llama/Qwen3 `attention_bias`)
    bool qkNorm = false;              ///< per-head RMSNorm on q and k (Qwen3)
    std::optional<int64_t> bosTokenId;
    std::optional<int64_t> eosTokenId;
    std::optional<int64_t> padTokenId;
    std::string torchDtype = "float32"; ///< "float32" | "bfloat16" | "float16", as stored

    /// Parameter count of the architecture (embeddings counted once when tied).
    int64_t parameterCount() const;
};

/// One weight of the architecture under its HF checkpoint name.
struct HfTensorSpec
{
    std::string name;           ///< e.g. "model.layers.0.self_attn.q_proj.weight"
    std::vector<int64_t> shape; ///< e.g. [numAttentionHeads * headDim, hiddenSize]
};

/// Every weight an HF checkpoint of this architecture holds, in model order: embed_tokens
/// [V, H]; per layer q/k/v/o_proj (+ biases as configured), q_norm/k_norm [headDim] (Qwen3),
/// gate/up_proj [I, H], down_proj [H, I], input/post_attention_layernorm [H]; norm [H]; and
/// lm_head [V, H] unless tieWordEmbeddings. The element counts sum to parameterCount().
std::vector<HfTensorSpec> hfTensorShapes(const ModelConfig &config);

/// The HF class name ("Qwen2ForCausalLM", …) and `model_type` ("qwen2", …).
std::string architectureClassName(Architecture architecture);
std::string architectureModelType(Architecture architecture);

/// Checks internal consistency: positive sizes, heads divisible by KV heads, head_dim set, and
/// that the flags are ones the architecture can express in a config.json (Qwen2: q/k/v bias and
/// no o_proj bias or q/k norm; Qwen3: q/k norm; Llama: no q/k norm; Qwen3/Llama: q/k/v and
/// o_proj bias together). Throws core::Error(BadInput) naming `source` and the field.
void validateModelConfig(const ModelConfig &config, const std::string &source);

/// Parses an HF `config.json` text. Unsupported settings (rope_scaling, sliding windows, an
/// activation other than silu, an unknown architecture) throw core::Error(BadInput) naming the
/// field and `source` (the file path, for messages). Also rejected: quantization_config,
/// mlp_bias, non-zero attention_dropout, layer_types other than full attention,
/// partial_rotary_factor != 1. Missing optional fields take transformers' defaults; the five
/// size fields (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
/// num_attention_heads) are required.
ModelConfig parseModelConfigJson(const std::string &jsonText, const std::string &source);

/// Serialises to an HF `config.json` that transformers' from_pretrained loads (validates first).
std::string modelConfigToJson(const ModelConfig &config);

/// Built-in from-scratch presets: "preset:tiny" (~1M params), "preset:mini" (d=128, 4 layers:
/// ~1.5M with a compact vocabulary, the fast choice for small catalogues on CPU), "preset:small" (~10M),
/// "preset:base" (~50M), "preset:0.5b" (Qwen2.5-0.5B shape, for GPU benchmarks).
/// `vocabSize` is the tokenizer size the preset will be built for.
/// Throws core::Error(BadInput) for an unknown name, listing the known ones.
ModelConfig presetModelConfig(const std::string &name, int64_t vocabSize);
std::vector<std::string> presetNames();
bool isPresetName(const std::string &nameOrPath);

} // namespace genrec::train
