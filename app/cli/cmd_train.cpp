// genrec train RUN.yaml [--set k=v ...] | genrec resume RUN_ID
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "core/config/run_config_yaml.h"
#include "core/store/run_store.h"
#include "training/dist/launcher.h"
#include "training/engine/pipeline.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>

namespace genrec::app {

namespace {

std::atomic<bool> g_stopSignal{false};

extern "C" void onStopSignal(int) { g_stopSignal.store(true); }

std::string fmt(double v, const char *f = "%.4f")
{
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

int runAndReport(core::RunStore &store, int64_t runId, bool resume, bool json)
{
    g_stopSignal.store(false);
    std::signal(SIGINT, onStopSignal);
    std::signal(SIGTERM, onStopSignal);
    std::unique_ptr<ProgressBar> bar;
    std::string barStage;
    train::EngineHooks hooks;
    hooks.stopRequested = [] { return g_stopSignal.load(); };
    hooks.log = [json](const std::string &line) {
        if (json)
            std::cout << nlohmann::json{{"event", "log"}, {"message", line}}.dump() << std::endl;
        else
            std::cerr << line << "\n";
    };
    hooks.onProgress = [&](const train::StageProgress &p) {
        if (json) {
            std::cout << nlohmann::json{{"event", "progress"}, {"run_id", runId}, {"stage", p.stage},
                                        {"step", p.step}, {"total", p.totalSteps}, {"loss", p.loss},
                                        {"lr", p.lr}, {"epoch", p.epoch}}.dump()
                      << std::endl;
            return;
        }
        if (!bar || barStage != p.stage) {
            bar = std::make_unique<ProgressBar>(p.stage, p.totalSteps, false);
            barStage = p.stage;
        }
        bar->update(p.step, p.stage == "eval" ? std::string("users") : "loss " + fmt(p.loss) + " lr " + fmt(p.lr, "%.2e"));
    };
    const train::PipelineResult r = train::runPipeline(store, runId, hooks, resume);
    if (bar)
        bar->finish();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    nlohmann::json doc{{"event", "done"}, {"run_id", runId}, {"status", r.status},
                       {"seconds", r.seconds}, {"metrics", r.metrics}};
    if (!r.error.empty())
        doc["error"] = r.error;
    if (json) {
        std::cout << doc.dump() << std::endl;
    } else {
        std::cerr << "run " << runId << ": " << r.status << " in " << fmt(r.seconds, "%.1f") << " s";
        for (const auto &[k, v] : r.metrics)
            std::cerr << "  " << k << "=" << fmt(v);
        std::cerr << "\n";
        if (!r.error.empty())
            std::cerr << "error: " << r.error << "\n";
    }
    return r.exitCode;
}

/// A run with more than one process: start the local workers (training/dist/launcher.h).
int launchAndReport(core::RunStore &store, int64_t runId, const core::RunConfig &config, bool resume, bool json)
{
    g_stopSignal.store(false);
    std::signal(SIGINT, onStopSignal);
    std::signal(SIGTERM, onStopSignal);
    train::dist::LaunchOptions o;
    o.storePath = store.path();
    o.runId = runId;
    o.resume = resume;
    o.json = json;
    o.nprocPerNode = train::dist::processesPerNode(config);
    o.nnodes = config.nnodes;
    o.nodeRank = config.nodeRank;
    o.masterAddr = config.masterAddr;
    o.masterPort = config.masterPort;
    o.device = config.device;
    o.gpuIds = config.gpuIds;
    o.stopRequested = [] { return g_stopSignal.load(); };
    if (!json)
        std::cerr << "run " << runId << ": " << o.nprocPerNode * o.nnodes << " data-parallel ranks (zero_stage "
                  << config.zeroStage << ")\n";
    const auto r = train::dist::launchWorkers(store, o);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (!r.ok) {
        if (json)
            std::cout << nlohmann::json{{"event", "done"}, {"run_id", runId}, {"status", "failed"}, {"error", r.reason},
                                        {"failed_rank", r.failedRank}}.dump() << std::endl;
        else
            std::cerr << "run " << runId << ": failed: " << r.reason << "\n";
    }
    return r.exitCode;
}

bool distributed(const core::RunConfig &c) { return train::dist::processesPerNode(c) > 1 || c.nnodes > 1; }

} // namespace

void registerTrainCommands(CLI::App &app, CliContext &ctx)
{
    struct TrainArgs
    {
        std::string file;
        std::vector<std::string> overrides;
    };
    static TrainArgs ta;
    auto *trainCmd = app.add_subcommand("train", "Create a run from a config and train it (sft, rl, eval stages)");
    trainCmd->add_option("config", ta.file, "Run config YAML (- = stdin)")->required();
    trainCmd->add_option("--set", ta.overrides, "Override a key: --set sft.learning_rate=1e-4 (repeatable)");
    trainCmd->callback([&ctx] {
        ctx.action = [&ctx] {
            const std::string text = readFileOrStdin(ta.file);
            const core::RunConfig config = core::loadRunConfig(text, ta.file, ta.overrides);
            core::RunStore store(!ctx.storePath.empty() || config.store.empty() ? ctx.resolvedStorePath() : config.store);
            const int64_t runId = train::createTrainingRun(store, config, text);
            if (!ctx.json)
                std::cerr << "run " << runId << " created in " << store.path() << "\n";
            else
                std::cout << nlohmann::json{{"event", "run_created"}, {"run_id", runId}, {"store", store.path()}}.dump() << std::endl;
            if (distributed(config))
                return launchAndReport(store, runId, config, false, ctx.json);
            return runAndReport(store, runId, false, ctx.json);
        };
    });

    static int64_t resumeId = 0;
    auto *resumeCmd = app.add_subcommand("resume", "Continue a stopped or crashed run from its last checkpoint");
    resumeCmd->add_option("run_id", resumeId, "Run id")->required();
    resumeCmd->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            const auto info = store.getRun(resumeId);
            if (!info)
                core::throwBadInput("no run with id " + std::to_string(resumeId), "see `genrec runs list`");
            if (info->status == core::kStatusFinished)
                core::throwBadInput("run " + std::to_string(resumeId) + " is already finished", "start a new run with `genrec train`");
            const auto config = core::loadRunConfig(info->resolvedYaml, "run " + std::to_string(resumeId) + " config");
            if (distributed(config))
                return launchAndReport(store, resumeId, config, true, ctx.json);
            return runAndReport(store, resumeId, true, ctx.json);
        };
    });

    // One rank of a data-parallel run, started by the two commands above (not for direct use).
    static int64_t workerId = 0;
    static bool workerResume = false;
    auto *workerCmd = app.add_subcommand("dist-worker", "");
    workerCmd->group(""); // hidden
    workerCmd->add_option("run_id", workerId)->required();
    workerCmd->add_flag("--resume", workerResume);
    workerCmd->callback([&ctx] {
        ctx.action = [&ctx] {
            return train::dist::runWorker(ctx.resolvedStorePath(), workerId, [&ctx](core::RunStore &store, int64_t id, bool rank0) {
                return runAndReport(store, id, workerResume, ctx.json && rank0);
            });
        };
    });
}

} // namespace genrec::app
