// Peak RSS of short training runs per fine-tuning method vs the memory estimator.
// Usage: bench_finetune_memory PRESET TYPE [BATCH SEQ STEPS VOCAB CKPT]
// One method per process (ru_maxrss is a process-lifetime peak). Prints one JSON line.
#include "core/estimate/memory_estimator.h"
#include "training/finetune/finetune.h"
#include "training/model/model_config.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"

#include <torch/torch.h>

#include <sys/resource.h>

#include <cstdio>
#include <string>

using namespace genrec;

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PRESET TYPE [BATCH SEQ STEPS VOCAB CKPT]\n", argv[0]);
        return 2;
    }
    const std::string preset = argv[1], type = argv[2];
    const int64_t B = argc > 3 ? std::stoll(argv[3]) : 8;
    const int64_t T = argc > 4 ? std::stoll(argv[4]) : 128;
    const int steps = argc > 5 ? std::stoi(argv[5]) : 3;
    const int64_t vocab = argc > 6 ? std::stoll(argv[6]) : 8192;
    const bool ckpt = argc > 7 && std::string(argv[7]) == "1";
    const int64_t newTokens = 768;
    torch::manual_seed(0);
    auto cfg = train::presetModelConfig(preset, vocab);
    auto model = train::makeQwen2(cfg);
    model->initParameters();
    model->setGradientCheckpointing(ckpt);
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
    auto input = torch::randint(0, cfg.vocabSize, {B, T}, torch::kLong);
    auto labels = input.clone();
    labels.narrow(1, 0, T * 3 / 4).fill_(train::kIgnoreIndex); // 25 % supervised
    for (int s = 0; s < steps; ++s) {
        opt->zeroGrad();
        train::causalLmLoss(*model, model->forward(input), labels).backward();
        opt->step();
    }
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
    const auto e = core::estimateMemory(in);
    std::printf("{\"preset\":\"%s\",\"type\":\"%s\",\"ckpt\":%d,\"batch\":%lld,\"seq\":%lld,"
                "\"params\":%lld,\"trainable\":%lld,\"measured_mib\":%.1f,\"predicted_mib\":%.1f,"
                "\"weights\":%.1f,\"grads\":%.1f,\"optim\":%.1f,\"acts\":%.1f}\n",
                preset.c_str(), type.c_str(), int(ckpt), (long long)B, (long long)T,
                (long long)set.totalCount, (long long)set.trainableCount, ru.ru_maxrss / 1024.0,
                e.total / 1048576.0, e.weights / 1048576.0, e.gradients / 1048576.0,
                e.optimizer / 1048576.0, e.activations / 1048576.0);
    return 0;
}
