#pragma once
/// @file launcher.h
/// One worker process per rank, started by `genrec train` / `genrec resume` itself when the run
/// asks for more than one process (nproc_per_node > 1, or gpu_ids with several ids on cuda).
///
/// The launcher forks and execs its own binary (`/proc/self/exe … dist-worker RUN_ID`) once per
/// local rank with torchrun's environment (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK,
/// LOCAL_RANK, LOCAL_WORLD_SIZE), waits for them, and takes the whole group down when one fails:
/// the others get SIGTERM, then SIGKILL after a grace period, every child is reaped (children
/// also die with the launcher: PR_SET_PDEATHSIG), and the run is marked failed naming the rank
/// and the reason (exit code or signal). Checkpoints are written as temp dir + rename, so the
/// last complete one stays valid. SIGINT/SIGTERM to the launcher are forwarded to the workers
/// (they finish the step, checkpoint and exit 130).
///
/// Workers: rank 0 runs the pipeline against the real run store; the other ranks run it against
/// a private snapshot of the store (SQLite backup into a temp file, deleted at exit), so they
/// see the same run, checkpoints and events but never write the real store.

#include "core/config/run_config.h"
#include "core/store/run_store.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace genrec::train::dist {

/// Processes per node a config asks for: nproc_per_node when > 0, else the number of gpu_ids on
/// cuda, else 1.
int64_t processesPerNode(const core::RunConfig &config);

struct LaunchOptions
{
    std::string exe;                  ///< binary to exec ("" = /proc/self/exe)
    std::string storePath;
    int64_t runId = 0;
    bool resume = false;
    bool json = false;                ///< pass --json to rank 0
    int64_t nprocPerNode = 1;
    int64_t nnodes = 1;
    int64_t nodeRank = 0;
    std::string masterAddr = "127.0.0.1";
    int64_t masterPort = 0;           ///< 0 = a free port picked now
    std::string device = "cpu";
    std::vector<int64_t> gpuIds;      ///< cuda: one per local rank
    double graceSeconds = 5;          ///< SIGTERM → SIGKILL
    /// Polled about every 50 ms; true = forward SIGTERM to the workers (a stop request).
    std::function<bool()> stopRequested;
};

struct LaunchResult
{
    bool ok = true;
    int exitCode = 0;                 ///< 0, 130, or the failure's code (1 / 2)
    int failedRank = -1;
    std::string reason;               ///< "rank 1 (pid 123) was killed by signal 9 (Killed)"
    std::vector<int> pids;
};

/// Starts the local workers of a run, waits for them and, on failure, stops the rest and marks
/// the run failed in `store` (status + an error event naming the rank). Never leaves a child.
LaunchResult launchWorkers(core::RunStore &store, const LaunchOptions &options);

/// The worker side (`genrec dist-worker RUN_ID`): reads torchrun's environment, creates the
/// process group, opens the store (rank 0) or a private snapshot of it (others), calls
/// `body(store, runId, isRankZero)` and returns its exit code. Throws core::Error(BadInput)
/// without the environment.
int runWorker(const std::string &storePath, int64_t runId,
              const std::function<int(core::RunStore &, int64_t, bool)> &body);

} // namespace genrec::train::dist
