#include "training/engine/stage_common.h"

#include "core/common/error.h"
#include "training/io/hf_folder.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/model_loading.h"

#include <nlohmann/json.hpp>

// c10's CUDA caching allocator: only in a CUDA LibTorch (Debian's CPU package ships the header
// but neither the CUDA runtime headers nor libc10_cuda).
#if defined(GENREC_TORCH_CUDA) && defined(__has_include)
#if __has_include(<c10/cuda/CUDACachingAllocator.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define GENREC_HAVE_CUDA_ALLOCATOR 1
#endif
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
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

double cudaMemoryMb(const torch::Device &device, double *peakMb)
{
    if (peakMb)
        *peakMb = -1;
#ifdef GENREC_HAVE_CUDA_ALLOCATOR
    if (device.is_cuda()) {
        const int idx = device.has_index() ? device.index() : 0;
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(idx);
        const auto &all = stats.allocated_bytes[0]; // StatType::AGGREGATE (its namespace moved in 2.x)
        if (peakMb)
            *peakMb = static_cast<double>(all.peak) / (1024.0 * 1024.0);
        return static_cast<double>(all.current) / (1024.0 * 1024.0);
    }
#else
    (void)device;
#endif
    return -1;
}

void saveRngState(const RunContext &ctx, const std::string &dir)
{
    const fs::path d(dir);
    torch::save(at::Generator(at::detail::getDefaultCPUGenerator()).get_state(), (d / "rng.pt").string());
    if (ctx.device.is_cuda())
        torch::save(at::globalContext().defaultGenerator(ctx.device).get_state(), (d / "rng_cuda.pt").string());
}

void loadRngState(const RunContext &ctx, const std::string &dir)
{
    const fs::path d(dir);
    torch::Tensor rng;
    torch::load(rng, (d / "rng.pt").string());
    {
        at::Generator gen = at::detail::getDefaultCPUGenerator(); // a handle: copies share state
        gen.set_state(rng);
    }
    if (ctx.device.is_cuda() && fs::exists(d / "rng_cuda.pt")) {
        torch::Tensor cuda;
        torch::load(cuda, (d / "rng_cuda.pt").string());
        at::Generator gen = at::globalContext().defaultGenerator(ctx.device);
        gen.set_state(cuda);
    }
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
    // One fp64 accumulator on the gradients' device, read once: the same additions in the same
    // order as summing per-parameter values on the host (bit-identical on CPU), one sync on CUDA.
    torch::Tensor acc;
    for (const auto &g : trainable.groups)
        for (size_t i = 0; i < g.params.size(); ++i) {
            const auto &grad = g.params[i].grad();
            if (!grad.defined())
                continue;
            const bool restricted = i < g.rows.size() && g.rows[i].defined();
            const auto part = restricted ? grad.index_select(0, g.rows[i]) : grad;
            auto s = part.to(torch::kFloat64).pow(2).sum();
            acc = acc.defined() ? acc + s.to(acc.device()) : s;
        }
    const double sq = acc.defined() ? acc.item<double>() : 0.0;
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

void reportStoreCost(RunContext &ctx, const std::string &stage, int64_t step, double storeSeconds,
                     double trainSeconds)
{
    const double fraction = trainSeconds > 0 ? storeSeconds / trainSeconds : 0.0;
    char line[160];
    std::snprintf(line, sizeof line, "%s: store writes took %.3f s, %.2f %% of %.1f s of training steps",
                  stage.c_str(), storeSeconds, 100.0 * fraction, trainSeconds);
    ctx.event(stage, step, "store_cost", line,
              nlohmann::json{{"store_s", storeSeconds}, {"train_s", trainSeconds}, {"fraction", fraction}}.dump());
    ctx.log(line);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

void writeStateFile(const std::string &path, const std::string &text)
{
    writeTextFileDurably(path, text);
}

std::string readStateFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        core::throwBadInput("cannot read " + path, "the checkpoint is incomplete");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string CheckpointKeeper::save(int64_t step, Optimizer &optimizer, nlohmann::json state,
                                   const std::function<void(const std::string &dir)> &extra,
                                   const std::string &metric, double value, bool isBest,
                                   int64_t saveTotalLimit)
{
    const fs::path root = fs::path(m_ctx.outputDir) / "checkpoints";
    fs::create_directories(root);
    const std::string final = (root / (m_stage + "-step" + std::to_string(step))).string();
    {
        StagingDir staging(final, "trainer_state.json");
        saveTrainedWeights(m_ctx, staging.path());
        optimizer.save(staging.path());
        saveRngState(m_ctx, staging.path());
        if (extra)
            extra(staging.path());
        state["stage"] = m_stage;
        state["step"] = step;
        state["seed"] = m_ctx.config.seed;
        state["best_path"] = isBest ? final : m_bestPath;
        state["best_step"] = isBest ? step : m_bestStep;
        writeStateFile((fs::path(staging.path()) / "trainer_state.json").string(), state.dump(2));
        staging.commit();
    }

    core::CheckpointRow row;
    row.runId = m_ctx.runId;
    row.stage = m_stage;
    row.step = step;
    row.path = final;
    row.metric = metric;
    row.value = value;
    const int64_t id = m_ctx.store->addCheckpoint(row);
    if (isBest) {
        m_ctx.store->markBestCheckpoint(id);
        m_bestId = id;
        m_bestPath = final;
        m_bestStep = step;
    }
    m_kept.emplace_back(id, final);
    // save_total_limit: drop the oldest non-best checkpoints (the newest and the best stay).
    const int64_t limit = std::max<int64_t>(1, saveTotalLimit);
    int64_t nonBest = 0;
    for (const auto &k : m_kept)
        nonBest += k.first != m_bestId;
    for (auto it = m_kept.begin(); it != m_kept.end() && nonBest > limit;) {
        if (it->first == m_bestId || it->first == id) {
            ++it;
            continue;
        }
        fs::remove_all(it->second);
        m_ctx.store->removeCheckpoint(it->first);
        it = m_kept.erase(it);
        --nonBest;
    }
    m_ctx.event(m_stage, step, "checkpoint", final,
                nlohmann::json{{"path", final}, {"metric", metric}, {"value", value}, {"best", isBest}}.dump());
    return final;
}

void CheckpointKeeper::restore(const nlohmann::json &state)
{
    m_bestPath = state.value("best_path", std::string());
    m_bestStep = state.value("best_step", int64_t{-1});
}

bool CheckpointKeeper::loadBestAtEnd(int64_t currentStep, const std::string &metric, double value)
{
    if (m_bestPath.empty() || m_bestStep == currentStep || !fs::exists(m_bestPath))
        return false;
    loadTrainedWeights(m_ctx, m_bestPath);
    m_ctx.event(m_stage, currentStep, "log",
                "loaded the best checkpoint (step " + std::to_string(m_bestStep) + ", " + metric + " " +
                    std::to_string(value) + ")",
                nlohmann::json{{"path", m_bestPath}, {"step", m_bestStep}}.dump());
    m_ctx.log(m_stage + ": best checkpoint is step " + std::to_string(m_bestStep) + " (" + metric + " " +
              std::to_string(value) + ")");
    return true;
}

} // namespace genrec::train
