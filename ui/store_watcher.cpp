#include "ui/store_watcher.h"

#include "core/common/error.h"

#include <QLoggingCategory>
#include <QSet>
#include <QTimer>

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

bool StoreWatcher::pollNow()
{
    core::RunStore *s = store();
    if (!s) {
        Q_EMIT storeError(m_error);
        return false;
    }
    try {
        // Metrics: one cheap probe, then per-run incremental reads.
        const qint64 maxRow = s->maxMetricRowId();
        if (maxRow != m_lastMaxRowId) {
            m_lastMaxRowId = maxRow;
            const QList<qint64> runs = m_lastRowId.keys();
            for (const qint64 runId : runs) {
                auto rows = s->metricsSince(runId, m_lastRowId.value(runId));
                if (rows.empty())
                    continue;
                m_lastRowId[runId] = rows.back().rowId;
                Q_EMIT metricsAppended(runId, rows);
            }
        }
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

} // namespace genrec::ui
