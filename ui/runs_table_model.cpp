#include "ui/runs_table_model.h"

#include "ui/compare_logic.h"
#include "ui/engine_protocol.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>

#include <cmath>

namespace genrec::ui {

QVector<RunRow> loadRunRows(core::RunStore &store)
{
    QVector<RunRow> rows;
    std::vector<core::RunInfo> runs;
    try {
        runs = store.listRuns();
    } catch (const std::exception &) {
        return rows;
    }
    QHash<qint64, QString> names;
    for (const auto &r : runs)
        names.insert(r.id, QString::fromStdString(r.name));
    const double now = core::unixNow();
    for (auto &r : runs) {
        RunRow row;
        try {
            for (const core::EvalResult &e : store.evalResults(r.id, false)) {
                const double n = evalMetric(e, "ndcg@10");
                if (std::isfinite(n) && (!std::isfinite(row.ndcg10) || n > row.ndcg10)) {
                    row.ndcg10 = n;
                    row.hr10 = evalMetric(e, "hr@10");
                }
            }
            if (!std::isfinite(row.ndcg10))
                for (const auto &[key, value] : store.lastMetrics(r.id)) {
                    if (key == "ndcg@10" || key == "eval_ndcg@10")
                        row.ndcg10 = value;
                    else if (key == "hr@10" || key == "eval_hr@10")
                        row.hr10 = value;
                }
        } catch (const std::exception &) {
        }
        if (r.startedAt > 0) {
            const double end = r.endedAt > 0 ? r.endedAt
                               : r.status == core::kStatusRunning ? now
                                                                  : std::max(r.heartbeatAt, r.startedAt);
            row.durationS = end - r.startedAt;
        }
        if (r.parentId)
            row.parentName = QStringLiteral("#%1 %2").arg(*r.parentId).arg(names.value(*r.parentId));
        row.info = std::move(r);
        rows.push_back(std::move(row));
    }
    return rows;
}

QString statusDisplayName(const QString &s)
{
    if (s == QLatin1String(core::kStatusQueued))
        return RunsTableModel::tr("Queued");
    if (s == QLatin1String(core::kStatusRunning))
        return RunsTableModel::tr("Running");
    if (s == QLatin1String(core::kStatusFinished))
        return RunsTableModel::tr("Finished");
    if (s == QLatin1String(core::kStatusFailed))
        return RunsTableModel::tr("Failed");
    if (s == QLatin1String(core::kStatusStopped))
        return RunsTableModel::tr("Stopped");
    if (s == QLatin1String(core::kStatusCrashed))
        return RunsTableModel::tr("Crashed");
    return s;
}

RunsTableModel::RunsTableModel(QObject *parent) : QAbstractTableModel(parent) {}

void RunsTableModel::setRows(const QVector<RunRow> &rows)
{
    beginResetModel();
    m_rows = rows;
    endResetModel();
}

const RunRow *RunsTableModel::rowForRun(qint64 runId) const
{
    for (const RunRow &r : m_rows)
        if (r.info.id == runId)
            return &r;
    return nullptr;
}

int RunsTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int RunsTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunsTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Id: return tr("ID");
    case Name: return tr("Name");
    case Status: return tr("Status");
    case Model: return tr("Model");
    case Type: return tr("Type");
    case Dataset: return tr("Dataset");
    case Ndcg10: return tr("Best NDCG@10");
    case Hr10: return tr("HR@10");
    case Duration: return tr("Duration");
    case Started: return tr("Started");
    case Tags: return tr("Tags");
    case Parent: return tr("Parent");
    }
    return {};
}

QVariant RunsTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const RunRow &r = m_rows[index.row()];
    const core::RunInfo &i = r.info;
    if (role == kRunIdRole)
        return QVariant::fromValue<qint64>(i.id);
    const auto num = [](double v) { return std::isfinite(v) ? QVariant(v) : QVariant(-1.0); };
    if (role == kSortRole) {
        switch (index.column()) {
        case Id: return QVariant::fromValue<qint64>(i.id);
        case Ndcg10: return num(r.ndcg10);
        case Hr10: return num(r.hr10);
        case Duration: return r.durationS;
        case Started: return i.startedAt > 0 ? i.startedAt : i.createdAt;
        default: return data(index, Qt::DisplayRole);
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Status) {
        const QString s = QString::fromStdString(i.status);
        if (s == QLatin1String(core::kStatusFailed) || s == QLatin1String(core::kStatusCrashed))
            return QBrush(QColor(0xd0, 0x31, 0x2d));
        if (s == QLatin1String(core::kStatusRunning))
            return QBrush(QColor(0x2c, 0x8c, 0x3c));
        return {};
    }
    if (role == Qt::ToolTipRole) {
        if (!i.error.empty())
            return QString::fromStdString(i.error);
        if (!i.notes.empty())
            return QString::fromStdString(i.notes);
        return {};
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Id: return QVariant::fromValue<qint64>(i.id);
    case Name: return QString::fromStdString(i.name);
    case Status: {
        QString s = statusDisplayName(QString::fromStdString(i.status));
        if (i.status == core::kStatusRunning && !i.currentStage.empty())
            s += QStringLiteral(" (%1)").arg(QString::fromStdString(i.currentStage));
        return s;
    }
    case Model: return QString::fromStdString(i.model);
    case Type: return QString::fromStdString(i.finetuningType);
    case Dataset: return QString::fromStdString(i.dataset);
    case Ndcg10: return std::isfinite(r.ndcg10) ? QString::number(r.ndcg10, 'f', 4) : QString();
    case Hr10: return std::isfinite(r.hr10) ? QString::number(r.hr10, 'f', 4) : QString();
    case Duration: return r.durationS >= 0 ? formatDuration(r.durationS) : QString();
    case Started: {
        const double t = i.startedAt > 0 ? i.startedAt : i.createdAt;
        return QDateTime::fromMSecsSinceEpoch(qint64(t * 1000)).toString(QStringLiteral("yyyy-MM-dd HH:mm"));
    }
    case Tags: {
        QStringList t;
        for (const auto &tag : i.tags)
            t << QString::fromStdString(tag);
        return t.join(QStringLiteral(", "));
    }
    case Parent: return r.parentName;
    }
    return {};
}

} // namespace genrec::ui
