#include "training/engine/run_context.h"

#include "core/common/error.h"
#include "core/data/synth.h"
#include "training/dist/process_group.h"
#include "training/model/model_loading.h"
#include "training/runtime/threads.h"
#include "training/sft/prompts.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace genrec::train {

namespace {
constexpr int kCompactMerges = 1500; ///< merges of a preset's compact tokenizer
}

void RunContext::event(const std::string &stage, int64_t step, const std::string &kind,
                       const std::string &message, const std::string &payloadJson) const
{
    if (!store)
        return;
    core::EventRow row;
    row.runId = runId;
    row.stage = stage;
    row.step = step;
    row.wallTime = core::unixNow();
    row.kind = kind;
    row.message = message;
    row.payloadJson = payloadJson;
    store->addEvent(row);
}

std::string demoDatasetDir()
{
    if (const char *x = std::getenv("XDG_DATA_HOME"); x && *x)
        return (fs::path(x) / "genrec" / "demo").string();
    const char *home = std::getenv("HOME");
    return (fs::path(home && *home ? home : ".") / ".local" / "share" / "genrec" / "demo").string();
}

core::Dataset loadRunDataset(const core::RunConfig &config, std::string *resolvedDir)
{
    std::string dir = config.datasetDir;
    if (dir.empty()) {
        dir = demoDatasetDir();
        if (!fs::exists(fs::path(dir) / "index")) {
            core::SynthOptions opts; // the embedded demo: 500 users, 192 items, seed 7
            core::writeSynthDataset(dir, opts);
        }
    }
    if (resolvedDir)
        *resolvedDir = dir;
    return core::loadDataset(dir, config.dataset);
}

std::vector<std::string> compactTokenizerCorpus(const core::Dataset &dataset, const std::string &category)
{
    std::vector<std::string> lines;
    for (const auto &it : dataset.items) {
        lines.push_back(it.title);
        lines.push_back("\"" + it.title + "\"");
    }
    // one example of every task (the envelope text repeats, so its words become single tokens)
    core::Dataset probe;
    probe.items = dataset.items;
    probe.buildIndex();
    const size_t rows = std::min<size_t>(dataset.train.size(), 64);
    probe.train.assign(dataset.train.begin(), dataset.train.begin() + static_cast<std::ptrdiff_t>(rows));
    for (auto tmpl : {PromptTemplate::Fixed, PromptTemplate::Compat, PromptTemplate::Compact}) {
        for (const auto &ex : buildSftExamples(probe, "train", sftTaskNames(), tmpl, category, 1, 16)) {
            lines.push_back(ex.preamble);
            lines.push_back(ex.user);
            lines.push_back(ex.response);
        }
    }
    return lines;
}

bool builtWithCuda()
{
#ifdef GENREC_TORCH_CUDA
    return true;
#else
    return false;
#endif
}

torch::Device resolveRunDevice(const core::RunConfig &config)
{
    if (config.device == "cpu")
        return torch::kCPU;
    if (config.device != "cuda")
        core::throwBadInput("device: '" + config.device + "' is not cpu or cuda", "set device: cpu or device: cuda");
    if (!builtWithCuda())
        core::throwBadInput("device: cuda but this genrec was built against a CPU-only LibTorch",
                            "set device: cpu, or build against a CUDA LibTorch (packaging/README-cuda.md)");
    if (!torch::cuda::is_available())
        core::throwBadInput("device: cuda but no CUDA device is available at run time (torch::cuda::is_available() is false)",
                            "check the driver and CUDA_VISIBLE_DEVICES (`genrec devices`), or set device: cpu");
    int64_t id = -1;
    if (const char *e = std::getenv("GENREC_CUDA_DEVICE"); e && *e) {
        char *end = nullptr;
        const long v = std::strtol(e, &end, 10);
        if (end == e || *end != '\0' || v < 0)
            core::throwBadInput(std::string("GENREC_CUDA_DEVICE='") + e + "' is not a device index", "unset it");
        id = v;
    } else if (auto *group = dist::current()) {
        const auto lr = static_cast<size_t>(group->localRank());
        if (group->device().is_cuda()) // NCCL: the model sits where the collectives run
            id = group->device().index();
        else
            id = lr < config.gpuIds.size() ? config.gpuIds[lr] : static_cast<int64_t>(lr);
    } else {
        id = config.gpuIds.empty() ? 0 : config.gpuIds.front();
    }
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (id >= count)
        core::throwBadInput("gpu_ids: CUDA device " + std::to_string(id) + " does not exist (" + std::to_string(count) +
                                " visible)",
                            "see `genrec devices`");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(id));
}

void setupRunContext(RunContext &ctx)
{
    const auto &cfg = ctx.config;
    setThreadCount(static_cast<int>(cfg.numThreads));
    ctx.device = resolveRunDevice(cfg); // before anything heavy: a bad device fails fast
    ctx.dataset = loadRunDataset(cfg, &ctx.datasetDir);
    const auto sidVocab = ctx.dataset.sidVocabulary();
    const std::string category = cfg.category.empty() ? ctx.dataset.categoryPhrase() : cfg.category;
    const std::string &spec = cfg.modelNameOrPath;
    CausalLmLoadOptions load;
    load.seed = static_cast<uint64_t>(cfg.seed);
    load.device = ctx.device;
    // bf16: CPU = bf16 storage with fp32 compute, CUDA = bf16 compute (qwen2.h). fp32 is explicit,
    // so a CUDA run never inherits a folder's or preset's stored dtype.
    load.dtype = cfg.bf16 ? torch::kBFloat16 : torch::kFloat;
    if (spec.rfind("preset:", 0) == 0) {
        ctx.tokenizer = BpeTokenizer::trainCompact(compactTokenizerCorpus(ctx.dataset, category), kCompactMerges);
        ctx.tokenizer.addTokens(sidVocab);
        load.presetVocabSize = ctx.tokenizer.size();
        ctx.model = loadCausalLm(spec, load);
    } else {
        ctx.tokenizer = BpeTokenizer::load(spec);
        ctx.tokenizer.addTokens(sidVocab);
        if (cfg.trainFromScratch)
            core::throwBadInput("train_from_scratch: not supported yet for model folders",
                                "use a preset:NAME model for from-scratch training");
        ctx.model = loadCausalLm(spec, load);
        ctx.model->resizeTokenEmbeddings(ctx.tokenizer.size());
    }
    ctx.sidTokenIds.clear();
    ctx.newTokenIds.clear();
    nlohmann::json map = nlohmann::json::object();
    for (const auto &tok : sidVocab) {
        const int32_t id = ctx.tokenizer.tokenToId(tok);
        ctx.sidTokenIds[tok] = id;
        ctx.newTokenIds.push_back(id);
        map[tok] = id;
    }
    ctx.model->setGradientCheckpointing(cfg.gradientCheckpointing);
    ctx.model->setMlpRecompute(core::mlpRecomputeActive(cfg));
    ctx.model->setDropout(cfg.dropout);
    // The model is on ctx.device already: fine-tuning (LoRA factors, row masks, quantised bases)
    // is created next to the weights (finetune.h).
    std::vector<int64_t> newIds(ctx.newTokenIds.begin(), ctx.newTokenIds.end());
    ctx.trainable = applyFinetuning(*ctx.model, FinetuneOptions::fromRunConfig(cfg), newIds);
    if (!cfg.adapterNameOrPath.empty()) {
        ctx.trainable.loadAdapter(cfg.adapterNameOrPath);
        ctx.log("model: adapter loaded from " + cfg.adapterNameOrPath);
    }
    fs::create_directories(ctx.outputDir);
    {
        std::ofstream out(fs::path(ctx.outputDir) / "sid_tokens.json");
        out << map.dump(1) << "\n";
    }
    ctx.event("setup", 0, "sid_tokens",
              std::to_string(sidVocab.size()) + " SID tokens, ids " +
                  (ctx.newTokenIds.empty() ? std::string("-") : std::to_string(ctx.newTokenIds.front()) + ".." +
                                                                    std::to_string(ctx.newTokenIds.back())),
              nlohmann::json{{"tokenizer_size", ctx.tokenizer.size()}, {"sid_tokens", map}}.dump());
    ctx.event("setup", 0, "model",
              cfg.finetuningType + ": " + std::to_string(ctx.trainable.trainableCount) + " of " +
                  std::to_string(ctx.trainable.totalCount) + " parameters train",
              nlohmann::json{{"finetuning_type", cfg.finetuningType},
                             {"trainable_parameters", ctx.trainable.trainableCount},
                             {"total_parameters", ctx.trainable.totalCount},
                             {"bf16", cfg.bf16},
                             {"device", ctx.device.str()},
                             {"gradient_checkpointing", cfg.gradientCheckpointing},
                             {"mlp_recompute", core::mlpRecomputeActive(cfg)}}.dump());
    ctx.log("model: " + cfg.finetuningType + ", " + std::to_string(ctx.trainable.trainableCount) + " of " +
            std::to_string(ctx.trainable.totalCount) + " parameters train on " + ctx.device.str());
}

} // namespace genrec::train
