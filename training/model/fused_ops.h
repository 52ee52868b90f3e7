#pragma once
/// @file fused_ops.h
/// Fused fp32 CPU kernels (with their own backward) for the Qwen2 training step. Each replaces
/// a chain of ATen element-wise ops whose memory passes dominate everything but the GEMMs on a
/// CPU: RMSNorm, SwiGLU, the attention core (RoPE + causal/padding-masked softmax attention with
/// grouped KV heads, skipping fully masked key blocks) and cross entropy.
///
/// Every function requires contiguous fp32 CPU tensors (see applies()); qwen2.cpp falls back to
/// the ATen composition elsewhere (CUDA, bf16 compute). Results equal the ATen composition up to
/// fp32 rounding (the exponential is a polynomial with ~1 ulp error), which tst_model checks.
/// Kernels are vectorised for AVX2+FMA when the CPU has it (function multi-versioning), else
/// generic x86-64, and run on LibTorch's intra-op threads.

#include <torch/torch.h>

#include <cstdint>

namespace genrec::train::fused {

/// True when `x` is an fp32 CPU tensor, i.e. the fused kernels can run on it.
bool applies(const torch::Tensor &x);

/// weight * x / sqrt(mean(x²) + eps) over the last dim. x [..., C], weight [C] → [..., C].
torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps);

/// silu(gate) * up where gateUp = [gate | up] along the last dim. gateUp [..., 2I] → [..., I].
/// gradInPlace: backward writes the gradient into gateUp's memory (for an intermediate that
/// nothing else reads, like the MLP's own projection output).
torch::Tensor swiglu(const torch::Tensor &gateUp, bool gradInPlace = false);

/// Self-attention core without a cache: splits qkv, applies RoPE to q and k, and computes
/// softmax(q kᵀ · scale + mask) v with query head h reading kv head h / (H / K).
/// qkv [B, T, (H + 2K)·D] (q heads, then k heads, then v heads); cos, sin [Bc, T, D/2] with
/// Bc ∈ {1, B}; keyMask [B, T] (nonzero = token) or undefined (no padding). A query sees keys
/// at positions ≤ its own that are tokens, and always itself. Returns [B, T, H·D].
torch::Tensor attention(const torch::Tensor &qkv, const torch::Tensor &cos,
                        const torch::Tensor &sin, const torch::Tensor &keyMask, int64_t heads,
                        int64_t kvHeads, int64_t headDim, double scale);

/// Mean cross entropy of logits [N, V] against targets [N] (all valid, N ≥ 1). Scalar.
/// gradInPlace: backward writes the gradient into the logits' memory instead of a new [N, V]
/// buffer; only for logits that nothing reads after backward (causalLmLoss()'s own).
torch::Tensor crossEntropy(const torch::Tensor &logits, const torch::Tensor &targets,
                           bool gradInPlace = false);

} // namespace genrec::train::fused
