#pragma once
/// @file runs_table_model.h
/// Table model of the runs in the store (one row per run) for the Runs browser. Sorting uses
/// kSortRole (numbers sort as numbers, missing values last); filtering is done by a
/// QSortFilterProxyModel over every column.

#include "core/store/run_store.h"

#include <QAbstractTableModel>
#include <QVector>

namespace genrec::ui {

/// A run plus what the table derives from the store.
struct RunRow
{
    core::RunInfo info;
    double ndcg10 = qQNaN();  ///< best ndcg@10 over its evaluations (or logged metrics)
    double hr10 = qQNaN();    ///< hr@10 of that evaluation
    double durationS = -1;    ///< end (or now / heartbeat) - start; -1 = not started
    QString parentName;       ///< "#3 demo-sft" for an RL run continuing an SFT run
};

/// Reads every run and its derived columns (one store pass; never throws, returns what it read).
QVector<RunRow> loadRunRows(core::RunStore &store);

class RunsTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Id, Name, Status, Model, Type, Dataset, Ndcg10, Hr10, Duration, Started, Tags, Parent, ColumnCount };
    static constexpr int kSortRole = Qt::UserRole + 1;
    static constexpr int kRunIdRole = Qt::UserRole + 2;

    explicit RunsTableModel(QObject *parent = nullptr);
    /// Replaces the rows (keeps views' selection where run ids survive is the view's job).
    void setRows(const QVector<RunRow> &rows);
    const RunRow *rowForRun(qint64 runId) const;
    const QVector<RunRow> &rows() const { return m_rows; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    QVector<RunRow> m_rows;
};

/// Translated display name of a status string ("running" -> "Running").
QString statusDisplayName(const QString &status);

} // namespace genrec::ui
