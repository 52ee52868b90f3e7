#pragma once
/// @file data_parallel.h
/// Data parallelism over a ProcessGroupContext for the trainers' ParamGroups.
///
/// The trainable elements of every group are laid out in one flat index space (a row-restricted
/// parameter contributes only its rows, LoRA/QLoRA only the adapter tensors and new-token rows;
/// frozen weights never communicate). Two modes (config `zero_stage`):
///
///   0  every rank keeps full gradients and the full optimiser state; syncGradients() all-reduces
///      the gradients in buckets of whole tensors (flat fp32 buffers of ~bucketBytes) and divides
///      by the world size (DDP's averaging). The optimiser is the ordinary one (optimizer.h).
///   2  ZeRO-2: the flat space is cut into world-size equal shards; syncGradients() reduce-scatters
///      (bucketed) so each rank ends with the averaged gradient of its own shard only, and frees the
///      full .grad() tensors. The sharded optimiser (makeOptimizer()) keeps m and v for its shard
///      only, applies the same AdamW as optimizer.cpp (it runs that very code on the shard) and
///      all-gathers the updated parameters.
///
/// Gradient accumulation: call syncGradients() once per optimiser step, after the backward of the
/// last micro-step; nothing communicates before. The caller weights each rank's loss so that the
/// averaged gradient equals the single-process gradient of the global batch (sft_trainer.cpp:
/// loss × world × local supervised tokens / global supervised tokens).
///
/// Checkpoints: save() and load() are collective (every rank calls them; ranks ≠ 0 pass any dir,
/// rank 0's is broadcast). Stage 0: rank 0 writes the ordinary optimizer files. Stage 2: each rank
/// writes its shard to `<dir>/zero2/rank<R>/optimizer.{safetensors,json}` (no gather: no rank
/// ever holds the whole state). Both write `<dir>/data_parallel.json` {world_size, zero_stage,
/// trainable_elements}; load() refuses a checkpoint of another world size, ZeRO stage or
/// parameter layout with core::Error(BadInput) naming both values.

#include "training/dist/process_group.h"
#include "training/optim/optimizer.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace genrec::train::dist {

class DataParallel
{
public:
    /// `zeroStage` 0 or 2 (else core::Error(BadInput)). Broadcasts rank 0's trainable
    /// parameters so every rank starts from the same weights.
    DataParallel(ProcessGroupContext &group, const std::vector<ParamGroup> &groups, int zeroStage,
                 int64_t bucketBytes = 16LL << 20);
    ~DataParallel();

    int rank() const;
    int worldSize() const;
    int zeroStage() const;
    ProcessGroupContext &group();
    /// Trainable elements in the flat layout, and this rank's shard [begin, end) of it (stage 2;
    /// stage 0: the whole range).
    int64_t trainableElements() const;
    std::pair<int64_t, int64_t> shardRange() const;

    /// Averages the gradients over the ranks (see the file comment). Undefined grads count as 0.
    void syncGradients();
    /// Global L2 norm of the synchronised trainable gradients; when maxNorm > 0 and it is exceeded,
    /// scales them by maxNorm / (norm + 1e-6) (clipTrainableGradNorm semantics). Every rank gets
    /// the same value.
    double clipGradNorm(double maxNorm);

    /// The optimiser for this mode: stage 0 the ordinary makeOptimizer() over the groups, stage 2
    /// the sharded one. Both implement Optimizer with collective save()/load().
    std::unique_ptr<Optimizer> makeOptimizer(const OptimizerOptions &options);

    struct State;

private:
    std::shared_ptr<State> m_state;
};

} // namespace genrec::train::dist
