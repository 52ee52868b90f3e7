#pragma once
/// @file stage_common.h
/// Pieces every training stage (SFT, GRPO) shares: saving and restoring what a fine-tuning type
/// trains, gradient-norm clipping that honours row-restricted parameters, the final model export,
/// and small process probes.

#include "training/engine/run_context.h"
#include "training/optim/optimizer.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace genrec::train {

/// Seconds on a monotonic clock.
double monotonicSeconds();
/// Resident set size of this process in MiB (/proc/self/statm). CPU memory only, also on CUDA.
double residentMb();
/// CUDA memory of `device` in MiB from c10's caching allocator: tensors allocated now and the
/// peak since start (`*peakMb`). -1 (and -1) on CPU, or when this build has no CUDA.
double cudaMemoryMb(const torch::Device &device, double *peakMb = nullptr);

/// Saves the RNG state of a checkpoint into `dir`: `rng.pt` (the CPU generator) and, when the
/// run is on CUDA, `rng_cuda.pt` (that device's default generator: dropout there draws from it).
void saveRngState(const RunContext &ctx, const std::string &dir);
/// Restores what saveRngState() wrote (`rng_cuda.pt` only when present and the run is on CUDA).
void loadRngState(const RunContext &ctx, const std::string &dir);

/// Writes what the run's fine-tuning type trains into `dir`: `model.safetensors` (fp32, every
/// weight) for full / freeze, PEFT's adapter files (adapter_config.json,
/// adapter_model.safetensors with the new SID rows) for lora / qlora.
void saveTrainedWeights(RunContext &ctx, const std::string &dir);
/// Restores what saveTrainedWeights() wrote (strict: names and shapes must match; a folder
/// with adapter files is read as an adapter, one with model.safetensors as full weights).
/// Throws core::Error(BadInput) naming the file.
void loadTrainedWeights(RunContext &ctx, const std::string &dir);

/// L2 norm of the trainable gradients (row-restricted parameters count their rows only);
/// when maxNorm > 0 and the norm exceeds it, scales those gradients by maxNorm / norm
/// (torch.nn.utils.clip_grad_norm_ semantics). Returns the norm before clipping. Sums in fp64
/// on the gradients' device and reads the result once (one device sync on CUDA).
double clipTrainableGradNorm(const TrainableSet &trainable, double maxNorm);

/// Exports the stage's final model to `dir` with the tokenizer: an HF folder (config.json,
/// model.safetensors in bf16 when config.bf16 else fp32, tokenizer files) for full / freeze;
/// for lora / qlora the adapter files plus the tokenizer (the base stays where it was).
void saveFinalModel(RunContext &ctx, const std::string &dir);

/// Records what the stage's metric writes cost: an event `store_cost` with {"store_s",
/// "train_s", "fraction"} (store seconds / optimiser-step seconds) and a log line.
void reportStoreCost(RunContext &ctx, const std::string &stage, int64_t step, double storeSeconds,
                     double trainSeconds);

/// The checkpoint folders of one stage, `<output_dir>/checkpoints/<stage>-step<N>`.
///
/// save() builds a folder beside its target and swaps it into place with an fsync and an atomic
/// rename (StagingDir), so a kill, crash or full disk leaves either the previous checkpoint or
/// the complete new one, never a half-written one. It records the checkpoint in the run store,
/// marks the best one, and applies save_total_limit: the oldest checkpoints that are neither the
/// newest nor the best are deleted, folder and store row. loadBestAtEnd() is
/// load_best_model_at_end.
class CheckpointKeeper
{
public:
    CheckpointKeeper(RunContext &ctx, std::string stage) : m_ctx(ctx), m_stage(std::move(stage)) {}

    /// Writes checkpoint `step`: what the fine-tuning type trains, `optimizer`'s state, the RNG
    /// state, then `extra(dir)` (the trainer's own files, may be empty); `state` (the trainer's
    /// resume fields) becomes its trainer_state.json with "stage", "step", "seed", "best_path" and
    /// "best_step" added. Returns the final path.
    std::string save(int64_t step, Optimizer &optimizer, nlohmann::json state,
                     const std::function<void(const std::string &dir)> &extra,
                     const std::string &metric, double value, bool isBest, int64_t saveTotalLimit);
    /// On resume: the best checkpoint named by a trainer_state.json that save() wrote.
    void restore(const nlohmann::json &state);
    /// Loads the best checkpoint's trained weights when it is not the current step (and still
    /// exists), with an event and a log line naming `metric` and its value. Returns whether it did.
    bool loadBestAtEnd(int64_t currentStep, const std::string &metric, double value);

    const std::string &bestPath() const { return m_bestPath; }
    int64_t bestStep() const { return m_bestStep; }

private:
    RunContext &m_ctx;
    std::string m_stage;
    std::vector<std::pair<int64_t, std::string>> m_kept; ///< (store id, path), oldest first
    int64_t m_bestId = -1;
    std::string m_bestPath; ///< "" = no best checkpoint yet
    int64_t m_bestStep = -1;
};

/// Writes `text` to `path` durably (fsync). Throws core::Error(Runtime) naming the path.
void writeStateFile(const std::string &path, const std::string &text);
/// Reads a checkpoint's text file. Throws core::Error(BadInput) naming the path.
std::string readStateFile(const std::string &path);

} // namespace genrec::train
