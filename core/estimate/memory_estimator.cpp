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

double activationElementsPerTokenLayer(const ModelDims &d, int64_t seqLen)
{
    const double C = double(d.hiddenSize), I = double(d.intermediateSize);
    const double D = double(d.headDimOrDefault());
    const double q = d.numHeads * D, kv = d.numKvHeads * D;
    // Residual input and two RMSNorms (fp32 input and normalised output each): 5C; q, k, v
    // projections and their RoPE'd copies: 2q + 4kv; attention output into o_proj and the
    // post-attention residual: q + C; SwiGLU: gate, up, silu(gate), product: 4I; attention
    // scores and probabilities: 2·H·T.
    return 6 * C + 3 * q + 4 * kv + 4 * I + 2.0 * d.numHeads * double(seqLen);
}

MemoryEstimate estimateMemory(const EstimateInput &in, int64_t deviceBytes)
{
    const auto &d = in.dims;
    const bool cuda = in.device == "cuda";
    const int64_t E = in.bf16 ? 2 : 4;                 // parameter storage
    const int64_t A = (cuda && in.bf16) ? 2 : 4;       // activations (CPU computes in fp32)
    const int64_t table = d.vocabSize * d.hiddenSize;
    const int64_t tables = d.tieWordEmbeddings ? 1 : 2;
    const int64_t params = d.parameterCount();
    const bool lora = in.finetuningType == "lora" || in.finetuningType == "qlora";
    const bool qlora = in.finetuningType == "qlora";
    const int64_t loraParams = lora ? d.numLayers * d.loraParameters(in.loraTarget, in.loraRank) : 0;
    const int64_t newRowElems = std::min(in.newTokens, d.vocabSize) * d.hiddenSize * tables;

    MemoryEstimate e;
    e.parameters = params + loraParams;

    // Weights.
    double weights = double(params) * E + double(loraParams) * 4;
    if (qlora) {
        const double targets = double(d.numLayers) * d.targetParameters(in.loraTarget);
        const double perElem = double(in.quantizationBit) / 8.0 + 4.0 / double(in.quantizationBlockSize);
        weights -= targets * E;
        weights += targets * perElem;
    }
    e.weights = int64_t(weights);

    // Gradients and trained elements.
    int64_t gradBytes = 0, trainedElems = 0;
    if (in.finetuningType == "full") {
        gradBytes = params * E;
        trainedElems = params;
    } else {
        const bool rows = in.newTokens > 0;
        gradBytes = loraParams * 4 + (rows ? table * tables * E : 0);
        trainedElems = loraParams + (rows ? newRowElems : 0);
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
    const double perLayer = activationElementsPerTokenLayer(d, in.seqLen) * tokens * A;
    double acts = in.gradientCheckpointing
                      ? double(d.numLayers) * tokens * d.hiddenSize * A + perLayer
                      : double(d.numLayers) * perLayer;
    acts += tokens * d.hiddenSize * A * 3;                          // embeddings out, final norm
    acts += tokens * in.supervisedFraction * d.vocabSize * 4.0 * 3; // logits, log-softmax, grad
    e.activations = int64_t(acts);

    e.overhead = cuda ? kCudaContextBytes : kCpuRuntimeBytes;
    e.total = e.weights + e.gradients + e.gradientTransient + e.optimizer + e.activations + e.overhead;
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
    in.optim = c.sft.train.optim;
    in.batchSize = c.sft.train.perDeviceTrainBatchSize;
    in.seqLen = c.cutoffLen;
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
