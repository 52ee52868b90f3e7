#pragma once
/// @file run_context.h
/// What every training stage of a run shares: the resolved config, the store and run id, the
/// dataset, the tokenizer (with the SID tokens) and the model; plus the hooks the front end
/// gives the engine (progress, stop requests). Built by setupRunContext().

#include "core/config/run_config.h"
#include "core/data/dataset.h"
#include "core/store/run_store.h"
#include "training/finetune/finetune.h"
#include "training/model/qwen2.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace genrec::train {

/// One progress report of a stage (the CLI draws it, --json prints it).
struct StageProgress
{
    std::string stage;
    int64_t step = 0;
    int64_t totalSteps = 0;
    double loss = 0;
    double lr = 0;
    double epoch = 0;
};

/// Front-end hooks. Every member may be empty.
struct EngineHooks
{
    std::function<void(const StageProgress &)> onProgress;
    /// Polled once per optimiser step: true = finish the step, checkpoint, stop.
    std::function<bool()> stopRequested;
    /// Free-text log lines (warnings, stage banners).
    std::function<void(const std::string &)> log;
};

struct RunContext
{
    core::RunConfig config;
    core::RunStore *store = nullptr;
    int64_t runId = 0;
    std::string outputDir;   ///< resolved (never empty)
    std::string datasetDir;  ///< resolved (the demo folder for dataset_dir: "")
    core::Dataset dataset;
    BpeTokenizer tokenizer;
    Qwen2ForCausalLM model{nullptr};
    /// Where the model, its batches and the optimiser state live: cpu, or cuda:<id> for
    /// `device: cuda` (resolveRunDevice()). Set by setupRunContext() before the model loads.
    torch::Device device = torch::kCPU;
    std::map<std::string, int32_t> sidTokenIds; ///< SID token -> id
    std::vector<int32_t> newTokenIds;           ///< ids of the SID tokens, MiniOneRec order
    /// What trains: applyFinetuning() of the run's finetuning_type (full | lora | freeze |
    /// qlora), applied once by setupRunContext(); stages build their optimisers from its groups.
    TrainableSet trainable;
    EngineHooks hooks;

    void log(const std::string &line) const
    {
        if (hooks.log)
            hooks.log(line);
    }
    /// Adds an event to the store.
    void event(const std::string &stage, int64_t step, const std::string &kind,
               const std::string &message, const std::string &payloadJson = "{}") const;
};

/// Where dataset_dir: "" points: $XDG_DATA_HOME/genrec/demo, else ~/.local/share/genrec/demo.
std::string demoDatasetDir();

/// Resolves the dataset folder (generating the demo dataset when needed) and loads it.
core::Dataset loadRunDataset(const core::RunConfig &config, std::string *resolvedDir = nullptr);

/// True when this genrec was built against a LibTorch with CUDA (GENREC_TORCH_CUDA, set by
/// training/CMakeLists.txt when Torch's CMake config has CUDA libraries).
bool builtWithCuda();

/// The device of this process for `config.device`: cpu, or cuda:<id> with id =
/// $GENREC_CUDA_DEVICE (set by the launcher: gpu_ids[local_rank]), else for a data-parallel
/// worker NCCL's device or gpu_ids[LOCAL_RANK] (LOCAL_RANK itself without gpu_ids), else
/// gpu_ids[0], else 0.
/// Throws core::Error(BadInput) naming `device` when CUDA is not built in or not available at
/// run time, and naming `gpu_ids` when the id is not a visible device.
torch::Device resolveRunDevice(const core::RunConfig &config);

/// Sets threads, loads the dataset, picks the device (resolveRunDevice()), builds/loads
/// tokenizer + model onto it (model_name_or_path = HF folder: load and add the SID tokens,
/// resize; "preset:NAME": compact BPE learned from the dataset's titles and prompts + SID
/// tokens, model initialised from `seed`) in bf16 or fp32 (`bf16`: CPU = bf16 storage with fp32
/// compute, CUDA = bf16 compute, see qwen2.h), applies gradient checkpointing and, after the
/// move, the fine-tuning type (ctx.trainable). Writes `<outputDir>/sid_tokens.json` and a
/// `sid_tokens` event. Throws core::Error.
void setupRunContext(RunContext &ctx);

/// Corpus lines a compact tokenizer is learned from (titles and prompt texts).
std::vector<std::string> compactTokenizerCorpus(const core::Dataset &dataset, const std::string &category);

} // namespace genrec::train
