#pragma once
/// @file grpo_trainer.h
/// The GRPO reinforcement-learning stage (minionerec-spec §6), the `rl:` section of a run.
///
/// Prompts (spec §6.2, with bugs B2, B3 and B5 fixed). Built from the train split and the
/// catalogue, each carrying its own target (no lookup by prompt text):
///  - `sid_seq2sid`: a user's history of SIDs → next SID, encoded by encodeNextSidPrompt(), the
///    very prompt SFT and evaluation use (one wording, B3);
///  - `title2sid`: "Which item has the title: …?" → SID (one prompt per distinct title);
///  - `title_seq2sid`: the history as titles → next SID (rl.seq_title_sample rows, seeded);
///    both taken from the SFT prompt builder.
/// The wording is the run's prompt_template when it is `compact`, else `fixed` (also for
/// `compat`), so no prompt contains its answer (B2);
///  - `desc2sid` is not built (the SFT builder has no description task): it is skipped with a
///    warning event.
/// max_samples (> 0) caps each task; rl.sample_train drops the first 20 % of the shuffled set.
/// Prompts longer than rl.max_prompt_length keep their last tokens.
///
/// Steps. A step takes P = per_device_train_batch_size · gradient_accumulation_steps /
/// num_generations prompts from a stream shuffled once per epoch (shuffleIndices(N, seed +
/// epoch); the cursor is one integer, so a resumed run sees the same prompts), and
///  1. rolls out G = num_generations completions per prompt with the model in eval mode:
///     constrained beam search (rl.beam_search: the G best distinct SIDs by full-vocabulary
///     log-prob, deterministic) or constrained sampling (temperature, top_k; seed derived from
///     run seed and step, so resume is exact). Every completion is a catalogue SID + "\n" + EOS;
///  2. scores them (rewards.h: rule / ranking / ranking_only, weighted by reward_weights) and
///     computes group advantages: (r − mean)/(std + 1e-4) with the unbiased std for grpo, dapo
///     and gspo; r − mean for dr_grpo; constant groups get 0;
///  3. makes rl.num_iterations optimiser updates on these rollouts (micro-batches of
///     per_device_train_batch_size completions, gradients accumulated over the step). So with
///     num_iterations μ one step is one rollout batch and μ updates; the lr schedule, eval/save
///     intervals and reference syncs count steps.
///
/// Loss (spec §6.6 with TRL's options). Per completion token t, with logp_t the policy's
/// full-vocabulary log-prob (train mode, with grad), old_t the log-prob at rollout time (the
/// detached logp_t itself when num_iterations = 1, so ratio = 1) and ref_t the reference's:
///   ratio_t = exp(logp_t − old_t),  KL_t = exp(ref_t − logp_t) − (ref_t − logp_t) − 1   (k3)
///   ℓ_t = −min(ratio_t·A, clip(ratio_t, 1−ε, 1+ε)·A) + β·KL_t
/// Aggregation over the step's completions (all micro-batches together):
///   grpo     mean over sequences of the per-sequence token mean;
///   dapo     Σ_t ℓ_t / Σ mask (token mean over the step);
///   dr_grpo  Σ_t ℓ_t / (sequences · Lmax), Lmax = the longest catalogue path (SID + "\n" + EOS,
///            capped by rl.max_completion_length): a constant, length-agnostic normaliser;
///   gspo     s = exp(mean_t(logp_t − old_t)) per sequence, ℓ = −min(s·A, clip(s)·A) + β·mean_t KL_t,
///            mean over sequences.
/// β = 0 skips the reference entirely (no reference pass, no `kl` metric).
/// The run's `dropout` is switched off for this stage (TRL's disable_dropout): the policy, its
/// rollout-time log-probs and the reference must be the same network, or KL and ratios are noise.
///
/// Reference model (spec §6.7). full: a frozen deep copy of the policy made at stage start;
/// with rl.sync_ref_model, every ref_model_sync_steps steps ref ← α·policy + (1 − α)·ref
/// (α = ref_model_mixup_alpha, TRL's SyncRefModelCallback). lora / qlora / freeze: no copy —
/// the policy itself with adapters disabled and the trained new-token rows (embedding and
/// untied lm_head) swapped for a snapshot taken at stage start, i.e. exactly the model the stage
/// started from (PEFT's disable_adapter with modules_to_save). freeze syncs by mixing the row
/// snapshot (the only weights that differ); lora / qlora ignore sync_ref_model with a warning
/// (TRL refuses it with PEFT), the reference stays the stage's starting model.
///
/// Metrics (stage "rl", per step, TRL names): loss, reward, reward_std (mean per-group std),
/// rewards/<component>/mean and /std, frac_reward_zero_std, kl (mean over completions of the
/// per-completion token-mean KL; β > 0 only), clip_ratio (share of completion tokens whose ratio
/// is clipped in the direction of its advantage; 0 when num_iterations = 1), entropy (mean
/// token entropy of the policy's FULL-vocabulary distribution at the completion positions, in
/// nats), completions/mean_length (tokens incl. "\n" and EOS), lr, grad_norm, rollout_hr@1 and
/// rollout_hr@G (share of the step's prompts whose target is the first / any completion),
/// tokens_per_s (prompt + completion tokens through the policy pass per wall second),
/// samples_seen, epoch, rss_mb. Every rl.eval_steps steps: eval_hr@K / eval_ndcg@K (and
/// coverage, level accuracy) of constrained beam search on the first rl.eval_max_samples valid
/// rows (eval.num_beams beams, eval.topk), an eval_results row (stage "rl"), and best-checkpoint
/// selection on rl.metric_for_best_model (ndcg@K | hr@K); the best weights are loaded at the end.
///
/// Rollout table for the studio: on the first step and at every evaluation step an event of
/// kind "rollouts", stage "rl", with payload
///   {"step": N, "samples": [ {"task": "sid_seq2sid", "user_id": "u1",
///       "history_titles": ["…", …], "target_sid": "<a_1><b_2><c_3>", "target_title": "…",
///       "completions": [ {"sid": "<a_1><b_2><c_3>", "title": "…", "rewards": {"rule": 1.0,
///         "ranking": 0.0}, "reward": 1.0, "advantage": 3.74}, … ] }, … ]}
/// for the first 4 prompts of the step; completions in rollout order (beam rank); "title" joins
/// the titles of the items sharing the SID with " | "; "rewards" has one key per component.
/// user_id and history_titles are empty for title2sid / title_seq2sid prompts.
///
/// Checkpoint `<output_dir>/checkpoints/rl-step<N>/` (written as `….tmp`, then renamed): the
/// trained weights (saveTrainedWeights), optimizer.safetensors + optimizer.json, rng.pt,
/// reference.safetensors once the reference has been synced (full: every weight; freeze: the row
/// snapshot), trainer_state.json (step, cursor, best, total steps). On CPU with the same thread
/// count a run stopped and resumed from a checkpoint ends bit-identical to an uninterrupted one.
/// A non-finite loss or gradient norm throws core::Error(Runtime) naming the step.

#include "training/engine/run_context.h"
#include "training/eval/evaluator.h"
#include "training/sft/sft_trainer.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genrec::train {

/// One RL prompt with its own target.
struct RlPrompt
{
    std::string task;                ///< sid_seq2sid | title2sid | title_seq2sid
    std::string userId;              ///< "" for title2sid / title_seq2sid
    std::vector<int64_t> history;    ///< item ids (sid_seq2sid only)
    int64_t targetItem = 0;
    std::string targetSid;
    std::vector<int32_t> ids;        ///< prompt tokens, ending with "### Response:\n"
};

/// The prompts of rl.tasks (see the file comment), in task order, unshuffled.
std::vector<RlPrompt> buildRlPrompts(const RunContext &ctx);

/// Settings of grpoLoss().
struct GrpoLossOptions
{
    std::string lossType = "grpo"; ///< grpo | dr_grpo | dapo | gspo
    double beta = 0.0;
    double epsilon = 0.2;
    double stepSequences = 1;      ///< completions in the whole optimiser step (normaliser)
    double stepTokens = 1;         ///< completion tokens in the whole step (dapo)
    double maxCompletionTokens = 1; ///< Lmax of dr_grpo
};

/// One micro-batch's share of the loss and its statistics.
struct GrpoLossTerms
{
    torch::Tensor loss;     ///< scalar; the micro-batch losses of a step add up to the step loss
    double klSum = 0;       ///< Σ over sequences of the per-sequence token-mean KL
    double clipped = 0;     ///< number of clipped tokens
    double tokens = 0;      ///< masked tokens
};

/// The GRPO loss of a micro-batch (see the file comment). logp [N, L] (with grad), oldLogp
/// [N, L], refLogp [N, L] or undefined (β = 0), advantages [N], mask [N, L] (1 = completion
/// token); every tensor fp32 (mask any numeric type). Padding entries must be finite.
GrpoLossTerms grpoLoss(const torch::Tensor &logp, const torch::Tensor &oldLogp, const torch::Tensor &refLogp,
                       const torch::Tensor &advantages, const torch::Tensor &mask, const GrpoLossOptions &options);

class GrpoTrainer
{
public:
    explicit GrpoTrainer(RunContext &ctx);
    ~GrpoTrainer();

    /// Builds the prompts, the trie, the optimiser and the reference (from the model as it is
    /// now: the stage's starting weights); with `resumeDir`, then restores a checkpoint.
    /// Throws core::Error(BadInput) for a config the stage cannot run.
    void setup(const std::string &resumeDir = {});
    /// Runs until the last step or a stop request. Throws core::Error(Runtime) naming the step
    /// for a non-finite loss or gradient norm (no checkpoint is written for it).
    StageResult train();
    /// Writes a checkpoint of the current state; returns its path.
    std::string saveCheckpoint(const std::string &metric = {}, double value = 0, bool isBest = false);
    /// Writes `<output_dir>/rl/final_checkpoint` (saveFinalModel) and the stage_end event.
    void cleanup();

    /// HR/NDCG of constrained beam search on the first rl.eval_max_samples valid rows.
    EvalReport evaluateRanking();
    int64_t totalSteps() const;
    int64_t promptsPerStep() const;
    const std::vector<RlPrompt> &prompts() const;

    /// Per-token full-vocabulary log-probs (no grad, eval mode) of `completions[i]` after
    /// `prompts[i]` under the policy, and under the reference (throws when β = 0: no reference).
    std::vector<std::vector<double>> policyLogProbs(const std::vector<std::vector<int32_t>> &prompts,
                                                    const std::vector<std::vector<int32_t>> &completions);
    std::vector<std::vector<double>> referenceLogProbs(const std::vector<std::vector<int32_t>> &prompts,
                                                       const std::vector<std::vector<int32_t>> &completions);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace genrec::train
