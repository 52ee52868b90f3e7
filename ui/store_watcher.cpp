#include "ui/store_watcher.h"

#include "core/common/error.h"

#include <QLoggingCategory>
#include <QSet>
#include <QTimer>

#include <algorithm>

namespace genrec::ui {

Q_LOGGING_CATEGORY(lcStoreWatcher, "genrec.ui.store")

StoreWatcher::StoreWatcher(const QString &storePath, QObject *parent)
    : QObject(parent), m_path(storePath), m_timer(new QTimer(this))
{
    connect(m_timer, &QTimer::timeout, this, [this] { pollNow(); });
}

StoreWatcher::~StoreWatcher() = default;

void StoreWatcher::setStorePath(const QString &path)
{
    if (path == m_path)
        return;
    m_path = path;
    m_store.reset();
    m_lastRowId.clear();
    m_status.clear();
    m_lastMaxRowId = -1;
}

void StoreWatcher::watchRun(qint64 runId)
{
    m_lastRowId.insert(runId, 0);
    m_lastMaxRowId = -1; // the new run's existing rows are older than the last probe
}

void StoreWatcher::unwatchRun(qint64 runId)
{
    m_lastRowId.remove(runId);
}

void StoreWatcher::start(int intervalMs)
{
    m_timer->start(intervalMs);
}

void StoreWatcher::stop()
{
    m_timer->stop();
}

core::RunStore *StoreWatcher::store()
{
    if (m_store)
        return m_store.get();
    try {
        m_store = std::make_unique<core::RunStore>(m_path.toStdString());
        m_error.clear();
    } catch (const std::exception &e) {
        m_error = QString::fromStdString(e.what());
        qCWarning(lcStoreWatcher) << "cannot open store" << m_path << m_error;
    }
    return m_store.get();
}

void StoreWatcher::setRowsPerPoll(qint64 rows)
{
    m_rowsPerPoll = std::max<qint64>(1, rows);
}

bool StoreWatcher::pollMetrics(core::RunStore *s)
{
    // One cheap probe, then per-run incremental reads of at most m_rowsPerPoll rows each, so a
    // long run being caught up is charted in slices that never hold the GUI thread for long.
    const qint64 maxRow = s->maxMetricRowId();
    if (maxRow == m_lastMaxRowId)
        return false;
    bool more = false;
    const QList<qint64> runs = m_lastRowId.keys();
    for (const qint64 runId : runs) {
        auto rows = s->metricsSince(runId, m_lastRowId.value(runId), m_rowsPerPoll);
        if (rows.empty())
            continue;
        more = more || qint64(rows.size()) >= m_rowsPerPoll;
        m_lastRowId[runId] = rows.back().rowId;
        Q_EMIT metricsAppended(runId, rows);
    }
    // Remember the probe only once everything up to it was delivered.
    if (!more)
        m_lastMaxRowId = maxRow;
    return more;
}

bool StoreWatcher::pollNow()
{
    core::RunStore *s = store();
    if (!s) {
        Q_EMIT storeError(m_error);
        return false;
    }
    try {
        if (pollMetrics(s))
            scheduleContinuation();
        // Statuses: the effective status reads "crashed" for running runs whose pid is gone.
        const auto runs = s->listRuns();
        QSet<qint64> seen;
        bool listChanged = false;
        for (const core::RunInfo &r : runs) {
            seen.insert(r.id);
            const QString status = QString::fromStdString(r.status);
            auto it = m_status.find(r.id);
            if (it == m_status.end()) {
                m_status.insert(r.id, status);
                listChanged = true;
                Q_EMIT runStatusChanged(r.id, status);
            } else if (it.value() != status) {
                it.value() = status;
                Q_EMIT runStatusChanged(r.id, status);
            }
        }
        for (auto it = m_status.begin(); it != m_status.end();) {
            if (!seen.contains(it.key())) {
                it = m_status.erase(it);
                listChanged = true;
            } else {
                ++it;
            }
        }
        if (listChanged)
            Q_EMIT runListChanged();
    } catch (const std::exception &e) {
        m_error = QString::fromStdString(e.what());
        Q_EMIT storeError(m_error);
        return false;
    }
    return true;
}

void StoreWatcher::scheduleContinuation()
{
    if (m_continuationPending)
        return;
    m_continuationPending = true;
    // Next slice after the events already queued (paints, input) have run.
    QTimer::singleShot(0, this, [this] {
        m_continuationPending = false;
        core::RunStore *s = store();
        if (!s)
            return;
        try {
            if (pollMetrics(s))
                scheduleContinuation();
        } catch (const std::exception &e) {
            m_error = QString::fromStdString(e.what());
            Q_EMIT storeError(m_error);
        }
    });
}

} // namespace genrec::ui
