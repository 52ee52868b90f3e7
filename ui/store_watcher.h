#pragma once
/// @file store_watcher.h
/// Polls the run store on the GUI thread and reports only what is new: metric rows past the
/// last rowid seen per watched run (metricsSince), and status changes of every run. The store is
/// the contract with the engine, so runs started headless or before the studio opened show up
/// the same way as runs the studio launched.

#include "core/store/run_store.h"

#include <QHash>
#include <QObject>
#include <QString>

#include <memory>
#include <vector>

class QTimer;

namespace genrec::ui {

class StoreWatcher : public QObject
{
    Q_OBJECT
public:
    /// Does not open the store yet; the first poll does (and creates it if missing).
    explicit StoreWatcher(const QString &storePath, QObject *parent = nullptr);
    ~StoreWatcher() override;

    QString storePath() const { return m_path; }
    /// Switches to another store file; forgets every watched run's position.
    void setStorePath(const QString &path);
    /// Starts reporting a run's metrics from the beginning (rowid 0).
    void watchRun(qint64 runId);
    void unwatchRun(qint64 runId);
    bool isWatching(qint64 runId) const { return m_lastRowId.contains(runId); }
    /// Last rowid delivered for a run (0 = nothing yet).
    qint64 lastRowId(qint64 runId) const { return m_lastRowId.value(runId, 0); }

    /// Rows read per watched run and poll (default 4,000, a few milliseconds of work). When a
    /// run has more (a long run being opened), the rest follows in further slices queued right
    /// after, so the GUI stays responsive while it catches up.
    void setRowsPerPoll(qint64 rows);
    qint64 rowsPerPoll() const { return m_rowsPerPoll; }

    /// Polling period; the timer runs while started.
    void start(int intervalMs = 500);
    void stop();
    /// One poll now: metrics of watched runs (one slice; see setRowsPerPoll), then statuses.
    /// Returns false (and emits storeError) when the store cannot be read.
    bool pollNow();
    /// The open store (opened on demand), or nullptr with the error in errorString().
    core::RunStore *store();
    QString errorString() const { return m_error; }

Q_SIGNALS:
    /// New rows of one run, in rowid order (at most one batch per run per poll).
    void metricsAppended(qint64 runId, const std::vector<genrec::core::MetricRow> &rows);
    /// A run's effective status changed (also fires once per run on the first poll).
    void runStatusChanged(qint64 runId, const QString &status);
    /// Runs were added or removed.
    void runListChanged();
    void storeError(const QString &message);

private:
    /// Reads one slice of new metric rows; true when a run has more waiting.
    bool pollMetrics(core::RunStore *store);
    void scheduleContinuation();

    QString m_path;
    QString m_error;
    std::unique_ptr<core::RunStore> m_store;
    QTimer *m_timer = nullptr;
    QHash<qint64, qint64> m_lastRowId;
    QHash<qint64, QString> m_status;
    qint64 m_lastMaxRowId = -1;
    qint64 m_rowsPerPoll = 4000;
    bool m_continuationPending = false;
};

} // namespace genrec::ui
