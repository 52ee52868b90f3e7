#pragma once
/// @file prediction_preview.h
/// Recommendation preview of one run: the eval stage's "eval_examples" events. Pick a user to
/// see the history titles, the target and the model's top-K items with their scores (the target
/// highlighted when it is among them), plus the target's rank for that user from the stored
/// per-user evaluation (eval_results with ranks), which covers every evaluated user.

#include "ui/sample_events.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QLabel;
class QListWidget;
class QTableWidget;
class QTimer;

namespace genrec::ui {

class StoreWatcher;

class PredictionPreview : public QWidget
{
    Q_OBJECT
public:
    /// The watcher (for its store) is not owned and must outlive the preview.
    explicit PredictionPreview(StoreWatcher *watcher, QWidget *parent = nullptr);

    /// Shows a run's examples (0 = none), reading its events and evaluations from the start.
    void showRun(qint64 runId);
    /// Reads events added since the last read (called by a timer while visible).
    void refresh();

    /// Users with an example, in the engine's order.
    QStringList users() const;
    void setUser(const QString &userId);
    QString currentUser() const;
    QTableWidget *table() const { return m_table; }
    int targetRow() const { return m_targetRow; }
    QString historyText() const;
    QString targetText() const;
    /// The rank line ("Rank of the target: #R among N evaluated users …").
    QString rankLine() const;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void loadRanks();
    void fillUsers();
    void fillUser();

    StoreWatcher *m_watcher;
    qint64 m_runId = 0;
    qint64 m_lastEventRow = 0;
    EvalExamples m_examples;             // the latest eval_examples event
    QHash<QString, int> m_storedRanks;   // user -> 0-based rank, latest evaluation of that split
    QString m_ranksSplit;
    int m_rankedUsers = 0;
    int m_targetRow = -1;
    QListWidget *m_users = nullptr;
    QListWidget *m_history = nullptr;
    QLabel *m_target = nullptr;
    QLabel *m_rank = nullptr;
    QLabel *m_empty = nullptr;
    QTableWidget *m_table = nullptr;
    QTimer *m_poll = nullptr;
};

} // namespace genrec::ui
