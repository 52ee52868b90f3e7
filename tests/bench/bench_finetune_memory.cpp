// Peak RSS of short training runs per fine-tuning method vs the memory estimator.
// Usage: bench_finetune_memory PRESET TYPE [BATCH SEQ STEPS VOCAB CKPT MLP]
// CKPT: 1 = gradient checkpointing; MLP: auto | on | off (mlp_recompute, as in a run config).
// One method per process (ru_maxrss is a process-lifetime peak). Prints one JSON line:
//   base_mib       RSS before the model exists (LibTorch runtime, measured in this process)
//   measured_mib   peak RSS of the process (ru_maxrss)
//   tensor_peak_mib / tensor_setup_mib  peak and after-setup bytes of live CPU tensor storage,
//                  counted by a wrapper around LibTorch's CPU allocator
//   predicted_mib  core::estimateMemory() for the same settings
// Run with OMP_NUM_THREADS=1 for comparable numbers.
#include "core/config/run_config.h"
#include "core/estimate/memory_estimator.h"
#include "training/finetune/finetune.h"
#include "training/model/model_config.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

using namespace genrec;

namespace {

/// Counts live bytes of CPU tensor storage (header of 64 bytes holds the size).
struct CountingAllocator final : at::Allocator
{
    static inline std::atomic<int64_t> live{0}, peak{0};
    static void del(void *p)
    {
        auto *base = static_cast<char *>(p) - 64;
        live -= *reinterpret_cast<int64_t *>(base);
        c10::free_cpu(base);
    }
    at::DataPtr allocate(size_t n) const override
    {
        auto *base = static_cast<char *>(c10::alloc_cpu(n + 64));
        *reinterpret_cast<int64_t *>(base) = int64_t(n);
        const int64_t now = live += int64_t(n);
        int64_t p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {}
        void *data = base + 64;
        return {data, data, &del, at::Device(at::DeviceType::CPU)};
    }
    at::DeleterFnPtr raw_deleter() const override { return &del; }
};

double rssMib()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PRESET TYPE [BATCH SEQ STEPS VOCAB CKPT MLP]\n", argv[0]);
        return 2;
    }
    static CountingAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
    const std::string preset = argv[1], type = argv[2];
    const int64_t B = argc > 3 ? std::stoll(argv[3]) : 8;
    const int64_t T = argc > 4 ? std::stoll(argv[4]) : 128;
    const int steps = argc > 5 ? std::stoi(argv[5]) : 3;
    const int64_t vocab = argc > 6 ? std::stoll(argv[6]) : 8192;
    const bool ckpt = argc > 7 && std::string(argv[7]) == "1";
    core::RunConfig rc;
    rc.finetuningType = type;
    rc.gradientCheckpointing = ckpt;
    rc.mlpRecompute = argc > 8 ? argv[8] : "auto";
    const bool mlp = core::mlpRecomputeActive(rc);
    const int64_t newTokens = 768;
    torch::manual_seed(0);
    (void)torch::zeros({1}).add(1); // touch the runtime (thread pool, dispatcher) once
    const double baseMib = rssMib();
    auto cfg = train::presetModelConfig(preset, vocab);
    auto model = train::makeQwen2(cfg);
    model->initParameters();
    model->setGradientCheckpointing(ckpt);
    model->setMlpRecompute(mlp);
    model->train();
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < newTokens; ++i)
        ids.push_back(cfg.vocabSize - newTokens + i);
    train::FinetuneOptions fo;
    fo.type = type;
    fo.loraDropout = 0;
    auto set = train::applyFinetuning(*model, fo, ids);
    train::OptimizerOptions oo;
    auto opt = train::makeOptimizer(set.groups, oo);
    const double setupTensorMib = CountingAllocator::live / 1048576.0;
    auto input = torch::randint(0, cfg.vocabSize, {B, T}, torch::kLong);
    auto labels = input.clone();
    labels.narrow(1, 0, T * 3 / 4).fill_(train::kIgnoreIndex); // 25 % supervised
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
        opt->zeroGrad();
        train::causalLmLoss(*model, model->forward(input), labels).backward();
        opt->step();
    }
    const double msPerStep =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    core::ModelDims d{cfg.vocabSize, cfg.hiddenSize, cfg.intermediateSize, cfg.numHiddenLayers,
                      cfg.numAttentionHeads, cfg.numKeyValueHeads, cfg.headDim,
                      cfg.tieWordEmbeddings, cfg.attentionBias};
    core::EstimateInput in;
    in.dims = d;
    in.finetuningType = type;
    in.batchSize = B;
    in.seqLen = T;
    in.newTokens = newTokens;
    in.gradientCheckpointing = ckpt;
    in.mlpRecompute = mlp;
    const auto e = core::estimateMemory(in);
    const double measured = ru.ru_maxrss / 1024.0, predicted = e.total / 1048576.0;
    std::printf("{\"preset\":\"%s\",\"type\":\"%s\",\"ckpt\":%d,\"mlp_recompute\":%d,\"batch\":%lld,\"seq\":%lld,"
                "\"params\":%lld,\"trainable\":%lld,\"base_mib\":%.1f,\"tensor_setup_mib\":%.1f,"
                "\"tensor_peak_mib\":%.1f,\"measured_mib\":%.1f,\"predicted_mib\":%.1f,"
                "\"error_pct\":%.1f,\"weights\":%.1f,\"grads\":%.1f,\"optim\":%.1f,\"acts\":%.1f,"
                "\"overhead\":%.1f,\"ms_per_step\":%.0f}\n",
                preset.c_str(), type.c_str(), int(ckpt), int(mlp), (long long)B, (long long)T,
                (long long)set.totalCount, (long long)set.trainableCount, baseMib, setupTensorMib,
                CountingAllocator::peak / 1048576.0, measured, predicted,
                100.0 * (predicted - measured) / measured, e.weights / 1048576.0,
                e.gradients / 1048576.0, e.optimizer / 1048576.0, e.activations / 1048576.0,
                e.overhead / 1048576.0, msPerStep);
    return 0;
}
