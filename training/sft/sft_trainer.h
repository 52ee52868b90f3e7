#pragma once
/// @file sft_trainer.h
/// Supervised fine-tuning (minionerec-spec §4): the task mixture of prompts.h, tokenised and
/// masked by sft_data.h, trained with AdamW, gradient accumulation (loss normalised over the
/// supervised tokens of all micro-batches of a step), grad-norm clipping, linear | cosine |
/// constant schedule with warmup, periodic validation loss on the valid split (next-SID task),
/// early stopping on metric_for_best_model, and resumable checkpoints.
///
/// Data order: the examples are shuffled once per epoch with shuffleIndices(N, seed + epoch);
/// a step takes the next batch*accum examples of that stream (crossing epochs), so the data
/// cursor is one integer and a resumed run sees exactly the same batches.
///
/// What trains comes from RunContext::trainable (finetuning_type) and the optimiser from
/// makeOptimizer() (sft.optim). With sft.eval_ranking, each evaluation also runs constrained
/// beam search on the valid split (eval_hr@K, eval_ndcg@K, ... metrics; an eval_results row),
/// so metric_for_best_model may be ndcg@K / hr@K.
///
/// Checkpoint `<output_dir>/checkpoints/sft-step<N>/` (written as `….tmp`, then renamed):
/// the trained weights (saveTrainedWeights: model.safetensors, or the LoRA adapter),
/// optimizer.safetensors + optimizer.json, rng.pt (torch default generator state),
/// trainer_state.json (step, cursor, best metric,
/// patience counter, total steps). On CPU with the same thread count a run stopped and resumed
/// from a checkpoint ends bit-identical to an uninterrupted one.

#include "training/engine/run_context.h"
#include "training/eval/evaluator.h"

#include <cstdint>
#include <string>

namespace genrec::train {

/// How a stage ended.
struct StageResult
{
    std::string status;       ///< "finished" | "stopped"
    int64_t steps = 0;        ///< optimiser steps done in total
    double lastLoss = 0;
    double lastEvalLoss = -1; ///< -1 when never evaluated
    std::string bestMetric;
    double bestValue = 0;
    int64_t bestStep = -1;    ///< step of the best evaluation (its weights are loaded at the end)
    std::string lastCheckpoint; ///< path ("" when none)
};

/// HF's lr multiplier at optimiser step `step` (0-based) of `total` with `warmup` steps.
double lrMultiplier(const std::string &schedule, int64_t step, int64_t total, int64_t warmup);

/// Resolves eval_steps / save_steps: < 1 = ceil(fraction * total), else the value itself.
int64_t resolveInterval(double value, int64_t total);

class SftTrainer
{
public:
    explicit SftTrainer(RunContext &ctx);
    ~SftTrainer();

    /// Builds the datasets and the optimiser; with `resumeDir`, restores a checkpoint.
    void setup(const std::string &resumeDir = {});
    /// Runs until max steps, early stopping or a stop request. Throws core::Error(Runtime)
    /// naming the step for a non-finite loss (no checkpoint is written for it).
    StageResult train();
    /// Writes a checkpoint of the current state; returns its path.
    std::string saveCheckpoint(const std::string &metric = {}, double value = 0, bool isBest = false);
    /// Writes `<output_dir>/sft/final_checkpoint` (HF folder with the tokenizer).
    void cleanup();

    /// HR/NDCG of constrained beam search on the first sft.eval_max_samples valid rows
    /// (eval.num_beams beams, eval.topk).
    EvalReport evaluateRanking();
    /// Validation loss over the valid split's next-SID examples.
    double evaluateLoss();
    int64_t totalSteps() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// The newest checkpoint folder of `stage` recorded for the run that still exists ("" = none).
std::string latestCheckpoint(core::RunStore &store, int64_t runId, const std::string &stage);

} // namespace genrec::train
