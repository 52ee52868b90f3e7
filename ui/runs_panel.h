#pragma once
/// @file runs_panel.h
/// The Runs browser: every run of the store in a sortable, filterable table (name, status, model,
/// type, dataset, best NDCG@10, HR@10, duration, start, tags, SFT→RL parent), with rename, tag,
/// note, delete (confirmed), open in the dashboard, compare, resume and "New run from this run".

#include <QList>
#include <QWidget>

class QLineEdit;
class QComboBox;
class QSortFilterProxyModel;
class QTableView;
class QTimer;

namespace genrec::ui {

class RunsTableModel;
class StoreWatcher;

class RunsPanel : public QWidget
{
    Q_OBJECT
public:
    /// The watcher is not owned and must outlive the panel.
    explicit RunsPanel(StoreWatcher *watcher, QWidget *parent = nullptr);

    /// Re-reads every run from the store.
    void reload();
    QList<qint64> selectedRunIds() const;
    void selectRuns(const QList<qint64> &ids);
    RunsTableModel *model() const { return m_model; }
    QSortFilterProxyModel *proxy() const { return m_proxy; }
    void setFilterText(const QString &text);

Q_SIGNALS:
    void openRunRequested(qint64 runId);
    void compareRequested(const QList<qint64> &runIds);
    void newRunFromYamlRequested(const QString &yaml, const QString &source);
    void resumeRequested(qint64 runId);

private:
    void renameSelected();
    void tagSelected();
    void noteSelected();
    void deleteSelected();
    void newRunFromSelected();
    void applyStatusFilter();

    StoreWatcher *m_watcher;
    RunsTableModel *m_model = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTableView *m_view = nullptr;
    QLineEdit *m_filter = nullptr;
    QComboBox *m_statusFilter = nullptr;
    QTimer *m_reloadTimer = nullptr;
};

} // namespace genrec::ui
