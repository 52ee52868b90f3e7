#pragma once
/// @file run_store.h
/// The run store: one SQLite database (WAL mode) that the engine writes and the studio reads.
/// The engine owns its run's rows (status, heartbeat, metrics, events, checkpoints, evaluations);
/// readers poll incrementally by rowid. Every write is one transaction, so a crash or SIGKILL
/// loses at most the transaction in flight and never corrupts the file.
///
/// Thread-safety: one RunStore per thread (SQLite connections are not shared). Several processes
/// may open the same file at once; writers wait up to the busy timeout for each other.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace genrec::core {

/// Status strings stored in runs.status.
inline constexpr const char *kStatusQueued = "queued";
inline constexpr const char *kStatusRunning = "running";
inline constexpr const char *kStatusFinished = "finished";
inline constexpr const char *kStatusFailed = "failed";
inline constexpr const char *kStatusStopped = "stopped";
inline constexpr const char *kStatusCrashed = "crashed";

/// What the engine knows when it creates a run.
struct NewRun
{
    std::string name;
    std::string configYaml;   ///< the config as the user wrote it
    std::string resolvedYaml; ///< every key, defaults filled in: what `runs export` prints
    std::string model;        ///< model_name_or_path
    std::string finetuningType;
    std::string dataset;
    std::string outputDir;
    std::string versionsJson = "{}"; ///< library versions (genrec, torch, ...)
    std::string dataHash;
    std::string sidHash;
    std::optional<int64_t> parentId; ///< SFT run an RL run continues from
    std::vector<std::string> tags;
};

/// One row of `runs` plus derived fields.
struct RunInfo
{
    int64_t id = 0;
    std::string name;
    std::string status; ///< effective status: a stale running run whose pid is gone reads "crashed"
    std::string configYaml;
    std::string resolvedYaml;
    std::string model;
    std::string finetuningType;
    std::string dataset;
    std::string outputDir;
    std::string versionsJson;
    std::string dataHash;
    std::string sidHash;
    std::string host;
    std::string notes;
    std::string error;
    std::optional<int64_t> parentId;
    int64_t pid = 0;
    double createdAt = 0;   ///< unix seconds
    double startedAt = 0;   ///< 0 = not started
    double endedAt = 0;     ///< 0 = not ended
    double heartbeatAt = 0; ///< 0 = never
    std::vector<std::string> tags;
    std::string currentStage;
};

/// One metric point. `wallTime` is unix seconds.
struct MetricPoint
{
    int64_t runId = 0;
    std::string stage;
    int64_t step = 0;
    std::string key;
    double value = 0;
    double wallTime = 0;
};

/// A metric point as read back, with its rowid for incremental reads.
struct MetricRow
{
    int64_t rowId = 0;
    MetricPoint point;
};

struct EventRow
{
    int64_t rowId = 0;
    int64_t runId = 0;
    std::string stage;
    int64_t step = 0;
    double wallTime = 0;
    std::string kind;    ///< stage_start, stage_end, checkpoint, eval, warning, error, log, ...
    std::string message;
    std::string payloadJson;
};

struct CheckpointRow
{
    int64_t id = 0;
    int64_t runId = 0;
    std::string stage;
    int64_t step = 0;
    std::string path;
    std::string metric; ///< metric the checkpoint was judged by ("" if none)
    double value = 0;
    bool isBest = false;
    double createdAt = 0;
};

/// One evaluation of a run on a split; `ranks[i]` is the 0-based rank of row i's target in the
/// model's list (-1 = not in the list), so two runs can be compared user by user.
struct EvalResult
{
    int64_t id = 0;
    int64_t runId = 0;
    std::string stage;
    std::string split;
    int64_t step = 0;
    std::string metricsJson; ///< {"hr@10": 0.1, "ndcg@10": 0.05, ...}
    double createdAt = 0;
    std::vector<std::string> userIds; ///< per evaluated row
    std::vector<int32_t> ranks;       ///< per evaluated row
};

/// Filter for listRuns; empty fields match everything.
struct RunFilter
{
    std::string status;
    std::string tag;
    std::string text; ///< substring of name, model or dataset
};

class RunStore
{
public:
    /// Opens (creating the file and its folder if needed) and migrates to the current schema.
    /// Throws core::Error: BadInput if the file is not a genrec store or is from a newer genrec,
    /// Runtime on I/O errors.
    explicit RunStore(const std::string &path, bool readOnly = false);
    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    const std::string &path() const { return m_path; }
    /// Schema version this build writes (PRAGMA user_version).
    static int schemaVersion();

    // --- engine side -------------------------------------------------------------------------
    int64_t createRun(const NewRun &run);
    /// Marks the run running and records pid, host and start time.
    void markStarted(int64_t runId, int64_t pid, const std::string &host);
    /// Sets the status (and end time for terminal states); `error` is kept for failed runs.
    void setStatus(int64_t runId, const std::string &status, const std::string &error = {});
    void heartbeat(int64_t runId);
    void setCurrentStage(int64_t runId, const std::string &stage);
    /// Appends points in one transaction.
    void appendMetrics(const std::vector<MetricPoint> &points);
    int64_t addEvent(const EventRow &event);
    int64_t addCheckpoint(const CheckpointRow &checkpoint);
    /// Marks one checkpoint of (run, stage) as the best and clears the flag on the others.
    void markBestCheckpoint(int64_t checkpointId);
    void removeCheckpoint(int64_t checkpointId);
    int64_t addEvalResult(const EvalResult &result);
    /// Whether someone (the studio, `genrec runs stop`) asked this run to stop.
    bool stopRequested(int64_t runId);

    // --- reader side -------------------------------------------------------------------------
    std::vector<RunInfo> listRuns(const RunFilter &filter = {});
    std::optional<RunInfo> getRun(int64_t runId);
    /// Points of a run with rowid > afterRowId, in rowid order, at most `limit`.
    std::vector<MetricRow> metricsSince(int64_t runId, int64_t afterRowId, int64_t limit = 100000);
    /// One metric's series of a run, ordered by step (then rowid).
    std::vector<MetricPoint> metricSeries(int64_t runId, const std::string &key);
    /// Metric keys a run has, sorted.
    std::vector<std::string> metricKeys(int64_t runId);
    /// Last value of every metric key of a run (for tables).
    std::vector<std::pair<std::string, double>> lastMetrics(int64_t runId);
    std::vector<EventRow> eventsSince(int64_t runId, int64_t afterRowId, int64_t limit = 10000);
    std::vector<CheckpointRow> checkpoints(int64_t runId);
    /// Evaluations of a run (ranks included when withRanks).
    std::vector<EvalResult> evalResults(int64_t runId, bool withRanks = false);
    /// Highest rowid of the metrics table (0 when empty): a cheap "anything new?" probe.
    int64_t maxMetricRowId();

    // --- user intent (studio, CLI) -----------------------------------------------------------
    void renameRun(int64_t runId, const std::string &name);
    void setNotes(int64_t runId, const std::string &notes);
    void addTag(int64_t runId, const std::string &tag);
    void removeTag(int64_t runId, const std::string &tag);
    /// Deletes the run and everything that belongs to it. Returns false if it did not exist.
    bool deleteRun(int64_t runId);
    void requestStop(int64_t runId);
    /// Persists `crashed` for running runs whose process is gone (runs of this host) or whose
    /// heartbeat is older than staleSeconds (runs of other hosts). Returns how many were marked.
    int reconcileCrashed(double staleSeconds = 60.0);

    /// Runs `PRAGMA integrity_check`; returns "ok" or the first problem.
    std::string integrityCheck();

    /// Begin/commit an explicit transaction (for callers batching several writes).
    void begin();
    void commit();
    void rollback();

    sqlite3 *handle() { return m_db; }

private:
    void exec(const char *sql);
    void migrate();
    RunInfo effective(RunInfo info) const;

    std::string m_path;
    sqlite3 *m_db = nullptr;
    bool m_readOnly = false;
    std::string m_host;
};

/// Current unix time in seconds (fractional).
double unixNow();
/// This machine's host name.
std::string hostName();
/// Whether a process with this pid exists on this host.
bool processAlive(int64_t pid);

} // namespace genrec::core
