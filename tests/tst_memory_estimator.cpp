// Memory estimator arithmetic on hand-computed cases.
#include "core/config/run_config.h"
#include "core/estimate/memory_estimator.h"

#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>

using namespace genrec::core;

namespace {

ModelDims dims()
{
    ModelDims d;
    d.vocabSize = 100;
    d.hiddenSize = 8;
    d.intermediateSize = 16;
    d.numLayers = 2;
    d.numHeads = 2;
    d.numKvHeads = 1;
    d.headDim = 4;
    d.tieWordEmbeddings = true;
    d.attentionBias = true;
    return d;
}

} // namespace

class TestMemoryEstimator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parameterCounts()
    {
        const auto d = dims();
        // q 8×8+8, k 8×4+4, v 8×4+4, o 8×8, gate/up 8×16 each, down 16×8, norms 2×8.
        const int64_t layer = 72 + 36 + 36 + 64 + 128 + 128 + 128 + 16;
        QCOMPARE(d.layerParameters(), layer);
        QCOMPARE(d.parameterCount(), 100 * 8 + 2 * layer + 8);
        QCOMPARE(d.targetParameters({"q_proj", "v_proj"}), int64_t(64 + 32));
        QCOMPARE(d.loraParameters({"q_proj", "v_proj"}, 2), int64_t(2 * 16 + 2 * 12));
    }

    void fullFp32Components()
    {
        EstimateInput in;
        in.dims = dims();
        in.finetuningType = "full";
        in.batchSize = 2;
        in.seqLen = 10;
        in.supervisedFraction = 0.5;
        const auto e = estimateMemory(in);
        const int64_t P = dims().parameterCount();
        QCOMPARE(e.weights, P * 4);
        QCOMPARE(e.gradients, P * 4);
        QCOMPARE(e.optimizer, P * 8);
        QCOMPARE(e.trainable, P);
        // Attention probabilities: one query block of 10 rows over 10 keys, H = 2: 2·100/10.
        QCOMPARE(attentionProbsPerToken(dims(), 10), 20.0);
        // Blocks of 64: T = 128 → (64·64 + 64·128)/128 = 96 per head.
        QCOMPARE(attentionProbsPerToken(dims(), 128), 2 * 96.0);
        // Input-gradient path: 2C + q + 2kv + probs + 2I = 16 + 8 + 8 + 20 + 32 = 84;
        // projection inputs: 2C + q + I = 16 + 8 + 16 = 40.
        QCOMPARE(activationElementsPerTokenLayer(dims(), 10, false), 84.0);
        QCOMPARE(activationElementsPerTokenLayer(dims(), 10, true), 124.0);
        const double tokens = 20;
        const double cat = 8.0 * ((2 + 2) * 4 + 2 * 16) * 4; // concatenated q|k|v, gate|up weights
        const double acts = 2 * (124 * tokens * 4 + cat) + tokens * 8 * 4 * 3 + tokens * 0.5 * 100 * 4;
        QCOMPARE(e.activations, int64_t(acts));
        // One micro-step: activations and gradients are not alive together.
        const int64_t live = e.weights + e.optimizer + std::max(e.activations, e.gradients);
        QCOMPARE(e.overhead, kCpuRuntimeBytes + int64_t(kCpuAllocatorSlack * double(live)));
        QCOMPARE(e.total, live + e.overhead);
        // Several micro-steps: the accumulated gradient lives through forward and backward.
        in.gradientAccumulation = 4;
        const auto acc = estimateMemory(in);
        const int64_t liveAcc = e.weights + e.optimizer + e.activations + e.gradients;
        QCOMPARE(acc.total, liveAcc + kCpuRuntimeBytes + int64_t(kCpuAllocatorSlack * double(liveAcc)));
    }

    void zero2HalvesOptimizerOverTwoGpus()
    {
        EstimateInput in;
        in.dims = dims();
        in.device = "cuda";
        in.numGpus = 2;
        in.zeroStage = 0;
        const auto plain = estimateMemory(in);
        in.zeroStage = 2;
        const auto zero = estimateMemory(in);
        QCOMPARE(zero.optimizer * 2, plain.optimizer);
        QCOMPARE(zero.gradients * 2, plain.gradients);
        QCOMPARE(zero.weights, plain.weights);
        QCOMPARE(zero.overhead, kCudaContextBytes);
    }

    void checkpointingShrinksActivations()
    {
        EstimateInput in;
        in.dims = dims();
        in.dims.numLayers = 12;
        const auto plain = estimateMemory(in);
        in.gradientCheckpointing = true;
        const auto ck = estimateMemory(in);
        QVERIFY(ck.activations < plain.activations / 3);
        QCOMPARE(ck.weights, plain.weights);
    }

    void loraFreezeQloraAnd8bit()
    {
        EstimateInput in;
        in.dims = dims();
        in.newTokens = 10;
        in.finetuningType = "freeze";
        auto f = estimateMemory(in);
        QCOMPARE(f.trainable, int64_t(10 * 8));
        QCOMPARE(f.optimizer, int64_t(10 * 8 * 8));
        QCOMPARE(f.gradients, int64_t(10 * 8 * 4));  // [R, C] rows only, no dense table gradient
        QCOMPARE(f.weights, dims().parameterCount() * 4 + 10 * 8 * 4); // + the trained-row copy
        // Freeze keeps only the input-gradient path: fewer activations than full.
        in.finetuningType = "full";
        QVERIFY(f.activations < estimateMemory(in).activations);
        const double tokens = 16.0 * 512;
        QCOMPARE(f.activations, int64_t(2 * activationElementsPerTokenLayer(dims(), 512, false) * tokens * 4
                                        + tokens * 8 * 4 * 3 + tokens * 0.25 * 100 * 4));

        in.finetuningType = "lora";
        in.loraRank = 2;
        in.loraTarget = {"q_proj", "v_proj"};
        auto l = estimateMemory(in);
        const int64_t lp = 2 * (2 * 16 + 2 * 12);
        QCOMPARE(l.trainable, lp + 80);
        QCOMPARE(l.weights, dims().parameterCount() * 4 + lp * 4 + 80 * 4);
        QCOMPARE(l.gradients, lp * 4 + 80 * 4);
        QCOMPARE(l.activations, int64_t(2 * activationElementsPerTokenLayer(dims(), 512, true) * tokens * 4
                                        + tokens * 8 * 4 * 3 + tokens * 0.25 * 100 * 4));

        in.finetuningType = "qlora";
        in.quantizationBit = 4;
        in.quantizationBlockSize = 64;
        auto q = estimateMemory(in);
        const double target = 2 * 96;
        QCOMPARE(q.weights, int64_t(l.weights - target * 4 + target * (0.5 + 4.0 / 64)));
        QCOMPARE(q.activations, l.activations);

        in.finetuningType = "full";
        in.optim = "adamw_8bit";
        in.optimBlockSize = 256;
        auto o8 = estimateMemory(in);
        QCOMPARE(o8.optimizer, int64_t(std::ceil(dims().parameterCount() * (2.0 + 8.0 / 256))));
    }

    void mlpRecomputeKeepsOnlyTheSublayerInput()
    {
        // Per token and layer, C = 8, I = 16, q = 8, T = 10: without the SwiGLU input (2I) the
        // input-gradient path is 84 − 32 = 52; adapters add normed x and the attention output
        // (C + q = 16) but no longer normed h and the SwiGLU output.
        QCOMPARE(activationElementsPerTokenLayer(dims(), 10, false, true), 52.0);
        QCOMPARE(activationElementsPerTokenLayer(dims(), 10, true, true), 68.0);
        QCOMPARE(mlpRecomputeElementsPerToken(dims(), false), 32.0);
        QCOMPARE(mlpRecomputeElementsPerToken(dims(), true), 56.0);
        EstimateInput in;
        in.dims = dims();
        in.newTokens = 10;
        in.finetuningType = "freeze";
        in.mlpRecompute = true;
        const double tokens = 16.0 * 512;
        const auto f = estimateMemory(in);
        QCOMPARE(f.activations, int64_t(2 * activationElementsPerTokenLayer(dims(), 512, false, true) * tokens * 4
                                        + 32 * tokens * 4 + tokens * 8 * 4 * 3 + tokens * 0.25 * 100 * 4));
        in.mlpRecompute = false;
        QVERIFY(f.activations < estimateMemory(in).activations);
        // Whole-layer checkpointing wins: MLP recomputation adds nothing on top of it.
        in.gradientCheckpointing = true;
        const auto ck = estimateMemory(in);
        in.mlpRecompute = true;
        QCOMPARE(estimateMemory(in).activations, ck.activations);
    }

    void mlpRecomputeResolution()
    {
        RunConfig c;
        QCOMPARE(c.mlpRecompute, std::string("auto"));
        c.finetuningType = "full";
        QVERIFY(!mlpRecomputeActive(c));
        for (const char *t : {"lora", "qlora", "freeze"}) {
            c.finetuningType = t;
            QVERIFY2(mlpRecomputeActive(c), t);
        }
        c.mlpRecompute = "off";
        QVERIFY(!mlpRecomputeActive(c));
        c.finetuningType = "full";
        c.mlpRecompute = "on";
        QVERIFY(mlpRecomputeActive(c));
        c.gradientCheckpointing = true;
        QVERIFY(!mlpRecomputeActive(c));
        // estimateInputFor() resolves it the same way.
        c.gradientCheckpointing = false;
        QVERIFY(estimateInputFor(c, dims(), 10).mlpRecompute);
    }

    void fitVerdict()
    {
        EstimateInput in;
        in.dims = dims();
        const auto e = estimateMemory(in, 1LL << 40);
        QVERIFY(e.fits);
        QVERIFY(!estimateMemory(in, 1024).fits);
    }
};

QTEST_GUILESS_MAIN(TestMemoryEstimator)
#include "tst_memory_estimator.moc"
