#pragma once
/// @file hf_folder.h
/// Hugging Face model folders without Torch: inspecting one (for the studio's "Open model
/// folder…" and for error messages) and the pieces of writing one atomically. Loading and saving
/// tensors is in hf_folder_torch.h.
///
/// A folder holds `config.json`, the weights (`model.safetensors`, or shards listed in
/// `model.safetensors.index.json`), usually `generation_config.json`, and the tokenizer files.

#include "training/model/model_config.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace genrec::train {

/// What a model folder holds, and what stops it from loading.
struct ModelFolderInfo
{
    std::string dir;
    std::string architecture;          ///< config.json's class name as written, "" if unreadable
    std::optional<ModelConfig> config; ///< set when config.json parses and is supported
    std::int64_t parameterCount = 0;   ///< from the config; 0 without one
    std::int64_t storedParameterCount = 0; ///< element count of all stored weights
    std::uint64_t weightBytes = 0;         ///< bytes of all stored weights
    std::string torchDtype;                ///< config.json's torch_dtype
    std::vector<std::string> storedDTypes; ///< safetensors dtypes present, e.g. {"BF16"}
    std::vector<std::string> weightFiles;  ///< file names, shards in order
    bool sharded = false;                  ///< weights come through model.safetensors.index.json
    bool hasTokenizer = false;             ///< tokenizer.json is present
    std::vector<std::string> tokenizerFiles; ///< the tokenizer files present
    bool hasGenerationConfig = false;
    /// One line per reason the folder cannot be loaded (unsupported config, corrupt or missing
    /// weights, weights that do not match the config). Empty for a loadable folder.
    std::vector<std::string> problems;

    bool loadable() const { return problems.empty(); }
    /// "Qwen2ForCausalLM, 494.0M parameters, bfloat16, 1 weight file, tokenizer".
    std::string summary() const;
};

/// Reads config.json and the safetensors headers (not the tensor data) of `dir` and checks that
/// the stored weights match the config's names and shapes (an extra lm_head.weight is accepted
/// when embeddings are tied). Problems are collected, not thrown; only a `dir` that is not a
/// folder throws core::Error(BadInput).
ModelFolderInfo inspectModelFolder(const std::string &dir);

/// The tokenizer files transformers reads from a model folder.
const std::vector<std::string> &tokenizerFileNames();

/// `generation_config.json` text with the config's bos/eos/pad ids.
std::string generationConfigJson(const ModelConfig &config);

/// Reads a whole text file (at most `maxBytes`). Throws core::Error(BadInput) naming the path.
std::string readTextFile(const std::string &path, std::uint64_t maxBytes = 64ull * 1024 * 1024);

/// Writes `text` to `path` and fsyncs it. Throws core::Error(Runtime) naming the path.
void writeTextFileDurably(const std::string &path, const std::string &text);

/// A folder built beside its target and swapped into place atomically.
///
/// The constructor creates `<target>.tmp-XXXXXX`; the caller fills path(); commit() fsyncs it and
/// renames it over `target` (an existing target is exchanged atomically with renameat2 and then
/// removed), so readers see either the old folder or the complete new one. Destroying an
/// uncommitted StagingDir removes the staging folder.
///
/// For safety an existing, non-empty target is only replaced when it holds `marker` (default
/// config.json: looks like a model folder; a checkpoint folder passes trainer_state.json);
/// otherwise the constructor throws core::Error(BadInput). I/O failures throw
/// core::Error(Runtime).
class StagingDir
{
public:
    explicit StagingDir(std::string target, std::string marker = "config.json");
    ~StagingDir();
    StagingDir(const StagingDir &) = delete;
    StagingDir &operator=(const StagingDir &) = delete;

    const std::string &path() const { return m_path; }
    const std::string &target() const { return m_target; }
    void commit();

private:
    std::string m_target;
    std::string m_marker;
    std::string m_path;
    bool m_committed = false;
};

} // namespace genrec::train
