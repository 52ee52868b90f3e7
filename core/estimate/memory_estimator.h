#pragma once
/// @file memory_estimator.h
/// Predicts the peak memory of one training device for a RunConfig, split into weights,
/// gradients, optimiser state, activations and fixed overheads, with a fit verdict.
/// Plain arithmetic (no Torch): the model is described by its dimensions.
///
/// Model of what the LibTorch engine holds (E = bytes per stored parameter element, A = bytes
/// per activation element: fp32 on CPU, bf16 on CUDA when bf16 is on):
///   weights     all parameters × E; qlora replaces target projections by codes + fp32 scales
///               (bits/8 + 4/block bytes per element); LoRA adds A/B in fp32.
///   gradients   trainable tensors × 4 (LoRA A/B) or × E (full); freeze/lora new-token rows train
///               as separate [R, C] tensors, so their gradient is R × C × E per table (no dense
///               [V, C] table gradient).
///   optimizer   m and v per trained element: 8 B (adamw_torch, paged_adamw_32bit on CUDA), 2 B +
///               8/block (adamw_8bit); paged_adamw_32bit on CPU counts 8 B too (its mmap pages are
///               resident until the kernel needs the memory). ZeRO-2 (zero_stage 2, any device)
///               divides the optimizer state and the kept (averaged) gradient by the number of ranks;
///               the full local gradient autograd produces before the reduce-scatter is counted
///               separately as gradientTransient (part of the peak).
///   activations what backward keeps, per token per layer (activationElementsPerTokenLayer()):
///               the input-gradient path every type keeps (RMSNorm inputs, RoPE'd q/k/v, attention
///               probabilities of the causal blocks, SwiGLU input) plus, where weights or adapters
///               train (full, lora, qlora), the inputs of the projections (normed x, attention
///               output, normed h, SwiGLU output); full also keeps the per-call concatenated
///               q|k|v and gate|up weights (frozen bases are used by reference). × layers × batch
///               × seq; with checkpointing only each layer's input plus one layer's full set; plus
///               embeddings/final norm and the logits of the supervised tokens (the fused cross
///               entropy writes its gradient into them).
///   peak        weights + optimizer + activations + gradients, except with one micro-step per
///               optimizer step (gradient_accumulation_steps = 1): zeroGrad() leaves no gradient
///               alive during forward and backward frees each layer's activations as it creates
///               that layer's gradients, so activations and gradients count as max(A, G).
///   overhead    CUDA context (500 MiB) on CUDA; on CPU the LibTorch runtime's resident size
///               before any model exists (libraries, OpenMP/BLAS thread pools), measured once
///               with tests/bench/bench_finetune_memory (base_mib) and used as a constant, plus
///               the allocator's slack (kCpuAllocatorSlack of the tensor bytes).

#include <cstdint>
#include <string>
#include <vector>

namespace genrec::core {

struct RunConfig;

/// The dimensions of a Qwen2-family model (the memory-relevant subset of an HF config.json).
struct ModelDims
{
    int64_t vocabSize = 0;
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;          ///< 0 = hiddenSize / numHeads
    bool tieWordEmbeddings = false;
    bool attentionBias = true;    ///< q/k/v biases (Qwen2)

    int64_t headDimOrDefault() const { return headDim > 0 ? headDim : hiddenSize / numHeads; }
    /// Elements of one decoder layer's parameters.
    int64_t layerParameters() const;
    /// Elements of the target projections of one layer (names as in lora_target).
    int64_t targetParameters(const std::vector<std::string> &targets) const;
    /// LoRA A+B elements of one layer for rank r.
    int64_t loraParameters(const std::vector<std::string> &targets, int64_t rank) const;
    /// All parameters (tied embeddings counted once).
    int64_t parameterCount() const;
};

/// What is being estimated (flattened from RunConfig + the stage's TrainArgs).
struct EstimateInput
{
    ModelDims dims;
    std::string finetuningType = "full";
    int64_t loraRank = 8;
    std::vector<std::string> loraTarget = {"q_proj", "k_proj", "v_proj", "o_proj",
                                           "gate_proj", "up_proj", "down_proj"};
    int64_t quantizationBit = 4;
    int64_t quantizationBlockSize = 64;
    bool bf16 = false;
    bool gradientCheckpointing = false;
    bool mlpRecompute = false;    ///< norm + MLP recomputed in backward (mlpRecomputeActive())
    std::string optim = "adamw_torch";
    int64_t batchSize = 16;       ///< sequences per device per micro-step
    int64_t seqLen = 512;
    double supervisedFraction = 0.25; ///< share of tokens with labels (logits head cost)
    int64_t newTokens = 0;        ///< added SID tokens (freeze / lora embedding rows)
    std::string device = "cpu";   ///< cpu | cuda
    int64_t numGpus = 1;          ///< data-parallel ranks (devices) the run uses
    int64_t zeroStage = 0;        ///< 0 | 2
    int64_t optimBlockSize = 256; ///< adamw_8bit block
    int64_t gradientAccumulation = 1; ///< micro-steps per optimizer step
};

/// The prediction, in bytes.
struct MemoryEstimate
{
    int64_t weights = 0;
    int64_t gradients = 0;
    int64_t gradientTransient = 0; ///< ZeRO-2: full local gradient before the reduce-scatter
    int64_t optimizer = 0;
    int64_t activations = 0;
    int64_t overhead = 0;        ///< CUDA context or CPU runtime
    int64_t total = 0;
    int64_t parameters = 0;      ///< total parameter elements (incl. LoRA)
    int64_t trainable = 0;       ///< trainable elements
    int64_t deviceBytes = 0;     ///< compared against (0 = not given)
    bool fits = true;
};

/// Saved activation elements per token per decoder layer, with T = sequence length (attention
/// probabilities grow with T). weightGrads: projections' weights or adapters train (full, lora,
/// qlora), so their inputs are kept too; false for freeze. mlpRecompute: the post-attention
/// norm + MLP keeps only its input (RunConfig mlp_recompute).
double activationElementsPerTokenLayer(const ModelDims &d, int64_t seqLen, bool weightGrads = true,
                                       bool mlpRecompute = false);
/// What one layer's norm + MLP keeps again while its recomputed backward runs, per token.
double mlpRecomputeElementsPerToken(const ModelDims &d, bool weightGrads);
/// Attention probabilities kept per token per layer by the fused attention (query blocks of 64
/// positions, each over the keys up to its last position): H × Σ_blocks len·end / T.
double attentionProbsPerToken(const ModelDims &d, int64_t seqLen);

/// The estimate. deviceBytes > 0 sets `fits` (total ≤ deviceBytes).
MemoryEstimate estimateMemory(const EstimateInput &in, int64_t deviceBytes = 0);

/// The input for a RunConfig's SFT stage: batch = sft.per_device_train_batch_size, seq =
/// cutoff_len, ranks = gpu_ids (or nproc_per_node) on cuda, nproc_per_node on cpu, × nnodes.
EstimateInput estimateInputFor(const RunConfig &config, const ModelDims &dims, int64_t newTokens);

/// The CPU runtime overhead and CUDA context the estimate adds. kCpuRuntimeBytes: RSS of the
/// LibTorch 1.13 runtime before a model exists (bench_finetune_memory base_mib, Debian 12,
/// OpenBLAS, 1 thread: 154-156 MiB) plus the ~40 MiB of freed pages jemalloc keeps for reuse
/// at the peak (training/runtime/malloc_conf.cpp; measured 29-68 MiB over preset:base runs).
inline constexpr int64_t kCudaContextBytes = 500LL << 20;
inline constexpr int64_t kCpuRuntimeBytes = 194LL << 20;
/// Allocator slack on CPU: peak RSS above the peak of live tensor bytes, as a share of them.
inline constexpr double kCpuAllocatorSlack = 0.03;

} // namespace genrec::core
