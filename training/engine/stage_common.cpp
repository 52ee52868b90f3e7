#include "training/engine/stage_common.h"

#include "core/common/error.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/model_loading.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace genrec::train {

namespace {
bool usesAdapter(const RunContext &ctx)
{
    return ctx.trainable.type == "lora" || ctx.trainable.type == "qlora";
}
} // namespace

double monotonicSeconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double residentMb()
{
    std::ifstream in("/proc/self/statm");
    long pages = 0, resident = 0;
    in >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

void saveTrainedWeights(RunContext &ctx, const std::string &dir)
{
    fs::create_directories(dir);
    if (usesAdapter(ctx)) {
        ctx.trainable.saveAdapter(dir);
        return;
    }
    StateDict tensors;
    for (auto &[key, t] : ctx.model->stateDict())
        tensors[key] = t;
    saveSafetensors((fs::path(dir) / "model.safetensors").string(), tensors, DType::F32);
}

void loadTrainedWeights(RunContext &ctx, const std::string &dir)
{
    const fs::path d(dir);
    if (fs::exists(d / "adapter_model.safetensors")) {
        if (!usesAdapter(ctx))
            core::throwBadInput(dir + ": holds a LoRA adapter but finetuning_type is " + ctx.trainable.type,
                                "resume with the run's own configuration");
        ctx.trainable.loadAdapter(dir);
        return;
    }
    const std::string file = (d / "model.safetensors").string();
    if (!fs::exists(file))
        core::throwBadInput(dir + ": neither model.safetensors nor adapter_model.safetensors",
                            "the checkpoint is incomplete; pick another one");
    if (usesAdapter(ctx))
        core::throwBadInput(file + ": full weights, but finetuning_type is " + ctx.trainable.type,
                            "resume with the run's own configuration");
    auto tensors = loadSafetensors(file);
    std::vector<std::pair<std::string, torch::Tensor>> named(tensors.begin(), tensors.end());
    ctx.model->loadStateDict(named, true, file);
}

double clipTrainableGradNorm(const TrainableSet &trainable, double maxNorm)
{
    torch::NoGradGuard noGrad;
    double sq = 0;
    for (const auto &g : trainable.groups)
        for (size_t i = 0; i < g.params.size(); ++i) {
            const auto &grad = g.params[i].grad();
            if (!grad.defined())
                continue;
            const bool restricted = i < g.rows.size() && g.rows[i].defined();
            const auto part = restricted ? grad.index_select(0, g.rows[i]) : grad;
            sq += part.to(torch::kFloat64).pow(2).sum().item<double>();
        }
    const double norm = std::sqrt(sq);
    if (maxNorm > 0 && std::isfinite(norm) && norm > maxNorm) {
        const double scale = maxNorm / (norm + 1e-6);
        for (const auto &g : trainable.groups)
            for (const auto &p : g.params)
                if (p.grad().defined())
                    p.mutable_grad().mul_(scale);
    }
    return norm;
}

void saveFinalModel(RunContext &ctx, const std::string &dir)
{
    fs::create_directories(fs::path(dir).parent_path());
    if (usesAdapter(ctx)) {
        const fs::path tmp = fs::path(dir + ".tmp");
        fs::remove_all(tmp);
        ctx.trainable.saveAdapter(tmp.string());
        ctx.tokenizer.save(tmp.string());
        fs::remove_all(dir);
        fs::rename(tmp, dir);
        return;
    }
    saveCausalLm(*ctx.model, dir, ctx.config.bf16 ? "bfloat16" : "float32");
    ctx.tokenizer.save(dir);
}

} // namespace genrec::train
