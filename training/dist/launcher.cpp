#include "training/dist/launcher.h"

#include "core/common/error.h"
#include "training/dist/process_group.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <csignal>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace genrec::train::dist {

int64_t processesPerNode(const core::RunConfig &c)
{
    if (c.nprocPerNode > 0)
        return c.nprocPerNode;
    if (c.device == "cuda" && c.gpuIds.size() > 1)
        return static_cast<int64_t>(c.gpuIds.size());
    return 1;
}

namespace {

std::string describeStatus(int status)
{
    if (WIFEXITED(status))
        return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char *name = strsignal(sig);
        return "was killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
    }
    return "ended with status " + std::to_string(status);
}

bool clean(int status, int *code)
{
    if (WIFEXITED(status)) {
        *code = WEXITSTATUS(status);
        return *code == 0 || *code == core::kExitInterrupted;
    }
    *code = core::kExitRuntime;
    return false;
}

} // namespace

LaunchResult launchWorkers(core::RunStore &store, const LaunchOptions &o)
{
    LaunchResult res;
    const int64_t n = std::max<int64_t>(1, o.nprocPerNode);
    const int64_t world = n * std::max<int64_t>(1, o.nnodes);
    const int port = o.masterPort > 0 ? static_cast<int>(o.masterPort) : pickFreePort();
    const std::string exe = o.exe.empty() ? std::string("/proc/self/exe") : o.exe;
    const std::string runId = std::to_string(o.runId);
    // Build everything before fork (the child only calls async-signal-safe functions + execve).
    std::vector<std::vector<std::string>> argvs, envs;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t rank = o.nodeRank * n + i;
        std::vector<std::string> argv{exe};
        if (o.json && rank == 0)
            argv.push_back("--json");
        argv.insert(argv.end(), {"--store", o.storePath, "dist-worker", runId});
        if (o.resume)
            argv.push_back("--resume");
        argvs.push_back(argv);
        std::vector<std::string> env;
        for (char **e = environ; *e; ++e) {
            const std::string kv = *e;
            static const char *const ours[] = {"MASTER_ADDR=", "MASTER_PORT=", "WORLD_SIZE=", "RANK=", "LOCAL_RANK=",
                                               "LOCAL_WORLD_SIZE=", "GENREC_DIST_DEVICE=", "GENREC_CUDA_DEVICE="};
            bool skip = false;
            for (const char *p : ours)
                skip = skip || kv.rfind(p, 0) == 0;
            if (!skip)
                env.push_back(kv);
        }
        env.push_back("MASTER_ADDR=" + o.masterAddr);
        env.push_back("MASTER_PORT=" + std::to_string(port));
        env.push_back("WORLD_SIZE=" + std::to_string(world));
        env.push_back("RANK=" + std::to_string(rank));
        env.push_back("LOCAL_RANK=" + std::to_string(i));
        env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(n));
        env.push_back("GENREC_DIST_DEVICE=" + o.device);
        if (o.device == "cuda")
            env.push_back("GENREC_CUDA_DEVICE=" +
                          std::to_string(static_cast<size_t>(i) < o.gpuIds.size() ? o.gpuIds[static_cast<size_t>(i)] : i));
        envs.push_back(env);
    }
    std::vector<pid_t> pids;
    const pid_t parent = getpid();
    auto killAll = [&](int sig) {
        for (pid_t p : pids)
            if (p > 0)
                ::kill(p, sig);
    };
    for (int64_t i = 0; i < n; ++i) {
        std::vector<char *> argv, envp;
        for (auto &s : argvs[static_cast<size_t>(i)])
            argv.push_back(s.data());
        argv.push_back(nullptr);
        for (auto &s : envs[static_cast<size_t>(i)])
            envp.push_back(s.data());
        envp.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) {
            killAll(SIGKILL);
            for (pid_t p : pids)
                ::waitpid(p, nullptr, 0);
            core::throwRuntime("cannot start worker processes (fork failed)");
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the launcher
            if (::getppid() != parent)
                ::_exit(127);
            if (i != 0) { // only rank 0 talks on stdout (progress, JSON lines)
                const int devnull = ::open("/dev/null", O_WRONLY);
                if (devnull >= 0)
                    ::dup2(devnull, 1);
            }
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        pids.push_back(pid);
    }
    res.pids.assign(pids.begin(), pids.end());

    // Wait. The first rank that fails takes the group down.
    std::vector<bool> done(pids.size(), false);
    size_t remaining = pids.size();
    bool forwardedStop = false;
    bool tearingDown = false;
    auto deadline = std::chrono::steady_clock::time_point::max();
    int worstCode = 0;
    while (remaining > 0) {
        bool reaped = false;
        for (size_t i = 0; i < pids.size(); ++i) {
            if (done[i])
                continue;
            int status = 0;
            const pid_t r = ::waitpid(pids[i], &status, WNOHANG);
            if (r == 0)
                continue;
            done[i] = true;
            --remaining;
            reaped = true;
            int code = 0;
            const bool ok = r == pids[i] && clean(status, &code);
            if (code == core::kExitInterrupted && worstCode == 0)
                worstCode = code;
            if (!ok && res.ok) {
                res.ok = false;
                res.failedRank = static_cast<int>(o.nodeRank * n + static_cast<int64_t>(i));
                res.exitCode = code == 0 ? core::kExitRuntime : code;
                res.reason = "rank " + std::to_string(res.failedRank) + " (pid " + std::to_string(pids[i]) + ") " +
                             (r == pids[i] ? describeStatus(status) : std::string("could not be waited for"));
            }
            if (!ok && !tearingDown) {
                tearingDown = true;
                killAll(SIGTERM); // reaped pids are skipped below by done[]
                deadline = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(static_cast<int64_t>(o.graceSeconds * 1000));
            }
        }
        if (remaining == 0)
            break;
        if (tearingDown && std::chrono::steady_clock::now() >= deadline) {
            for (size_t i = 0; i < pids.size(); ++i)
                if (!done[i])
                    ::kill(pids[i], SIGKILL);
            deadline = std::chrono::steady_clock::time_point::max();
        }
        if (!forwardedStop && o.stopRequested && o.stopRequested()) {
            forwardedStop = true;
            for (size_t i = 0; i < pids.size(); ++i)
                if (!done[i])
                    ::kill(pids[i], SIGTERM);
        }
        if (!reaped)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (res.ok) {
        res.exitCode = worstCode;
        return res;
    }
    const std::string msg = res.reason + "; the other ranks were stopped";
    try {
        core::EventRow ev;
        ev.runId = o.runId;
        ev.stage = "dist";
        ev.step = 0;
        ev.wallTime = core::unixNow();
        ev.kind = "error";
        ev.message = msg;
        ev.payloadJson = nlohmann::json{{"failed_rank", res.failedRank}, {"reason", res.reason}, {"world_size", world}}.dump();
        store.addEvent(ev);
        store.setStatus(o.runId, core::kStatusFailed, msg);
    } catch (...) {
    }
    res.reason = msg;
    return res;
}

namespace {

/// Copies the store into `dest` with SQLite's online backup (consistent even while rank 0 writes).
void snapshotStore(const std::string &src, const std::string &dest)
{
    sqlite3 *from = nullptr, *to = nullptr;
    if (sqlite3_open_v2(src.c_str(), &from, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(from);
        core::throwRuntime("dist-worker: cannot open the run store " + src);
    }
    sqlite3_busy_timeout(from, 10000);
    if (sqlite3_open(dest.c_str(), &to) != SQLITE_OK) {
        sqlite3_close(from);
        sqlite3_close(to);
        core::throwRuntime("dist-worker: cannot create " + dest);
    }
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    int rc = SQLITE_OK;
    if (b) {
        do {
            rc = sqlite3_backup_step(b, -1);
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                sqlite3_sleep(20);
        } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
        sqlite3_backup_finish(b);
    }
    const bool ok = b && rc == SQLITE_DONE;
    sqlite3_close(from);
    sqlite3_close(to);
    if (!ok)
        core::throwRuntime("dist-worker: snapshot of the run store failed");
}

} // namespace

int runWorker(const std::string &storePath, int64_t runId,
              const std::function<int(core::RunStore &, int64_t, bool)> &body)
{
    const auto settings = DistSettings::fromEnv();
    if (!settings)
        core::throwBadInput("dist-worker: WORLD_SIZE > 1 is not set", "workers are started by `genrec train`");
    const bool rank0 = settings->rank == 0;
    std::string snapshot;
    if (!rank0) {
        // Before the rendezvous, i.e. before rank 0 starts writing this run.
        const char *t = std::getenv("TMPDIR");
        snapshot = (fs::path(t && *t ? t : "/tmp") /
                    ("genrec-rank" + std::to_string(settings->rank) + "-" + std::to_string(getpid()) + ".db")).string();
        snapshotStore(storePath, snapshot);
    }
    struct Cleanup
    {
        std::string path;
        ~Cleanup()
        {
            shutdownProcessGroup();
            if (!path.empty()) {
                std::error_code ec;
                for (const char *suffix : {"", "-wal", "-shm", "-journal"})
                    fs::remove(path + suffix, ec);
            }
        }
    } cleanup{snapshot};
    initProcessGroup(*settings);
    core::RunStore store(rank0 ? storePath : snapshot);
    return body(store, runId, rank0);
}

} // namespace genrec::train::dist
