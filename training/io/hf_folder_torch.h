#pragma once
/// @file hf_folder_torch.h
/// The Torch bridge of the model-file I/O: safetensors ↔ at::Tensor, and loading and saving
/// whole Hugging Face model folders. The parsing lives Torch-free in safetensors.h and
/// hf_folder.h; this file only copies bytes into and out of tensors.

#include "training/io/hf_folder.h"
#include "training/io/safetensors.h"
#include "training/model/model_config.h"

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace genrec::train {

/// Named tensors under their HF checkpoint names ("model.layers.0.mlp.up_proj.weight").
using StateDict = std::unordered_map<std::string, at::Tensor>;

/// Progress of a long operation in bytes; returning false cancels it (style rule 8).
using ProgressCallback = std::function<bool(std::int64_t done, std::int64_t total)>;

/// The Torch type of a safetensors dtype, and back. fromScalarType() throws
/// core::Error(BadInput) for types safetensors.h does not support (complex, quantised, …).
at::ScalarType toScalarType(DType dtype);
DType fromScalarType(at::ScalarType type);

/// Copies one stored tensor into a new CPU tensor of its shape (row-major, owning its memory,
/// independent of the file). Floating tensors are converted to `floatType` when given; other
/// types are kept. BOOL bytes other than 0/1 read as true.
at::Tensor tensorFromSafetensors(const SafetensorsFile &file, const TensorInfo &info,
                                 std::optional<at::ScalarType> floatType = std::nullopt);

/// How to load weights.
struct LoadOptions
{
    /// Convert every floating tensor to this type (e.g. at::kFloat for training on CPU);
    /// std::nullopt keeps the stored types.
    std::optional<at::ScalarType> floatType;
    /// Called once before the first tensor (done = 0) and after each tensor with the bytes read
    /// so far and in total. Returning false stops the load with core::Error(Interrupted).
    ProgressCallback progress;
    /// loadHfFolder(): compare the loaded names and shapes with hfTensorShapes(config) and throw
    /// core::Error(BadInput) listing missing / unexpected / mis-shaped tensors. When false, the
    /// comparison is left to the caller (see diffStateDict()).
    bool strict = true;
};

/// Loads every tensor of one .safetensors file. Throws core::Error(BadInput) for a malformed
/// file, core::Error(Interrupted) when cancelled.
StateDict loadSafetensors(const std::string &path, const LoadOptions &options = {});

/// Loads the weights of a model folder (single file or sharded, see openSafetensorsFolder()).
StateDict loadSafetensorsFolder(const std::string &dir, const LoadOptions &options = {});

/// A loaded model folder.
struct HfModel
{
    ModelConfig config;
    StateDict tensors; ///< HF names; without lm_head.weight when the embeddings are tied
};

/// Reads `dir/config.json` and the weights. With tied embeddings a stored lm_head.weight is
/// dropped (transformers ties it to embed_tokens too). Throws core::Error(BadInput) for an
/// unsupported config, a malformed file or (strict) weights that do not match the config.
HfModel loadHfFolder(const std::string &dir, const LoadOptions &options = {});

/// Names and shapes of a state dict, for diffStateDict() / checkStateDict().
std::vector<TensorShape> tensorShapes(const StateDict &tensors);

/// Writes `tensors` to one .safetensors file (atomically, see SafetensorsWriter); floating
/// tensors are converted to `floatType` (F32, BF16 or F16), others keep their type. The tensors
/// may live on any device; they are copied to the CPU one at a time.
/// Metadata defaults to {"format": "pt"}, which transformers expects.
void saveSafetensors(const std::string &path, const StateDict &tensors, DType floatType,
                     const std::map<std::string, std::string> &metadata = {{"format", "pt"}});

/// How to save a model folder.
struct SaveHfOptions
{
    DType dtype = DType::BF16; ///< type of the floating weights; also config.json's torch_dtype
    /// Extra files by plain file name (e.g. tokenizer.json, tokenizer_config.json) → contents.
    std::map<std::string, std::string> extraFiles;
    /// Called with the staging folder to write more files into it, e.g.
    /// `[&](const std::string &d) { tokenizer.save(d); }`.
    std::function<void(const std::string &dir)> writeExtraFiles;
};

/// Writes an HF model folder that transformers' from_pretrained loads: config.json (torch_dtype
/// set from options.dtype), generation_config.json (bos/eos/pad), model.safetensors (without
/// lm_head.weight when tied) and the extra files. Everything is written into
/// `<dir>.tmp-XXXXXX` and then swapped into place (see StagingDir), so `dir` is never half
/// written. `tensors` must match hfTensorShapes(config) (else core::Error(Runtime) listing the
/// differences); an existing non-model folder is never replaced (core::Error(BadInput)).
void saveHfFolder(const std::string &dir, const ModelConfig &config, const StateDict &tensors,
                  const SaveHfOptions &options = {});

} // namespace genrec::train
