#include "core/estimate/memory_estimator.h"

#include "core/config/run_config.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace genrec::core {

namespace {

/// [in, out] of each projection of a layer.
struct Proj
{
    const char *name;
    int64_t in, out;
    bool bias;
};

std::vector<Proj> projections(const ModelDims &d)
{
    const int64_t C = d.hiddenSize, I = d.intermediateSize, D = d.headDimOrDefault();
    const int64_t q = d.numHeads * D, kv = d.numKvHeads * D;
    return {{"q_proj", C, q, d.attentionBias},  {"k_proj", C, kv, d.attentionBias},
            {"v_proj", C, kv, d.attentionBias}, {"o_proj", q, C, false},
            {"gate_proj", C, I, false},         {"up_proj", C, I, false},
            {"down_proj", I, C, false}};
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

int64_t ModelDims::layerParameters() const
{
    int64_t n = 2 * hiddenSize; // two RMSNorms
    for (const auto &p : projections(*this))
        n += p.in * p.out + (p.bias ? p.out : 0);
    return n;
}

int64_t ModelDims::targetParameters(const std::vector<std::string> &targets) const
{
    const std::set<std::string> t(targets.begin(), targets.end());
    int64_t n = 0;
    for (const auto &p : projections(*this))
        if (t.count(p.name))
            n += p.in * p.out;
    return n;
}

int64_t ModelDims::loraParameters(const std::vector<std::string> &targets, int64_t rank) const
{
    const std::set<std::string> t(targets.begin(), targets.end());
    int64_t n = 0;
    for (const auto &p : projections(*this))
        if (t.count(p.name))
            n += rank * (p.in + p.out);
    return n;
}

int64_t ModelDims::parameterCount() const
{
    const int64_t table = vocabSize * hiddenSize;
    return table * (tieWordEmbeddings ? 1 : 2) + numLayers * layerParameters() + hiddenSize;
}

double attentionProbsPerToken(const ModelDims &d, int64_t seqLen)
{
    const int64_t T = std::max<int64_t>(1, seqLen), block = 64;
    double sum = 0; // Σ over query blocks of (rows in the block) × (keys up to its end)
    for (int64_t t0 = 0; t0 < T; t0 += block) {
        const int64_t t1 = std::min(T, t0 + block);
        sum += double(t1 - t0) * double(t1);
    }
    return double(d.numHeads) * sum / double(T);
}

double activationElementsPerTokenLayer(const ModelDims &d, int64_t seqLen, bool weightGrads,
                                       bool mlpRecompute)
{
    const double C = double(d.hiddenSize), I = double(d.intermediateSize);
    const double D = double(d.headDimOrDefault());
    const double q = d.numHeads * D, kv = d.numKvHeads * D;
    // Input-gradient path: the two RMSNorm inputs (2C; with MLP recomputation the second one is
    // the checkpoint's input), RoPE'd q, k, v (q + 2kv), the attention probabilities, the SwiGLU
    // input gate|up (2I, recomputed in backward with MLP recomputation).
    double n = 2 * C + q + 2 * kv + attentionProbsPerToken(d, seqLen) + (mlpRecompute ? 0 : 2 * I);
    // Projection inputs for weight / adapter gradients: normed x (shared by q, k, v), attention
    // output (o_proj), normed h (gate, up), SwiGLU output (down); the last two are recomputed.
    if (weightGrads)
        n += C + q + (mlpRecompute ? 0 : C + I);
    return n;
}

double mlpRecomputeElementsPerToken(const ModelDims &d, bool weightGrads)
{
    const double C = double(d.hiddenSize), I = double(d.intermediateSize);
    return 2 * I + (weightGrads ? C + I : 0);
}

MemoryEstimate estimateMemory(const EstimateInput &in, int64_t deviceBytes)
{
    const auto &d = in.dims;
    const bool cuda = in.device == "cuda";
    const int64_t E = in.bf16 ? 2 : 4;                 // parameter storage
    const int64_t A = (cuda && in.bf16) ? 2 : 4;       // activations (CPU computes in fp32)
    const int64_t tables = d.tieWordEmbeddings ? 1 : 2;
    const int64_t params = d.parameterCount();
    const bool full = in.finetuningType == "full";
    const bool lora = in.finetuningType == "lora" || in.finetuningType == "qlora";
    const bool qlora = in.finetuningType == "qlora";
    const int64_t loraParams = lora ? d.numLayers * d.loraParameters(in.loraTarget, in.loraRank) : 0;
    const int64_t newRowElems = std::min(in.newTokens, d.vocabSize) * d.hiddenSize * tables;

    MemoryEstimate e;
    e.parameters = params + loraParams;

    // Weights (the trained new-token rows are an extra [R, C] copy per table).
    double weights = double(params) * E + double(loraParams) * 4;
    if (!full)
        weights += double(newRowElems) * E;
    if (qlora) {
        const double targets = double(d.numLayers) * d.targetParameters(in.loraTarget);
        const double perElem = double(in.quantizationBit) / 8.0 + 4.0 / double(in.quantizationBlockSize);
        weights -= targets * E;
        weights += targets * perElem;
    }
    e.weights = int64_t(weights);

    // Gradients and trained elements.
    int64_t gradBytes = 0, trainedElems = 0;
    if (full) {
        gradBytes = params * E;
        trainedElems = params;
    } else {
        gradBytes = loraParams * 4 + newRowElems * E;
        trainedElems = loraParams + newRowElems;
    }
    e.trainable = trainedElems;

    // Optimiser state (m and v).
    double optBytes = 0;
    if (in.optim == "adamw_8bit")
        optBytes = double(trainedElems) * (2.0 + 8.0 / double(in.optimBlockSize));
    else
        optBytes = double(trainedElems) * 8.0;
    // ZeRO-2 (training/dist): each of the numGpus ranks keeps m, v and the averaged gradient of
    // 1/numGpus of the trained elements. Autograd still materialises the full local gradient
    // before the reduce-scatter (the engine has no per-bucket backward hooks): that transient
    // part is gradientTransient.
    const int64_t shards = in.zeroStage >= 2 ? std::max<int64_t>(1, in.numGpus) : 1;
    e.gradients = ceilDiv(gradBytes, shards);
    e.gradientTransient = gradBytes - e.gradients;
    e.optimizer = int64_t(std::ceil(optBytes / double(shards)));

    // Activations.
    const double tokens = double(in.batchSize) * double(in.seqLen);
    const bool weightGrads = in.finetuningType != "freeze";
    const bool mlpRecompute = in.mlpRecompute && !in.gradientCheckpointing;
    const double perLayer = activationElementsPerTokenLayer(d, in.seqLen, weightGrads, mlpRecompute)
                            * tokens * A;
    // Full fine-tuning keeps the per-call concatenated q|k|v and gate|up weights for backward.
    const double D = double(d.headDimOrDefault());
    const double catWeights = full ? double(d.hiddenSize) * ((d.numHeads + 2 * d.numKvHeads) * D
                                                             + 2.0 * d.intermediateSize) * E
                                   : 0.0;
    double acts = in.gradientCheckpointing
                      ? double(d.numLayers) * tokens * d.hiddenSize * A + perLayer + catWeights
                      : double(d.numLayers) * (perLayer + catWeights);
    if (mlpRecompute) // one layer's MLP activations exist again while its backward runs
        acts += mlpRecomputeElementsPerToken(d, weightGrads) * tokens * A;
    acts += tokens * d.hiddenSize * A * 3;                          // embeddings out, final norm
    acts += tokens * in.supervisedFraction * d.vocabSize * 4.0;     // logits (gradient in place)
    e.activations = int64_t(acts);

    // Peak: with one micro-step per optimizer step no gradient is alive during forward, and
    // backward trades activations for gradients layer by layer.
    const int64_t grads = e.gradients + e.gradientTransient;
    const int64_t actsAndGrads = in.gradientAccumulation <= 1 ? std::max(e.activations, grads)
                                                              : e.activations + grads;
    const int64_t live = e.weights + e.optimizer + actsAndGrads;
    e.overhead = cuda ? kCudaContextBytes
                      : kCpuRuntimeBytes + int64_t(kCpuAllocatorSlack * double(live));
    e.total = live + e.overhead;
    e.deviceBytes = deviceBytes;
    e.fits = deviceBytes <= 0 || e.total <= deviceBytes;
    return e;
}

EstimateInput estimateInputFor(const RunConfig &c, const ModelDims &dims, int64_t newTokens)
{
    EstimateInput in;
    in.dims = dims;
    in.finetuningType = c.finetuningType;
    in.loraRank = c.loraRank;
    in.loraTarget = c.loraTarget;
    in.quantizationBit = c.quantizationBit;
    in.quantizationBlockSize = c.quantizationBlockSize;
    in.bf16 = c.bf16;
    in.gradientCheckpointing = c.gradientCheckpointing;
    in.mlpRecompute = mlpRecomputeActive(c);
    in.optim = c.sft.train.optim;
    in.batchSize = c.sft.train.perDeviceTrainBatchSize;
    in.seqLen = c.cutoffLen;
    in.gradientAccumulation = c.sft.train.gradientAccumulationSteps;
    in.newTokens = newTokens;
    in.device = c.device;
    // ranks: cuda = one per gpu_ids entry (or nproc_per_node), cpu = nproc_per_node; times nnodes
    const int64_t perNode = c.device == "cuda" ? std::max<int64_t>(int64_t(c.gpuIds.size()), c.nprocPerNode)
                                               : c.nprocPerNode;
    in.numGpus = std::max<int64_t>(1, perNode) * std::max<int64_t>(1, c.nnodes);
    in.zeroStage = c.zeroStage;
    return in;
}

} // namespace genrec::core
