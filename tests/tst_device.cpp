// Device plumbing (RunContext::device): `device: cuda` on a build or machine without CUDA fails
// setup with core::Error(BadInput) naming `device`; an explicit `device: cpu` trains exactly as
// the default. On a CUDA build with a GPU the first check instead verifies the model lands there.
#include "core/common/error.h"
#include "core/data/synth.h"
#include "core/store/run_store.h"
#include "training/engine/pipeline.h"
#include "training/engine/run_context.h"

#include "tests/run_fixtures.h"

#include <QtTest/QtTest>

#include <torch/cuda.h>

using namespace genrec;
using genrec::testing::makeData;
using genrec::testing::series;

namespace {

core::RunConfig tinyConfig(const std::string &dir, const std::string &out)
{
    core::RunConfig c;
    c.modelNameOrPath = "preset:tiny";
    c.datasetDir = dir + "/data";
    c.outputDir = dir + "/" + out;
    c.stages = {"sft"};
    c.numThreads = 2;
    c.cutoffLen = 256;
    c.maxSamples = 32;
    c.sft.tasks = {"sid_seq2sid"};
    c.sft.evalMaxSamples = 8;
    c.sft.evalRanking = false;
    c.sft.earlyStoppingPatience = 0;
    auto &t = c.sft.train;
    t.maxSteps = 6;
    t.perDeviceTrainBatchSize = 4;
    t.perDeviceEvalBatchSize = 8;
    t.gradientAccumulationSteps = 2;
    t.learningRate = 3e-3;
    t.warmupSteps = 2;
    t.evalSteps = 3;
    t.saveSteps = 0;
    return c;
}

} // namespace

class TestDevice : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cudaWithoutCudaFailsNamingDevice()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto cfg = tinyConfig(dir, "cuda");
        cfg.device = "cuda";
        const auto id = train::createTrainingRun(store, cfg, "");
        train::RunContext ctx;
        ctx.config = cfg;
        ctx.store = &store;
        ctx.runId = id;
        ctx.outputDir = cfg.outputDir;
        if (train::builtWithCuda() && torch::cuda::is_available()) { // a CUDA machine: it must land there
            train::setupRunContext(ctx);
            QVERIFY(ctx.device.is_cuda());
            QVERIFY(ctx.model->device().is_cuda());
            for (const auto &g : ctx.trainable.groups)
                for (const auto &p : g.params)
                    QVERIFY(p.device() == ctx.device);
            return;
        }
        bool threw = false;
        try {
            train::setupRunContext(ctx);
        } catch (const core::Error &e) {
            threw = true;
            qInfo("%s", e.what());
            QCOMPARE(e.kind(), core::ErrorKind::BadInput);
            QCOMPARE(e.exitCode(), 2);
            QVERIFY(std::string(e.what()).find("device") != std::string::npos);
            if (!train::builtWithCuda())
                QVERIFY(std::string(e.what()).find("CPU-only LibTorch") != std::string::npos);
        }
        QVERIFY(threw);
        QVERIFY(!ctx.model); // failed before loading anything

        // Through the pipeline: the run fails with exit code 2 and the message is stored.
        const auto r = train::runPipeline(store, id, {}, false);
        QCOMPARE(r.status, std::string("failed"));
        QCOMPARE(r.exitCode, 2);
        QVERIFY(r.error.find("device") != std::string::npos);
    }

    void explicitCpuEqualsDefault()
    {
        QTemporaryDir tmp;
        const std::string dir = makeData(tmp);
        core::RunStore store(dir + "/runs.db");
        auto cfgA = tinyConfig(dir, "a"); // default device
        const auto a = train::createTrainingRun(store, cfgA, "");
        QCOMPARE(train::runPipeline(store, a, {}, false).status, std::string("finished"));
        auto cfgB = tinyConfig(dir, "b");
        cfgB.device = "cpu";
        const auto b = train::createTrainingRun(store, cfgB, "");
        QCOMPARE(train::runPipeline(store, b, {}, false).status, std::string("finished"));
        const auto la = series(store, a, "loss"), lb = series(store, b, "loss");
        QCOMPARE(la.size(), size_t(6));
        QCOMPARE(lb.size(), la.size());
        for (size_t i = 0; i < la.size(); ++i)
            QVERIFY(la[i] == lb[i]); // bit-identical
        QVERIFY(series(store, a, "eval_loss") == series(store, b, "eval_loss"));
        QVERIFY(series(store, a, "grad_norm") == series(store, b, "grad_norm"));
        QVERIFY(series(store, b, "cuda_mem_mb").empty()); // CUDA-only metric
        QCOMPARE(torch::Device(torch::kCPU), train::resolveRunDevice(cfgB));
    }
};

QTEST_GUILESS_MAIN(TestDevice)
#include "tst_device.moc"
