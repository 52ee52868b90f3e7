#include "training/engine/pipeline.h"

#include "core/common/error.h"
#include "core/config/run_config_yaml.h"
#include "training/model/model_loading.h"
#include "training/sft/sft_trainer.h"

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include <chrono>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace genrec::train {

namespace {

bool stageDone(core::RunStore &store, int64_t runId, const std::string &stage)
{
    for (const auto &e : store.eventsSince(runId, 0))
        if (e.kind == "stage_end" && e.stage == stage)
            return true;
    return false;
}

} // namespace

int64_t createTrainingRun(core::RunStore &store, const core::RunConfig &config, const std::string &configYaml)
{
    std::string datasetDir;
    const core::Dataset dataset = loadRunDataset(config, &datasetDir);
    core::NewRun run;
    run.name = config.runName.empty() ? "sft-" + dataset.name : config.runName;
    run.configYaml = configYaml;
    run.resolvedYaml = core::runConfigToYaml(config, false);
    run.model = config.modelNameOrPath;
    run.finetuningType = config.finetuningType;
    run.dataset = dataset.name;
    run.dataHash = dataset.dataHash();
    run.sidHash = dataset.sidHash();
    run.versionsJson = nlohmann::json{{"genrec", GENREC_VERSION}, {"torch", TORCH_VERSION}}.dump();
    run.outputDir = config.outputDir;
    const int64_t id = store.createRun(run);
    // output_dir "" is resolved by runPipeline() from the store path and the id (and logged).
    return id;
}

PipelineResult runPipeline(core::RunStore &store, int64_t runId, const EngineHooks &hooks, bool resume)
{
    const auto t0 = std::chrono::steady_clock::now();
    PipelineResult result;
    auto info = store.getRun(runId);
    if (!info)
        core::throwBadInput("no run with id " + std::to_string(runId), "see `genrec runs list`");
    RunContext ctx;
    ctx.config = core::loadRunConfig(info->resolvedYaml, "run " + std::to_string(runId) + " config");
    ctx.store = &store;
    ctx.runId = runId;
    ctx.hooks = hooks;
    ctx.outputDir = !info->outputDir.empty()
                        ? info->outputDir
                        : (fs::absolute(fs::path(store.path())).parent_path() / "artifacts" / ("run-" + std::to_string(runId))).string();
    store.markStarted(runId, static_cast<int64_t>(getpid()), core::hostName());
    auto fail = [&](const std::string &stage, const core::Error *e, const std::string &message) {
        result.status = core::kStatusFailed;
        result.exitCode = e ? e->exitCode() : core::kExitRuntime;
        result.error = message;
        try {
            ctx.event(stage, 0, "error", message);
            store.setStatus(runId, core::kStatusFailed, message);
        } catch (...) {
        }
    };
    std::string stage = "setup";
    try {
        ctx.event(stage, 0, "log", "output_dir " + ctx.outputDir, nlohmann::json{{"output_dir", ctx.outputDir}}.dump());
        setupRunContext(ctx);
        for (const auto &s : ctx.config.stages) {
            stage = s;
            store.setCurrentStage(runId, s);
            if (s == "sft") {
                SftTrainer trainer(ctx);
                if (resume && stageDone(store, runId, "sft")) {
                    const std::string finalDir = (fs::path(ctx.outputDir) / "sft" / "final_checkpoint").string();
                    ctx.model = loadCausalLm(finalDir);
                    ctx.log("sft: already finished, continuing with its final checkpoint");
                    continue;
                }
                const std::string from = resume ? latestCheckpoint(store, runId, "sft") : std::string();
                trainer.setup(from);
                ctx.log("sft: " + std::to_string(trainer.totalSteps()) + " steps" + (from.empty() ? "" : ", resuming from " + from));
                const StageResult r = trainer.train();
                result.metrics["sft_steps"] = static_cast<double>(r.steps);
                result.metrics["loss"] = r.lastLoss;
                if (r.lastEvalLoss >= 0)
                    result.metrics["eval_loss"] = r.lastEvalLoss;
                if (r.status == "stopped") {
                    ctx.event(s, r.steps, "log", "stopped at step " + std::to_string(r.steps) + ", checkpoint " + r.lastCheckpoint);
                    store.setStatus(runId, core::kStatusStopped);
                    result.status = core::kStatusStopped;
                    result.exitCode = core::kExitInterrupted;
                    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    return result;
                }
                trainer.cleanup();
            } else {
                // rl and eval come from their own modules; until they are built in, skip them.
                const std::string msg = s + " stage not available yet in this build: skipped";
                ctx.event(s, 0, "warning", msg);
                ctx.log("warning: " + msg);
            }
        }
        store.setStatus(runId, core::kStatusFinished);
        result.status = core::kStatusFinished;
        result.exitCode = core::kExitOk;
    } catch (const core::Error &e) {
        fail(stage, &e, std::string(e.what()) + (e.hint().empty() ? "" : " (hint: " + e.hint() + ")"));
    } catch (const std::exception &e) {
        fail(stage, nullptr, e.what());
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

} // namespace genrec::train
