#pragma once
/// @file qwen2.h
/// The Qwen2-family causal language model (Qwen2, Qwen3 with q/k norm, Llama) in LibTorch.
///
/// Registered module names equal the Hugging Face checkpoint keys, so `named_parameters()` of a
/// Qwen2ForCausalLM yields `model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`,
/// …, `model.norm.weight`, `lm_head.weight` (absent when the embeddings are tied) and a
/// safetensors file loads by name with loadStateDict().
///
/// Semantics follow transformers' eager implementation: RMSNorm computed in fp32 and cast back,
/// RoPE with the rotate_half convention, grouped-query attention, causal + padding mask,
/// SwiGLU MLP. Positions come from the attention mask (cumsum − 1, clamped at 0), so left-padded
/// batches get the positions HF generate() gives them.
///
/// Precision: parameters are stored in float32 or bfloat16 (`module->to(torch::kBFloat16)`).
/// On CUDA, bf16 parameters compute in bf16. On CPU, bf16 is a storage format only: each
/// operation casts its weight to fp32 and computes in fp32, because CPU bf16 matmul without
/// AVX-512 BF16 is ~15× slower than fp32 (measured: 1024³ matmul, 72 vs 4 GFLOP/s on 2 cores).
/// computeDtype() tells which applies; activations and logits are in that dtype.
///
/// Speed on CPU (fp32 compute, no cache): q/k/v and gate/up each run as one GEMM on weights
/// concatenated per call (keys stay separate), and RMSNorm, RoPE + attention (causal blocks only),
/// SwiGLU and cross entropy run as fused kernels (fused_ops.h). setFusedKernels(false) selects
/// the plain ATen composition, which is also what CUDA and KV-cache decoding use.
/// One deliberate difference from transformers: a query at a padding position attends to itself
/// (finite outputs that nothing uses) instead of uniformly to every key.

#include "training/model/kv_cache.h"
#include "training/model/model_config.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genrec::train {

/// The dtype activations are computed in for parameters stored as `storage` on `device`
/// (fp32 for bf16/fp16 on CPU, else `storage`).
torch::Dtype computeDtypeFor(torch::Dtype storage, const torch::Device &device);

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

class ProjectionImpl;

/// Replaces a Projection's computation (LoRA, quantised base weights; see
/// training/finetune/finetune.h). forward() receives the projection and its input.
class ProjectionAdapter
{
public:
    virtual ~ProjectionAdapter() = default;
    /// x [..., in] → [..., out], in x's dtype.
    virtual torch::Tensor forward(ProjectionImpl &base, const torch::Tensor &x) = 0;
    /// The adapter's own trainable tensors (gradient checkpointing differentiates them).
    virtual std::vector<torch::Tensor> parameters() const { return {}; }
};

/// y = x W^T + b. Parameters are created uninitialised: they are either loaded or set by
/// Qwen2ForCausalLMImpl::initParameters(). The weight is cast to the input's dtype per call.
/// When `adapter` is set, forward() delegates to it.
class ProjectionImpl : public torch::nn::Module
{
public:
    ProjectionImpl(int64_t inFeatures, int64_t outFeatures, bool bias);
    /// x [..., in] → [..., out], in x's dtype.
    torch::Tensor forward(const torch::Tensor &x);

    torch::Tensor weight; ///< [out, in]
    torch::Tensor bias;   ///< [out] or undefined
    std::shared_ptr<ProjectionAdapter> adapter; ///< not a submodule: stateDict() is unaffected
};
TORCH_MODULE(Projection);

/// Root-mean-square norm over the last dimension, computed in fp32: w * (x / rms(x)).to(x.dtype).
class RmsNormImpl : public torch::nn::Module
{
public:
    RmsNormImpl(int64_t dim, double eps);
    /// x [..., dim] → [..., dim], in x's dtype.
    torch::Tensor forward(const torch::Tensor &x);

    torch::Tensor weight; ///< [dim]
    double eps;
    bool useFused = true; ///< fused kernel for fp32 CPU input (see fused_ops.h)
};
TORCH_MODULE(RmsNorm);

/// Token embedding table (uninitialised at construction, like Projection).
class EmbeddingImpl : public torch::nn::Module
{
public:
    EmbeddingImpl(int64_t rows, int64_t dim);
    /// ids [B, T] int64 → [B, T, dim], cast to `dtype`.
    torch::Tensor forward(const torch::Tensor &ids, torch::Dtype dtype);

    torch::Tensor weight; ///< [rows, dim]
};
TORCH_MODULE(Embedding);

/// RoPE tables and the attention mask shared by all layers of one forward call.
struct AttentionContext
{
    torch::Tensor cos;  ///< [Bc, T, D/2] fp32/compute dtype; Bc = B, or 1 when positions are shared
    torch::Tensor sin;  ///< [Bc, T, D/2]
    torch::Tensor bias; ///< additive mask [Bm, 1, 1, T, S] (0 / -inf) or undefined (no mask needed)
    torch::Tensor keyMask; ///< fused path: [B, T] token mask, undefined when nothing is padding
    KvCache *cache = nullptr;
    bool fused = false;    ///< use the fused CPU kernels (fp32 CPU, no cache)
    double dropout = 0.0;  ///< residual dropout on each sublayer output (training only)
    bool recomputeMlp = false; ///< recompute norm + MLP in backward (Qwen2ForCausalLMImpl::setMlpRecompute)
};

/// Multi-head self-attention with grouped key/value heads (K kv heads serve H = K·G query heads).
class Qwen2AttentionImpl : public torch::nn::Module
{
public:
    explicit Qwen2AttentionImpl(const ModelConfig &config);
    /// x [B, T, C] → [B, T, C]. `layer` indexes the cache.
    torch::Tensor forward(const torch::Tensor &x, const AttentionContext &ctx, int64_t layer);

    Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
    RmsNorm q_norm{nullptr}, k_norm{nullptr}; ///< Qwen3 only

private:
    int64_t m_heads, m_kvHeads, m_headDim;
};
TORCH_MODULE(Qwen2Attention);

/// SwiGLU feed-forward: down(silu(gate(x)) * up(x)).
class Qwen2MlpImpl : public torch::nn::Module
{
public:
    explicit Qwen2MlpImpl(const ModelConfig &config);
    /// x [B, T, C] → [B, T, C].
    torch::Tensor forward(const torch::Tensor &x) { return down_proj(hidden(x)); }
    /// silu(gate(x)) * up(x): x [B, T, C] → [B, T, I].
    torch::Tensor hidden(const torch::Tensor &x);

    Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
    bool useFused = true; ///< one gate+up GEMM and the fused SwiGLU for fp32 CPU input
};
TORCH_MODULE(Qwen2Mlp);

/// Pre-norm decoder block: x + attn(norm(x)), then + mlp(norm(·)).
class Qwen2DecoderLayerImpl : public torch::nn::Module
{
public:
    explicit Qwen2DecoderLayerImpl(const ModelConfig &config);
    /// x [B, T, C] → [B, T, C].
    torch::Tensor forward(const torch::Tensor &x, const AttentionContext &ctx, int64_t layer);

    RmsNorm input_layernorm{nullptr};
    Qwen2Attention self_attn{nullptr};
    RmsNorm post_attention_layernorm{nullptr};
    Qwen2Mlp mlp{nullptr};
};
TORCH_MODULE(Qwen2DecoderLayer);

/// The transformer body (`model.` prefix in checkpoints).
class Qwen2ModelImpl : public torch::nn::Module
{
public:
    explicit Qwen2ModelImpl(const ModelConfig &config);

    Embedding embed_tokens{nullptr};
    torch::nn::ModuleList layers{nullptr}; ///< of Qwen2DecoderLayer
    RmsNorm norm{nullptr};
};
TORCH_MODULE(Qwen2Model);

// ---------------------------------------------------------------------------------------------
// The causal LM
// ---------------------------------------------------------------------------------------------

/// What loadStateDict() matched.
struct StateDictLoadReport
{
    std::vector<std::string> loaded;     ///< model keys that were copied
    std::vector<std::string> missing;    ///< model keys absent from the input (sorted)
    std::vector<std::string> unexpected; ///< input keys the model does not have (sorted)
    std::vector<std::string> ignored;    ///< input keys deliberately skipped (tied lm_head, …)
};

/// Qwen2ForCausalLM / Qwen3ForCausalLM / LlamaForCausalLM. The forward pass returns the final
/// (normed) hidden states; the vocabulary projection is separate so that training can project
/// only the supervised positions and constrained decoding only the allowed rows.
class Qwen2ForCausalLMImpl : public torch::nn::Module
{
public:
    /// Creates the modules with uninitialised fp32 parameters on the CPU: call
    /// initParameters() (from scratch) or loadStateDict() next. Throws core::Error(BadInput) for
    /// an inconsistent config (heads not divisible by kv heads, odd head_dim, …).
    explicit Qwen2ForCausalLMImpl(const ModelConfig &config);

    /// input_ids [B, T] int64; attention_mask [B, T] (1 = token, 0 = padding; undefined = all
    /// ones). With a cache, T is the number of new positions, attention_mask covers only them,
    /// and the cache's earlier positions are attended to and then extended.
    /// Returns the final hidden states [B, T, C] in computeDtype().
    torch::Tensor forward(const torch::Tensor &inputIds, const torch::Tensor &attentionMask = {},
                          KvCache *cache = nullptr);

    /// Full logits hidden [..., C] → [..., V].
    torch::Tensor logits(const torch::Tensor &hidden);
    /// Logits at selected positions only. hidden [B, T, C]; positions is either a 1-D int64
    /// tensor of flat indices b*T + t, or a bool mask [B, T]. Returns [N, V] in row-major
    /// (b, t) order of the selection.
    torch::Tensor logitsAt(const torch::Tensor &hidden, const torch::Tensor &positions);
    /// Projection onto a subset of vocabulary rows: hidden [..., C], rowIds [R] int64 →
    /// [..., R], column r = logit of token rowIds[r].
    torch::Tensor logitsForRows(const torch::Tensor &hidden, const torch::Tensor &rowIds);
    /// The output projection matrix [V, C] (the embedding matrix when tied).
    torch::Tensor headWeight() const;

    /// HF initialisation for training from scratch: weights ~ N(0, std²), biases 0, norm
    /// weights 1. Uses torch's global generator (seed it with torch::manual_seed).
    void initParameters(double std = 0.02);

    /// Copies tensors into the parameters by HF name, converting dtype; shapes must match
    /// exactly (else core::Error(BadInput) naming the key and both shapes). A tied model ignores
    /// `lm_head.weight`; `*.rotary_emb.inv_freq` is ignored too. strict: missing or unexpected
    /// keys throw core::Error(BadInput) listing them. `source` names the origin in messages.
    StateDictLoadReport loadStateDict(const std::vector<std::pair<std::string, torch::Tensor>> &tensors,
                                      bool strict, const std::string &source = "state dict");
    /// The parameters by HF name, in registration order (detached views, not copies).
    std::vector<std::pair<std::string, torch::Tensor>> stateDict() const;

    /// Resizes the vocabulary to `newRows` (transformers' resize_token_embeddings with
    /// mean_resizing): rows below min(old, new) keep their values bit for bit (Qwen's padding
    /// rows are reused as they are); rows past the old size get the mean of the old rows
    /// (computed in fp64 and cast to the storage dtype); an untied lm_head gets the same
    /// treatment. transformers samples N(mean, 1e-9·Cov) — a perturbation ~3e-5 of a row's
    /// spread — which we replace by the mean itself (deterministic). Shrinking truncates.
    /// Parameters keep their identity (set_data), but an optimiser created earlier must be
    /// rebuilt: its state has the old shape.
    void resizeTokenEmbeddings(int64_t newRows);

    const ModelConfig &config() const { return m_config; }
    /// Storage dtype of the parameters.
    torch::Dtype paramDtype() const;
    /// The activation dtype (see computeDtypeFor()).
    torch::Dtype computeDtype() const;
    torch::Device device() const;
    /// Total number of parameter elements (tied embeddings counted once).
    int64_t parameterCount() const;
    /// Whether fp32 CPU computation uses the fused kernels of fused_ops.h (default true); off
    /// selects the plain ATen composition, e.g. to compare the two.
    void setFusedKernels(bool enabled);
    bool fusedKernels() const { return m_fusedKernels; }

    /// Gradient checkpointing: in training mode with grad enabled and no cache, each decoder
    /// layer's activations are recomputed in backward instead of kept (finetune.h checkpointed()).
    void setGradientCheckpointing(bool enabled) { m_gradientCheckpointing = enabled; }
    bool gradientCheckpointing() const { return m_gradientCheckpointing; }

    /// Selective recomputation: in training mode with grad enabled and no cache, each decoder
    /// layer keeps only the input of its post-attention norm + MLP sublayer and recomputes the
    /// sublayer in backward (the gate|up and SwiGLU activations are ~60 % of what a layer keeps
    /// when its projections are frozen). Exact: same RNG state, same gradients. Ignored when
    /// whole layers are checkpointed.
    void setMlpRecompute(bool enabled) { m_mlpRecompute = enabled; }
    bool mlpRecompute() const { return m_mlpRecompute; }

    /// Dropout with probability p on the embedding output and on each attention / MLP output
    /// before its residual add, in training mode with grad enabled only (a regulariser for
    /// models trained from scratch; HF checkpoints have none, so the default is 0).
    void setDropout(double p) { m_dropout = p; }
    double dropout() const { return m_dropout; }

    /// Trained token rows (freeze / LoRA new-token training, see finetune.h): the rows `ids` of
    /// the input embedding (and of an untied lm_head) train as the small leaf tensors `embed`
    /// (and `head`), [R, C] each, while the tables themselves stay frozen. Forward reads the
    /// tables (kept equal to the row tensors, see syncTrainedRows()) and routes the gradient of
    /// those rows to the row tensors, so no dense [V, C] table gradient ever exists.
    struct TrainedRows
    {
        torch::Tensor ids;   ///< [R] int64, sorted
        torch::Tensor slot;  ///< [V] int64: index into ids, or -1
        torch::Tensor embed; ///< [R, C] rows of embed_tokens (requires grad), or undefined
        torch::Tensor head;  ///< [R, C] rows of an untied lm_head (requires grad), or undefined
        mutable int64_t embedVersion = -1, headVersion = -1; ///< versions last copied into the tables
    };
    /// Installs (or, with undefined ids, removes) the trained rows.
    void setTrainedRows(const TrainedRows &rows) { m_rows = rows; }
    const TrainedRows &trainedRows() const { return m_rows; }
    /// Copies the row tensors into the tables when they changed since the last copy (the
    /// optimiser updates them in place). forward() and stateDict() call it.
    void syncTrainedRows() const;

    Qwen2Model model{nullptr};
    Projection lm_head{nullptr}; ///< null when tieWordEmbeddings

private:
    ModelConfig m_config;
    bool m_fusedKernels = true;
    bool m_gradientCheckpointing = false;
    bool m_mlpRecompute = false;
    double m_dropout = 0.0;
    TrainedRows m_rows;
};
TORCH_MODULE(Qwen2ForCausalLM);

/// Builds the model for `config` with uninitialised parameters (see Qwen2ForCausalLMImpl).
Qwen2ForCausalLM makeQwen2(const ModelConfig &config);

/// transformers' causal-LM loss: the hidden state at t predicts labels[t+1]; labels equal to
/// -100 are ignored; mean over the supervised positions. Projects only those positions.
/// hidden [B, T, C], labels [B, T] int64. Returns a scalar (fp32); 0 (still differentiable)
/// when nothing is supervised, where transformers would return NaN.
torch::Tensor causalLmLoss(Qwen2ForCausalLMImpl &model, const torch::Tensor &hidden,
                           const torch::Tensor &labels);

/// Label value that causalLmLoss() ignores.
inline constexpr int64_t kIgnoreIndex = -100;

} // namespace genrec::train
