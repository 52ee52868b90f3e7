#pragma once
/// @file stage_common.h
/// Pieces every training stage (SFT, GRPO) shares: saving and restoring what a fine-tuning type
/// trains, gradient-norm clipping that honours row-restricted parameters, the final model export,
/// and small process probes.

#include "training/engine/run_context.h"

#include <torch/torch.h>

#include <string>

namespace genrec::train {

/// Seconds on a monotonic clock.
double monotonicSeconds();
/// Resident set size of this process in MiB (/proc/self/statm).
double residentMb();

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
/// (torch.nn.utils.clip_grad_norm_ semantics). Returns the norm before clipping.
double clipTrainableGradNorm(const TrainableSet &trainable, double maxNorm);

/// Exports the stage's final model to `dir` with the tokenizer: an HF folder (config.json,
/// model.safetensors in bf16 when config.bf16 else fp32, tokenizer files) for full / freeze;
/// for lora / qlora the adapter files plus the tokenizer (the base stays where it was).
void saveFinalModel(RunContext &ctx, const std::string &dir);

} // namespace genrec::train
