#include "training/engine/pipeline.h"

#include "core/common/error.h"
#include "core/config/run_config_yaml.h"
#include "core/store/metric_writer.h"
#include "training/engine/stage_common.h"
#include "training/dist/process_group.h"
#include "training/eval/evaluator.h"
#include "training/model/model_loading.h"
#include "training/rl/grpo_trainer.h"
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

/// The eval stage: constrained beam search on eval.split, HR/NDCG/coverage into the metrics
/// (stage "eval"), an eval_results row with every user's target rank, sample predictions as an
/// event for the studio. Returns false when a stop request cancelled it.
bool runEvalStage(RunContext &ctx, int64_t step, PipelineResult &result)
{
    auto opts = evalOptionsFromConfig(ctx.config.eval);
    opts.promptTemplate = parsePromptTemplate(ctx.config.promptTemplate);
    ctx.event("eval", step, "stage_start", "eval on " + opts.split);
    Evaluator evaluator(*ctx.model, ctx.tokenizer, ctx.dataset);
    const auto progress = [&](int64_t done, int64_t total) {
        if (ctx.hooks.onProgress)
            ctx.hooks.onProgress({"eval", done, total, 0, 0, 0});
        const bool stop = (ctx.hooks.stopRequested && ctx.hooks.stopRequested()) || ctx.store->stopRequested(ctx.runId);
        return !stop;
    };
    const EvalReport report = evaluator.evaluate(opts, progress);
    if (report.cancelled)
        return false;
    core::EvalResult row;
    row.runId = ctx.runId;
    row.stage = "eval";
    row.split = opts.split;
    row.step = step;
    row.metricsJson = report.metricsJson();
    row.userIds = report.userIds;
    row.ranks = report.ranks;
    ctx.store->addEvalResult(row);
    core::MetricWriter metrics(*ctx.store, ctx.runId);
    for (const auto &[key, value] : report.metrics) {
        metrics.add("eval", step, opts.split + "_" + key, value);
        result.metrics[opts.split + "_" + key] = value;
    }
    metrics.flush();
    nlohmann::json examples = nlohmann::json::array();
    for (const auto &e : report.examples) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto &p : e.top)
            top.push_back({{"sid", p.sid}, {"title", p.title}, {"score", p.score}});
        examples.push_back({{"user_id", e.userId}, {"history_titles", e.historyTitles}, {"target_sid", e.targetSid},
                            {"target_title", e.targetTitle}, {"rank", e.rank}, {"top", top}});
    }
    ctx.event("eval", step, "eval_examples", std::to_string(report.examples.size()) + " sample predictions",
              nlohmann::json{{"split", opts.split}, {"examples", examples}}.dump());
    std::string line = "eval (" + opts.split + ", " + std::to_string(report.numRows) + " users):";
    for (const char *k : {"hr@3", "hr@5", "hr@10", "ndcg@3", "ndcg@5", "ndcg@10"})
        if (auto it = report.metrics.find(k); it != report.metrics.end())
            line += std::string(" ") + k + " " + std::to_string(it->second);
    ctx.log(line);
    ctx.event("eval", step, "stage_end", line, report.metricsJson());
    return true;
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
        int64_t lastStep = 0; // optimiser steps of the last training stage (x of the eval points)
        for (const auto &s : ctx.config.stages) {
            stage = s;
            if (dist::current() && dist::current()->rank() != 0 && s != "sft")
                continue; // data-parallel ranks > 0 take part in SFT only
            store.setCurrentStage(runId, s);
            if (s == "sft") {
                SftTrainer trainer(ctx);
                if (resume && stageDone(store, runId, "sft")) {
                    loadTrainedWeights(ctx, (fs::path(ctx.outputDir) / "sft" / "final_checkpoint").string());
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
                if (!dist::current() || dist::current()->rank() == 0)
                    trainer.cleanup();
                lastStep = r.steps;
            } else if (s == "eval") {
                if (resume && stageDone(store, runId, "eval"))
                    continue;
                if (!runEvalStage(ctx, lastStep, result)) {
                    ctx.event(s, lastStep, "log", "evaluation stopped");
                    store.setStatus(runId, core::kStatusStopped);
                    result.status = core::kStatusStopped;
                    result.exitCode = core::kExitInterrupted;
                    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    return result;
                }
            } else if (s == "rl") {
                if (resume && stageDone(store, runId, "rl")) {
                    loadTrainedWeights(ctx, (fs::path(ctx.outputDir) / "rl" / "final_checkpoint").string());
                    ctx.log("rl: already finished, continuing with its final checkpoint");
                    continue;
                }
                GrpoTrainer trainer(ctx);
                const std::string from = resume ? latestCheckpoint(store, runId, "rl") : std::string();
                trainer.setup(from);
                ctx.log("rl: " + std::to_string(trainer.totalSteps()) + " steps of " + std::to_string(trainer.promptsPerStep()) +
                        " prompts" + (from.empty() ? "" : ", resuming from " + from));
                const StageResult r = trainer.train();
                result.metrics["rl_steps"] = static_cast<double>(r.steps);
                result.metrics["rl_loss"] = r.lastLoss;
                if (r.bestStep >= 0)
                    result.metrics["rl_best_" + r.bestMetric] = r.bestValue;
                if (r.status == "stopped") {
                    ctx.event(s, r.steps, "log", "stopped at step " + std::to_string(r.steps) + ", checkpoint " + r.lastCheckpoint);
                    store.setStatus(runId, core::kStatusStopped);
                    result.status = core::kStatusStopped;
                    result.exitCode = core::kExitInterrupted;
                    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    return result;
                }
                trainer.cleanup();
                lastStep = r.steps;
            } else {
                const std::string msg = s + " stage not available in this build: skipped";
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
