#include "core/store/run_store.h"

#include "core/common/error.h"

#include <sqlite3.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <map>

namespace genrec::core {

namespace {

// ---------------------------------------------------------------------------------------------
// Schema. Each entry migrates from version i to i+1; never edit a released entry, append.
// ---------------------------------------------------------------------------------------------
const char *const kMigrations[] = {
    // 0 -> 1: initial schema.
    R"sql(
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued','running','finished','failed','stopped','crashed')),
    config_yaml   TEXT NOT NULL DEFAULT '',
    resolved_yaml TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    finetuning_type TEXT NOT NULL DEFAULT '',
    dataset       TEXT NOT NULL DEFAULT '',
    output_dir    TEXT NOT NULL DEFAULT '',
    versions_json TEXT NOT NULL DEFAULT '{}',
    data_hash     TEXT NOT NULL DEFAULT '',
    sid_hash      TEXT NOT NULL DEFAULT '',
    parent_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    host          TEXT NOT NULL DEFAULT '',
    pid           INTEGER NOT NULL DEFAULT 0,
    notes         TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    current_stage TEXT NOT NULL DEFAULT '',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at    REAL NOT NULL,
    started_at    REAL NOT NULL DEFAULT 0,
    ended_at      REAL NOT NULL DEFAULT 0,
    heartbeat_at  REAL NOT NULL DEFAULT 0
);
CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE TABLE metric_keys (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE metrics (
    id        INTEGER PRIMARY KEY,
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage     TEXT NOT NULL,
    step      INTEGER NOT NULL,
    key_id    INTEGER NOT NULL REFERENCES metric_keys(id),
    value     REAL,
    wall_time REAL NOT NULL
);
CREATE INDEX metrics_by_run_rowid ON metrics(run_id, id);
CREATE INDEX metrics_by_run_key ON metrics(run_id, key_id, step);
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage     TEXT NOT NULL DEFAULT '',
    step      INTEGER NOT NULL DEFAULT 0,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL DEFAULT '',
    payload   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_run_rowid ON events(run_id, id);
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage      TEXT NOT NULL,
    step       INTEGER NOT NULL,
    path       TEXT NOT NULL,
    metric     TEXT NOT NULL DEFAULT '',
    value      REAL,
    is_best    INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX checkpoints_by_run ON checkpoints(run_id);
CREATE TABLE eval_results (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage        TEXT NOT NULL,
    split        TEXT NOT NULL,
    step         INTEGER NOT NULL,
    metrics_json TEXT NOT NULL,
    created_at   REAL NOT NULL
);
CREATE INDEX eval_results_by_run ON eval_results(run_id);
CREATE TABLE eval_ranks (
    eval_id     INTEGER NOT NULL REFERENCES eval_results(id) ON DELETE CASCADE,
    row_index   INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    target_rank INTEGER NOT NULL,
    PRIMARY KEY (eval_id, row_index)
) WITHOUT ROWID;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

/// RAII prepared statement with typed binds and column reads.
class Stmt
{
public:
    Stmt(sqlite3 *db, const char *sql) : m_db(db)
    {
        if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK)
            throwRuntime(std::string("run store: cannot prepare statement: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(m_stmt); }
    Stmt(const Stmt &) = delete;
    Stmt &operator=(const Stmt &) = delete;

    Stmt &bind(int i, int64_t v)
    {
        sqlite3_bind_int64(m_stmt, i, v);
        return *this;
    }
    Stmt &bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
    Stmt &bind(int i, double v)
    {
        sqlite3_bind_double(m_stmt, i, v);
        return *this;
    }
    Stmt &bind(int i, const std::string &v)
    {
        sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt &bindNull(int i)
    {
        sqlite3_bind_null(m_stmt, i);
        return *this;
    }
    /// Steps once; true while a row is available.
    bool step()
    {
        const int rc = sqlite3_step(m_stmt);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        throwRuntime(std::string("run store: ") + sqlite3_errmsg(m_db),
                     rc == SQLITE_FULL ? "the disk is full: free space and resume the run" : "");
    }
    void run()
    {
        while (step()) {
        }
    }
    void reset()
    {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }
    int64_t i64(int c) const { return sqlite3_column_int64(m_stmt, c); }
    double f64(int c) const { return sqlite3_column_double(m_stmt, c); }
    bool isNull(int c) const { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
    std::string text(int c) const
    {
        const auto *p = sqlite3_column_text(m_stmt, c);
        return p ? std::string(reinterpret_cast<const char *>(p), sqlite3_column_bytes(m_stmt, c)) : std::string();
    }

private:
    sqlite3 *m_db;
    sqlite3_stmt *m_stmt = nullptr;
};

const char *kRunColumns =
    "id, name, status, config_yaml, resolved_yaml, model, finetuning_type, dataset, output_dir, "
    "versions_json, data_hash, sid_hash, parent_id, host, pid, notes, error, current_stage, "
    "created_at, started_at, ended_at, heartbeat_at";

RunInfo readRun(const Stmt &s)
{
    RunInfo r;
    r.id = s.i64(0);
    r.name = s.text(1);
    r.status = s.text(2);
    r.configYaml = s.text(3);
    r.resolvedYaml = s.text(4);
    r.model = s.text(5);
    r.finetuningType = s.text(6);
    r.dataset = s.text(7);
    r.outputDir = s.text(8);
    r.versionsJson = s.text(9);
    r.dataHash = s.text(10);
    r.sidHash = s.text(11);
    if (!s.isNull(12))
        r.parentId = s.i64(12);
    r.host = s.text(13);
    r.pid = s.i64(14);
    r.notes = s.text(15);
    r.error = s.text(16);
    r.currentStage = s.text(17);
    r.createdAt = s.f64(18);
    r.startedAt = s.f64(19);
    r.endedAt = s.f64(20);
    r.heartbeatAt = s.f64(21);
    return r;
}

constexpr double kStaleHeartbeatSeconds = 60.0;

} // namespace

double unixNow()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string hostName()
{
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0)
        return "localhost";
    return buf;
}

bool processAlive(int64_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(static_cast<pid_t>(pid), 0) == 0)
        return true;
    return errno == EPERM;
}

int RunStore::schemaVersion()
{
    return kSchemaVersion;
}

RunStore::RunStore(const std::string &path, bool readOnly)
    : m_path(path), m_readOnly(readOnly), m_host(hostName())
{
    if (!readOnly) {
        const auto parent = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!parent.empty())
            std::filesystem::create_directories(parent, ec);
        if (ec)
            throwRuntime(path + ": cannot create the store's folder: " + ec.message());
    } else if (!std::filesystem::exists(path)) {
        throwBadInput(path + ": no run store here", "run `genrec train` first, or pass --store");
    }
    const int flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path.c_str(), &m_db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        const std::string msg = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        m_db = nullptr;
        throwRuntime(path + ": cannot open the run store: " + msg);
    }
    sqlite3_busy_timeout(m_db, 10000);
    try {
        if (!readOnly)
            exec("PRAGMA journal_mode=WAL");
        // NORMAL in WAL mode: a crash of the process loses nothing committed; a power cut may lose
        // the last transactions but never corrupts the database.
        exec("PRAGMA synchronous=NORMAL");
        exec("PRAGMA foreign_keys=ON");
        migrate();
    } catch (...) {
        sqlite3_close(m_db);
        m_db = nullptr;
        throw;
    }
}

RunStore::~RunStore()
{
    if (m_db)
        sqlite3_close(m_db);
}

void RunStore::exec(const char *sql)
{
    char *err = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        const std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        const int code = sqlite3_errcode(m_db);
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
            throwBadInput(m_path + ": not a genrec run store (" + msg + ")",
                          "pass another --store path");
        throwRuntime(m_path + ": " + msg, code == SQLITE_FULL ? "the disk is full" : "");
    }
}

void RunStore::migrate()
{
    int version = 0;
    {
        Stmt s(m_db, "PRAGMA user_version");
        if (s.step())
            version = static_cast<int>(s.i64(0));
    }
    if (version > kSchemaVersion)
        throwBadInput(m_path + ": store schema version " + std::to_string(version) +
                          " is newer than this genrec understands (" + std::to_string(kSchemaVersion) + ")",
                      "upgrade genrec, or use another --store");
    if (version == kSchemaVersion)
        return;
    if (m_readOnly)
        throwBadInput(m_path + ": store needs a schema upgrade", "open it once read-write (e.g. genrec runs list)");
    if (version == 0) {
        // A file that is not empty but has no version is somebody else's database.
        Stmt s(m_db, "SELECT count(*) FROM sqlite_master");
        if (s.step() && s.i64(0) > 0)
            throwBadInput(m_path + ": this SQLite file is not a genrec run store", "pass another --store path");
    }
    exec("BEGIN IMMEDIATE");
    try {
        // Re-read under the write lock: another process may have migrated meanwhile.
        Stmt s(m_db, "PRAGMA user_version");
        if (s.step())
            version = static_cast<int>(s.i64(0));
        for (int v = version; v < kSchemaVersion; ++v) {
            exec(kMigrations[v]);
            exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void RunStore::begin()
{
    exec("BEGIN IMMEDIATE");
}

void RunStore::commit()
{
    exec("COMMIT");
}

void RunStore::rollback()
{
    sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
}

int64_t RunStore::createRun(const NewRun &run)
{
    begin();
    try {
        Stmt s(m_db, "INSERT INTO runs (name, status, config_yaml, resolved_yaml, model, finetuning_type, "
                     "dataset, output_dir, versions_json, data_hash, sid_hash, parent_id, host, created_at) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        s.bind(1, run.name).bind(2, std::string(kStatusQueued)).bind(3, run.configYaml).bind(4, run.resolvedYaml);
        s.bind(5, run.model).bind(6, run.finetuningType).bind(7, run.dataset).bind(8, run.outputDir);
        s.bind(9, run.versionsJson).bind(10, run.dataHash).bind(11, run.sidHash);
        if (run.parentId)
            s.bind(12, *run.parentId);
        else
            s.bindNull(12);
        s.bind(13, m_host).bind(14, unixNow());
        s.run();
        const int64_t id = sqlite3_last_insert_rowid(m_db);
        Stmt t(m_db, "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?,?)");
        for (const auto &tag : run.tags) {
            t.reset();
            t.bind(1, id).bind(2, tag).run();
        }
        commit();
        return id;
    } catch (...) {
        rollback();
        throw;
    }
}

void RunStore::markStarted(int64_t runId, int64_t pid, const std::string &host)
{
    const double now = unixNow();
    Stmt s(m_db, "UPDATE runs SET status='running', pid=?, host=?, started_at=?, heartbeat_at=?, "
                 "ended_at=0, error='', stop_requested=0 WHERE id=?");
    s.bind(1, pid).bind(2, host.empty() ? m_host : host).bind(3, now).bind(4, now).bind(5, runId).run();
}

void RunStore::setStatus(int64_t runId, const std::string &status, const std::string &error)
{
    const bool terminal = status != kStatusQueued && status != kStatusRunning;
    Stmt s(m_db, "UPDATE runs SET status=?, error=?, ended_at=CASE WHEN ? THEN ? ELSE ended_at END WHERE id=?");
    s.bind(1, status).bind(2, error).bind(3, terminal ? 1 : 0).bind(4, unixNow()).bind(5, runId).run();
}

void RunStore::heartbeat(int64_t runId)
{
    Stmt s(m_db, "UPDATE runs SET heartbeat_at=? WHERE id=?");
    s.bind(1, unixNow()).bind(2, runId).run();
}

void RunStore::setCurrentStage(int64_t runId, const std::string &stage)
{
    Stmt s(m_db, "UPDATE runs SET current_stage=? WHERE id=?");
    s.bind(1, stage).bind(2, runId).run();
}

void RunStore::appendMetrics(const std::vector<MetricPoint> &points)
{
    if (points.empty())
        return;
    begin();
    try {
        Stmt findKey(m_db, "SELECT id FROM metric_keys WHERE name=?");
        Stmt addKey(m_db, "INSERT INTO metric_keys (name) VALUES (?)");
        Stmt ins(m_db, "INSERT INTO metrics (run_id, stage, step, key_id, value, wall_time) VALUES (?,?,?,?,?,?)");
        std::map<std::string, int64_t> keyIds;
        for (const MetricPoint &p : points) {
            auto it = keyIds.find(p.key);
            if (it == keyIds.end()) {
                findKey.reset();
                findKey.bind(1, p.key);
                int64_t id;
                if (findKey.step()) {
                    id = findKey.i64(0);
                } else {
                    addKey.reset();
                    addKey.bind(1, p.key).run();
                    id = sqlite3_last_insert_rowid(m_db);
                }
                it = keyIds.emplace(p.key, id).first;
            }
            ins.reset();
            ins.bind(1, p.runId).bind(2, p.stage).bind(3, p.step).bind(4, it->second);
            if (std::isfinite(p.value))
                ins.bind(5, p.value);
            else
                ins.bindNull(5);
            ins.bind(6, p.wallTime > 0 ? p.wallTime : unixNow());
            ins.run();
        }
        commit();
    } catch (...) {
        rollback();
        throw;
    }
}

int64_t RunStore::addEvent(const EventRow &e)
{
    Stmt s(m_db, "INSERT INTO events (run_id, stage, step, wall_time, kind, message, payload) VALUES (?,?,?,?,?,?,?)");
    s.bind(1, e.runId).bind(2, e.stage).bind(3, e.step).bind(4, e.wallTime > 0 ? e.wallTime : unixNow());
    s.bind(5, e.kind).bind(6, e.message).bind(7, e.payloadJson.empty() ? std::string("{}") : e.payloadJson);
    s.run();
    return sqlite3_last_insert_rowid(m_db);
}

int64_t RunStore::addCheckpoint(const CheckpointRow &c)
{
    Stmt s(m_db, "INSERT INTO checkpoints (run_id, stage, step, path, metric, value, is_best, created_at) "
                 "VALUES (?,?,?,?,?,?,?,?)");
    s.bind(1, c.runId).bind(2, c.stage).bind(3, c.step).bind(4, c.path).bind(5, c.metric);
    s.bind(6, c.value).bind(7, c.isBest ? 1 : 0).bind(8, c.createdAt > 0 ? c.createdAt : unixNow());
    s.run();
    return sqlite3_last_insert_rowid(m_db);
}

void RunStore::markBestCheckpoint(int64_t checkpointId)
{
    begin();
    try {
        Stmt s(m_db, "UPDATE checkpoints SET is_best = (id = ?1) WHERE (run_id, stage) = "
                     "(SELECT run_id, stage FROM checkpoints WHERE id = ?1)");
        s.bind(1, checkpointId).run();
        commit();
    } catch (...) {
        rollback();
        throw;
    }
}

void RunStore::removeCheckpoint(int64_t checkpointId)
{
    Stmt s(m_db, "DELETE FROM checkpoints WHERE id=?");
    s.bind(1, checkpointId).run();
}

int64_t RunStore::addEvalResult(const EvalResult &r)
{
    begin();
    try {
        Stmt s(m_db, "INSERT INTO eval_results (run_id, stage, split, step, metrics_json, created_at) VALUES (?,?,?,?,?,?)");
        s.bind(1, r.runId).bind(2, r.stage).bind(3, r.split).bind(4, r.step).bind(5, r.metricsJson);
        s.bind(6, r.createdAt > 0 ? r.createdAt : unixNow());
        s.run();
        const int64_t id = sqlite3_last_insert_rowid(m_db);
        Stmt t(m_db, "INSERT INTO eval_ranks (eval_id, row_index, user_id, target_rank) VALUES (?,?,?,?)");
        for (size_t i = 0; i < r.ranks.size(); ++i) {
            t.reset();
            t.bind(1, id).bind(2, static_cast<int64_t>(i));
            t.bind(3, i < r.userIds.size() ? r.userIds[i] : std::string());
            t.bind(4, static_cast<int64_t>(r.ranks[i]));
            t.run();
        }
        commit();
        return id;
    } catch (...) {
        rollback();
        throw;
    }
}

bool RunStore::stopRequested(int64_t runId)
{
    Stmt s(m_db, "SELECT stop_requested FROM runs WHERE id=?");
    s.bind(1, runId);
    return s.step() && s.i64(0) != 0;
}

RunInfo RunStore::effective(RunInfo r) const
{
    // Same host: a vanished pid is proof. Other hosts: only a stale heartbeat is.
    if (r.status == kStatusRunning &&
        (r.host == m_host ? !processAlive(r.pid) : unixNow() - r.heartbeatAt > kStaleHeartbeatSeconds))
        r.status = kStatusCrashed;
    return r;
}

std::vector<RunInfo> RunStore::listRuns(const RunFilter &filter)
{
    std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE 1=1";
    if (!filter.tag.empty())
        sql += " AND id IN (SELECT run_id FROM run_tags WHERE tag = :tag)";
    if (!filter.text.empty())
        sql += " AND (instr(name, :text) > 0 OR instr(model, :text) > 0 OR instr(dataset, :text) > 0)";
    sql += " ORDER BY id DESC";
    Stmt s(m_db, sql.c_str());
    int idx = 1;
    if (!filter.tag.empty())
        s.bind(idx++, filter.tag);
    if (!filter.text.empty())
        s.bind(idx++, filter.text);
    std::vector<RunInfo> out;
    while (s.step()) {
        RunInfo r = effective(readRun(s));
        if (!filter.status.empty() && r.status != filter.status)
            continue;
        out.push_back(std::move(r));
    }
    Stmt t(m_db, "SELECT tag FROM run_tags WHERE run_id=? ORDER BY tag");
    for (auto &r : out) {
        t.reset();
        t.bind(1, r.id);
        while (t.step())
            r.tags.push_back(t.text(0));
    }
    return out;
}

std::optional<RunInfo> RunStore::getRun(int64_t runId)
{
    Stmt s(m_db, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?").c_str());
    s.bind(1, runId);
    if (!s.step())
        return std::nullopt;
    RunInfo r = effective(readRun(s));
    Stmt t(m_db, "SELECT tag FROM run_tags WHERE run_id=? ORDER BY tag");
    t.bind(1, runId);
    while (t.step())
        r.tags.push_back(t.text(0));
    return r;
}

std::vector<MetricRow> RunStore::metricsSince(int64_t runId, int64_t afterRowId, int64_t limit)
{
    Stmt s(m_db, "SELECT m.id, m.stage, m.step, k.name, m.value, m.wall_time FROM metrics m "
                 "JOIN metric_keys k ON k.id = m.key_id WHERE m.run_id=? AND m.id>? ORDER BY m.id LIMIT ?");
    s.bind(1, runId).bind(2, afterRowId).bind(3, limit);
    std::vector<MetricRow> out;
    while (s.step()) {
        MetricRow r;
        r.rowId = s.i64(0);
        r.point.runId = runId;
        r.point.stage = s.text(1);
        r.point.step = s.i64(2);
        r.point.key = s.text(3);
        r.point.value = s.isNull(4) ? std::nan("") : s.f64(4);
        r.point.wallTime = s.f64(5);
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<MetricPoint> RunStore::metricSeries(int64_t runId, const std::string &key)
{
    Stmt s(m_db, "SELECT m.stage, m.step, m.value, m.wall_time FROM metrics m WHERE m.run_id=? AND "
                 "m.key_id=(SELECT id FROM metric_keys WHERE name=?) ORDER BY m.step, m.id");
    s.bind(1, runId).bind(2, key);
    std::vector<MetricPoint> out;
    while (s.step())
        out.push_back({runId, s.text(0), s.i64(1), key, s.isNull(2) ? std::nan("") : s.f64(2), s.f64(3)});
    return out;
}

std::vector<std::string> RunStore::metricKeys(int64_t runId)
{
    Stmt s(m_db, "SELECT name FROM metric_keys WHERE id IN (SELECT DISTINCT key_id FROM metrics WHERE run_id=?) ORDER BY name");
    s.bind(1, runId);
    std::vector<std::string> out;
    while (s.step())
        out.push_back(s.text(0));
    return out;
}

std::vector<std::pair<std::string, double>> RunStore::lastMetrics(int64_t runId)
{
    Stmt s(m_db, "SELECT k.name, m.value FROM metrics m JOIN metric_keys k ON k.id=m.key_id "
                 "WHERE m.id IN (SELECT max(id) FROM metrics WHERE run_id=? GROUP BY key_id) ORDER BY k.name");
    s.bind(1, runId);
    std::vector<std::pair<std::string, double>> out;
    while (s.step())
        out.emplace_back(s.text(0), s.isNull(1) ? std::nan("") : s.f64(1));
    return out;
}

std::vector<EventRow> RunStore::eventsSince(int64_t runId, int64_t afterRowId, int64_t limit)
{
    Stmt s(m_db, "SELECT id, stage, step, wall_time, kind, message, payload FROM events "
                 "WHERE run_id=? AND id>? ORDER BY id LIMIT ?");
    s.bind(1, runId).bind(2, afterRowId).bind(3, limit);
    std::vector<EventRow> out;
    while (s.step())
        out.push_back({s.i64(0), runId, s.text(1), s.i64(2), s.f64(3), s.text(4), s.text(5), s.text(6)});
    return out;
}

std::vector<CheckpointRow> RunStore::checkpoints(int64_t runId)
{
    Stmt s(m_db, "SELECT id, stage, step, path, metric, value, is_best, created_at FROM checkpoints "
                 "WHERE run_id=? ORDER BY id");
    s.bind(1, runId);
    std::vector<CheckpointRow> out;
    while (s.step())
        out.push_back({s.i64(0), runId, s.text(1), s.i64(2), s.text(3), s.text(4), s.f64(5), s.i64(6) != 0, s.f64(7)});
    return out;
}

std::vector<EvalResult> RunStore::evalResults(int64_t runId, bool withRanks)
{
    Stmt s(m_db, "SELECT id, stage, split, step, metrics_json, created_at FROM eval_results WHERE run_id=? ORDER BY id");
    s.bind(1, runId);
    std::vector<EvalResult> out;
    while (s.step()) {
        EvalResult r;
        r.id = s.i64(0);
        r.runId = runId;
        r.stage = s.text(1);
        r.split = s.text(2);
        r.step = s.i64(3);
        r.metricsJson = s.text(4);
        r.createdAt = s.f64(5);
        out.push_back(std::move(r));
    }
    if (withRanks) {
        Stmt t(m_db, "SELECT user_id, target_rank FROM eval_ranks WHERE eval_id=? ORDER BY row_index");
        for (auto &r : out) {
            t.reset();
            t.bind(1, r.id);
            while (t.step()) {
                r.userIds.push_back(t.text(0));
                r.ranks.push_back(static_cast<int32_t>(t.i64(1)));
            }
        }
    }
    return out;
}

int64_t RunStore::maxMetricRowId()
{
    Stmt s(m_db, "SELECT coalesce(max(id), 0) FROM metrics");
    return s.step() ? s.i64(0) : 0;
}

void RunStore::renameRun(int64_t runId, const std::string &name)
{
    Stmt s(m_db, "UPDATE runs SET name=? WHERE id=?");
    s.bind(1, name).bind(2, runId).run();
}

void RunStore::setNotes(int64_t runId, const std::string &notes)
{
    Stmt s(m_db, "UPDATE runs SET notes=? WHERE id=?");
    s.bind(1, notes).bind(2, runId).run();
}

void RunStore::addTag(int64_t runId, const std::string &tag)
{
    Stmt s(m_db, "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?,?)");
    s.bind(1, runId).bind(2, tag).run();
}

void RunStore::removeTag(int64_t runId, const std::string &tag)
{
    Stmt s(m_db, "DELETE FROM run_tags WHERE run_id=? AND tag=?");
    s.bind(1, runId).bind(2, tag).run();
}

bool RunStore::deleteRun(int64_t runId)
{
    Stmt s(m_db, "DELETE FROM runs WHERE id=?");
    s.bind(1, runId).run();
    return sqlite3_changes(m_db) > 0;
}

void RunStore::requestStop(int64_t runId)
{
    Stmt s(m_db, "UPDATE runs SET stop_requested=1 WHERE id=?");
    s.bind(1, runId).run();
}

int RunStore::reconcileCrashed(double staleSeconds)
{
    std::vector<int64_t> crashed;
    {
        Stmt s(m_db, "SELECT id, pid, heartbeat_at, host FROM runs WHERE status='running'");
        const double now = unixNow();
        while (s.step()) {
            const bool local = s.text(3) == m_host;
            if (local ? !processAlive(s.i64(1)) : now - s.f64(2) > staleSeconds)
                crashed.push_back(s.i64(0));
        }
    }
    for (int64_t id : crashed)
        setStatus(id, kStatusCrashed, "the engine process ended without a final status (killed or crashed)");
    return static_cast<int>(crashed.size());
}

std::string RunStore::integrityCheck()
{
    Stmt s(m_db, "PRAGMA integrity_check");
    return s.step() ? s.text(0) : std::string("no answer");
}

} // namespace genrec::core
