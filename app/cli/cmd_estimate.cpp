// genrec estimate: predicted peak training memory per device for a run config.
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "core/config/run_config_yaml.h"
#include "core/estimate/memory_estimator.h"
#include "training/io/hf_folder.h"
#include "training/model/model_config.h"

#include <cstdio>
#include <iostream>

namespace genrec::app {

namespace {

core::ModelDims dimsFor(const std::string &model, int64_t vocabSize)
{
    train::ModelConfig c;
    if (train::isPresetName(model))
        c = train::presetModelConfig(model, vocabSize);
    else
        c = train::parseModelConfigJson(train::readTextFile(model + "/config.json"),
                                        model + "/config.json");
    core::ModelDims d;
    d.vocabSize = c.vocabSize;
    d.hiddenSize = c.hiddenSize;
    d.intermediateSize = c.intermediateSize;
    d.numLayers = c.numHiddenLayers;
    d.numHeads = c.numAttentionHeads;
    d.numKvHeads = c.numKeyValueHeads;
    d.headDim = c.headDim;
    d.tieWordEmbeddings = c.tieWordEmbeddings;
    d.attentionBias = c.attentionBias;
    return d;
}

std::string mib(int64_t bytes)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%10.1f MiB", double(bytes) / (1 << 20));
    return buf;
}

} // namespace

void registerEstimateCommands(CLI::App &app, CliContext &ctx)
{
    static std::string path;
    static std::vector<std::string> overrides;
    static double deviceGiB = 0;
    static int64_t vocabSize = 151665;
    static int64_t newTokens = 0;
    auto *cmd = app.add_subcommand("estimate", "Predict peak training memory per device for a run config");
    cmd->add_option("file", path, "Run YAML, or - for standard input")->required();
    cmd->add_option("--set", overrides, "Override a key (key=value), repeatable");
    cmd->add_option("--device-memory", deviceGiB, "Device memory in GiB for the fit verdict");
    cmd->add_option("--vocab-size", vocabSize, "Tokenizer size a preset is built for (default 151665)");
    cmd->add_option("--new-tokens", newTokens, "Number of added SID tokens (freeze/lora rows)");
    cmd->callback([&ctx] {
        ctx.action = [&ctx] {
            const std::string source = path == "-" ? "<stdin>" : path;
            const auto r = core::checkRunConfigText(readFileOrStdin(path), source, overrides);
            if (!r.problems.empty()) {
                for (const auto &p : r.problems)
                    std::cerr << p.toString() << "\n";
                return core::kExitBadInput;
            }
            const auto &c = r.config;
            const auto in = core::estimateInputFor(c, dimsFor(c.modelNameOrPath, vocabSize), newTokens);
            const auto e = core::estimateMemory(in, int64_t(deviceGiB * double(1LL << 30)));
            if (ctx.json) {
                printJson({{"model", c.modelNameOrPath}, {"finetuning_type", in.finetuningType},
                           {"optim", in.optim}, {"device", in.device}, {"gpus", in.numGpus},
                           {"zero_stage", in.zeroStage}, {"batch", in.batchSize}, {"seq", in.seqLen},
                           {"gradient_accumulation", in.gradientAccumulation},
                           {"gradient_checkpointing", in.gradientCheckpointing},
                           {"mlp_recompute", in.mlpRecompute},
                           {"parameters", e.parameters}, {"trainable", e.trainable},
                           {"bytes", {{"weights", e.weights}, {"gradients", e.gradients},
                                      {"optimizer", e.optimizer}, {"activations", e.activations},
                                      {"overhead", e.overhead}, {"total", e.total}}},
                           {"device_bytes", e.deviceBytes}, {"fits", e.fits}});
            } else {
                std::cout << "model " << c.modelNameOrPath << " (" << e.parameters << " parameters, "
                          << e.trainable << " trainable), " << in.finetuningType << ", " << in.optim
                          << ", " << in.device << " x" << in.numGpus << ", zero " << in.zeroStage
                          << ", batch " << in.batchSize << " x seq " << in.seqLen
                          << " (x" << in.gradientAccumulation << " accumulation)"
                          << (in.gradientCheckpointing ? ", checkpointing" : "")
                          << (in.mlpRecompute ? ", MLP recomputed" : "") << "\n"
                          << "  weights     " << mib(e.weights) << "\n"
                          << "  gradients   " << mib(e.gradients) << "\n"
                          << "  optimizer   " << mib(e.optimizer) << "\n"
                          << "  activations " << mib(e.activations) << "\n"
                          << "  " << (in.device == "cuda" ? "cuda ctx    " : "runtime     ")
                          << mib(e.overhead) << "\n"
                          << "  total       " << mib(e.total) << " per device\n";
                if (e.deviceBytes > 0)
                    std::cout << (e.fits ? "  fits in " : "  does NOT fit in ") << mib(e.deviceBytes) << "\n";
            }
            return (e.deviceBytes > 0 && !e.fits) ? 1 : core::kExitOk;
        };
    });
}

} // namespace genrec::app
