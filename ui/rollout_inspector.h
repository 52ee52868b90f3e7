#pragma once
/// @file rollout_inspector.h
/// GRPO rollout inspector of one run: the engine's "rollouts" events (stage "rl"), one per
/// logged step. Pick a step and a prompt to see the user's history titles, the target, and the
/// group the policy generated for it: title, SID, each reward function's value, the total reward
/// and the advantage, with the target's row highlighted and groups without reward variance
/// (no learning signal) flagged. New steps appear while the run goes on (polled while visible).

#include "ui/sample_events.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QListWidget;
class QTableWidget;
class QTimer;

namespace genrec::ui {

class StoreWatcher;

class RolloutInspector : public QWidget
{
    Q_OBJECT
public:
    /// The watcher (for its store) is not owned and must outlive the inspector.
    explicit RolloutInspector(StoreWatcher *watcher, QWidget *parent = nullptr);

    /// Shows a run's rollouts (0 = none), reading its events from the start.
    void showRun(qint64 runId);
    /// Reads events added since the last read (called by a timer while visible).
    void refresh();

    /// Logged steps, ascending.
    QList<qint64> steps() const;
    qint64 currentStep() const;
    void setStep(qint64 step);
    /// Selects the prompt at this index of the current step.
    void setSample(int index);
    int sampleCount() const;
    QTableWidget *table() const { return m_table; }
    /// Row of the target in the table (-1 when the group does not contain it).
    int targetRow() const { return m_targetRow; }
    QString historyText() const;
    QString targetText() const;
    QString signalText() const;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void fillSteps();
    void fillSamples();
    void fillSample();

    StoreWatcher *m_watcher;
    qint64 m_runId = 0;
    qint64 m_lastEventRow = 0;
    QVector<RolloutStep> m_steps; // ascending by step
    int m_targetRow = -1;
    QComboBox *m_step = nullptr;
    QListWidget *m_samples = nullptr;
    QListWidget *m_history = nullptr;
    QLabel *m_target = nullptr;
    QLabel *m_signal = nullptr;
    QLabel *m_empty = nullptr;
    QTableWidget *m_table = nullptr;
    QTimer *m_poll = nullptr;
};

} // namespace genrec::ui
