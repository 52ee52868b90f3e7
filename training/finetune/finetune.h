#pragma once
/// @file finetune.h
/// Fine-tuning methods on a Qwen2ForCausalLM: what trains, and how.
///
///   full   every parameter trains.
///   freeze only the rows of the NEW tokens (newTokenIds) of the input embedding and, if untied,
///          of lm_head train (MiniOneRec freeze_LLM, spec §4.5, with bugs B1/B10 fixed: the row
///          set is the explicit id list, not an id threshold). The rows train as separate
///          [R, C] leaves (Qwen2ForCausalLMImpl::TrainedRows) while the tables stay frozen: no
///          dense [V, C] gradient is built and the original rows stay bit-identical. The tables
///          receive the trained rows' values before each forward, in stateDict(), afterStep()
///          and saveAdapter().
///   lora   target projections get y = base(x) + dropout(x)·Aᵀ·Bᵀ·s, s = alpha/r (rsLoRA:
///          alpha/√r), A kaiming-uniform, B = 0; base weights frozen; new token rows train as in
///          freeze. One autograd node per projection keeps only x (shared by the projections
///          reading it; dropout(x) and a byte mask when lora_dropout > 0) and the rank-r
///          intermediate; the frozen base weight is used by reference, never copied or saved.
///   qlora  as lora, but the target projections' base weights are stored quantised (NF4 or
///          int8, blockwise absmax) and dequantised per forward call (and again in backward:
///          the dequantised fp32 weight is never kept for backward).
///
/// The adapters hang off ProjectionImpl::adapter; they are not registered in the model, so the
/// model's stateDict() stays the base checkpoint (with qlora, quantised bases read as empty
/// tensors until mergeLora()).

#include "training/optim/optimizer.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genrec::core {
struct RunConfig;
}

namespace genrec::train {

class Qwen2ForCausalLMImpl;

/// Flat fine-tuning settings (from core::RunConfig).
struct FinetuneOptions
{
    std::string type = "full";          ///< full | lora | freeze | qlora
    int64_t loraRank = 8;
    double loraAlpha = 16;
    double loraDropout = 0.05;
    std::vector<std::string> loraTarget = {"q_proj", "k_proj", "v_proj", "o_proj",
                                           "gate_proj", "up_proj", "down_proj"};
    bool useRslora = false;
    int64_t quantizationBit = 4;        ///< qlora: 4 (NF4) | 8 (int8)
    int64_t quantizationBlockSize = 64;
    /// lora/qlora: also train the new token rows (embedding, untied lm_head).
    bool trainNewTokenRows = true;
    std::string baseModelNameOrPath;    ///< written into adapter_config.json

    static FinetuneOptions fromRunConfig(const core::RunConfig &config);
};

/// What applyFinetuning() made trainable, and the operations that depend on the method.
/// Cheap to copy (shared state); keep it alive as long as the model is used.
class TrainableSet
{
public:
    /// The groups to optimise: "decay" (projection weights), "no_decay" (norms, biases,
    /// embeddings, LoRA-less leftovers), "new_rows" (the [R, C] trained-row leaves of the
    /// embedding / untied lm_head, named after their tables, rows = 0..R-1).
    std::vector<ParamGroup> groups;
    int64_t trainableCount = 0; ///< elements that actually change (new rows only, not whole tables)
    int64_t totalCount = 0;     ///< model parameters + adapter parameters (tied counted once)
    std::string type;

    /// Every trainable tensor (flattened groups), e.g. for gradient clipping.
    std::vector<torch::Tensor> parameters() const;
    /// Call after each optimiser step: copies trained new-token rows into their tables (the
    /// model's forward() and stateDict() do it too).
    void afterStep();
    /// LoRA/QLoRA: writes PEFT's layout to `dir`: adapter_config.json and
    /// adapter_model.safetensors (keys base_model.model.<module>.lora_A.weight / lora_B.weight,
    /// plus trained new-token rows as base_model.model.model.embed_tokens.weight when present,
    /// listed in modules_to_save). Throws core::Error(BadInput) for full/freeze.
    void saveAdapter(const std::string &dir) const;
    /// Loads adapter_model.safetensors written by saveAdapter() into the adapters.
    void loadAdapter(const std::string &dir);
    /// Folds B·A·s into the base weights (dequantising qlora bases to fp32 storage) and removes
    /// the adapters: afterwards the model is a plain checkpoint (for merged export).
    void mergeLora();
    /// Turns every adapter off (forward = base) or back on; used for the RL reference model.
    void setAdaptersEnabled(bool enabled);
    bool adaptersEnabled() const;
    /// Bytes held by quantised base weights and by the fp32 weights they replaced.
    int64_t quantizedBytes() const;
    int64_t replacedBytes() const;

    struct State;
    std::shared_ptr<State> state;
};

/// Applies `opts` to `model` (sets requires_grad, installs adapters / quantises bases). When
/// glibc's allocator serves the process (no jemalloc linked), it also fixes malloc's mmap
/// threshold at 128 KiB (freed tensor buffers return to the OS instead of fragmenting the heap;
/// see finetune.cpp).
/// newTokenIds: the ids of the added SID tokens (any order, duplicates ignored; out-of-range ids
/// throw core::Error(BadInput)). Call once per model, after resizeTokenEmbeddings() and after
/// moving the model to its device/dtype.
TrainableSet applyFinetuning(Qwen2ForCausalLMImpl &model, const FinetuneOptions &opts,
                             const std::vector<int64_t> &newTokenIds);

/// Recomputation checkpoint: returns fn(x) computed without keeping activations; in backward,
/// fn is re-run with grad enabled (same RNG state) and the gradients w.r.t. x and `params` are
/// returned through autograd. x [..] → fn(x) [..].
/// outWeight (optional, [out, k], not differentiated): the result is fn(x)·outWeightᵀ
/// ([.., k] → [.., out]); backward maps the incoming gradient through outWeight instead of
/// recomputing that product (a frozen projection closing the checkpointed block).
torch::Tensor checkpointed(const std::function<torch::Tensor(const torch::Tensor &)> &fn,
                           const torch::Tensor &x, const std::vector<torch::Tensor> &params,
                           const torch::Tensor &outWeight = {});

} // namespace genrec::train
