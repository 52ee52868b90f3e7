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
    bool qkNorm = false;              ///< per-head RMSNorm on q and k (Qwen3)
    std::optional<int64_t> bosTokenId;
    std::optional<int64_t> eosTokenId;
    std::optional<int64_t> padTokenId;
    std::string torchDtype = "float32"; ///< "float32" | "bfloat16" | "float16", as stored

    /// Parameter count of the architecture (embeddings counted once when tied).
    int64_t parameterCount() const;
};

/// Parses an HF `config.json` text. Unsupported settings (rope_scaling, sliding windows, an
/// activation other than silu, an unknown architecture) throw core::Error(BadInput) naming the
/// field and `source` (the file path, for messages).
ModelConfig parseModelConfigJson(const std::string &jsonText, const std::string &source);

/// Serialises to an HF `config.json` that transformers' from_pretrained loads.
std::string modelConfigToJson(const ModelConfig &config);

/// Built-in from-scratch presets: "preset:tiny" (~1M params), "preset:small" (~10M),
/// "preset:base" (~50M), "preset:0.5b" (Qwen2.5-0.5B shape, for GPU benchmarks).
/// `vocabSize` is the tokenizer size the preset will be built for.
/// Throws core::Error(BadInput) for an unknown name, listing the known ones.
ModelConfig presetModelConfig(const std::string &name, int64_t vocabSize);
std::vector<std::string> presetNames();
bool isPresetName(const std::string &nameOrPath);

} // namespace genrec::train
