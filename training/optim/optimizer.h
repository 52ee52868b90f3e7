#pragma once
/// @file optimizer.h
/// AdamW optimisers for the trainers: `adamw_torch` (fp32 states in memory), `adamw_8bit`
/// (blockwise 8-bit quantised m and v, per-block absmax scales) and `paged_adamw_32bit` (fp32
/// states in a file-backed shared memory map the OS may page out). All three apply decoupled
/// weight decay (p ← p − lr·wd·p) and bias-corrected Adam updates, and understand row-restricted
/// parameters (ParamGroup::rows) whose other rows they never read, decay or write.
/// Devices: adamw_torch and adamw_8bit keep their state on the parameters' device (CUDA too);
/// paged_adamw_32bit keeps it in host memory also for CUDA parameters (the file-backed mapping,
/// not pinned: pinning would stop the OS from paging it) and runs the update on the CPU, copying
/// the gradients down and the parameters back each step.

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genrec::core {
struct TrainArgs;
}

namespace genrec::train {

/// One parameter group. `rows[i]`, when defined, is a 1-D int64 tensor of the rows of
/// `params[i]` (dim 0) that train: the optimiser keeps state only for those rows ([R, ...]) and
/// updates only them; the gradient of the other rows is ignored. Undefined = the whole tensor.
struct ParamGroup
{
    std::string name;                 ///< "decay" | "no_decay" | "new_rows" (for logs)
    std::vector<std::string> names;   ///< HF-style names, parallel to params
    std::vector<torch::Tensor> params;
    std::vector<torch::Tensor> rows;  ///< parallel to params; undefined entries = all rows
    bool decay = true;                ///< false: weight decay 0 for this group
};

/// Optimiser settings (from core::TrainArgs plus implementation knobs).
struct OptimizerOptions
{
    std::string kind = "adamw_torch"; ///< adamw_torch | adamw_8bit | paged_adamw_32bit
    double learningRate = 3e-4;
    double weightDecay = 0.0;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    int64_t blockSize = 256;          ///< adamw_8bit: elements per quantisation block
    std::string pagedDir;             ///< paged_adamw_32bit: folder of the backing file ("" = $TMPDIR)

    static OptimizerOptions fromTrainArgs(const core::TrainArgs &args);
};

/// A stepping optimiser over ParamGroups. Not copyable.
class Optimizer
{
public:
    virtual ~Optimizer() = default;
    /// One update from the current .grad() of every parameter (parameters without grad skip).
    virtual void step() = 0;
    /// Sets every parameter's grad to undefined.
    virtual void zeroGrad() = 0;
    virtual void setLearningRate(double lr) = 0;
    virtual double learningRate() const = 0;
    /// Number of step() calls so far (restored by load()).
    virtual int64_t stepCount() const = 0;
    /// Bytes of optimiser state (m, v, scales) currently held.
    virtual int64_t stateBytes() const = 0;
    /// Writes the state to `dir/optimizer.safetensors` (+ `dir/optimizer.json`) for resume.
    virtual void save(const std::string &dir) const = 0;
    /// Restores what save() wrote for the same groups; throws core::Error(BadInput) on a
    /// mismatch (kind, parameter count or shapes).
    virtual void load(const std::string &dir) = 0;
};

/// Builds the optimiser named by options.kind (else core::Error(BadInput) naming `optim`).
std::unique_ptr<Optimizer> makeOptimizer(const std::vector<ParamGroup> &groups,
                                         const OptimizerOptions &options);

} // namespace genrec::train
