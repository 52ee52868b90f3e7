#pragma once
/// @file model_loading.h
/// Getting a Qwen2ForCausalLM from a model specification ("DIR" or "preset:NAME") and saving it
/// back as a Hugging Face folder; plus a small .npy writer for exported tensors.

#include "training/model/qwen2.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace genrec::train {

/// How loadCausalLm() builds the model.
struct CausalLmLoadOptions
{
    /// Vocabulary rows of a preset model (a folder's vocab comes from its config.json).
    int64_t presetVocabSize = 8192;
    /// Parameter storage dtype. nullopt: float32 on CPU (fastest there, see qwen2.h), the
    /// stored dtype (folder) or the preset's dtype on CUDA.
    std::optional<torch::Dtype> dtype;
    torch::Device device = torch::kCPU;
    /// Seed of the from-scratch initialisation of presets (HF init, std 0.02).
    uint64_t seed = 0;
};

/// Loads an HF model folder (config.json + safetensors; strict name/shape matching) or builds
/// "preset:NAME" initialised from scratch. Throws core::Error(BadInput) for an unknown preset,
/// an unsupported config or weights that do not match it.
Qwen2ForCausalLM loadCausalLm(const std::string &spec, const CausalLmLoadOptions &options = {});

/// Saves the model as an HF folder that transformers loads (config.json with the current
/// vocabulary size, generation_config.json, model.safetensors in `dtype`: "float32" |
/// "bfloat16" | "float16"). The folder is written atomically (see saveHfFolder()).
void saveCausalLm(Qwen2ForCausalLMImpl &model, const std::string &dir,
                  const std::string &dtype = "bfloat16");

/// Writes `tensor` (any floating dtype, any device) as a little-endian float32 .npy file
/// (format 1.0, C order). Throws core::Error(Runtime) naming the path when it cannot be written.
void writeNpyFloat32(const std::string &path, const torch::Tensor &tensor);

} // namespace genrec::train
