#pragma once
/// @file dashboard_panel.h
/// Live view of one run: progress (stage, step, ETA) from the engine's JSON lines when the studio
/// launched it, charts fed incrementally from the store (StoreWatcher → RunSeries → MetricChart),
/// a bounded log pane, Stop / Resume, x-axis choice (step, samples seen, wall time), smoothing,
/// and PNG/CSV export. Charts sit in tabs; hidden tabs are not replotted. Two more tabs show the
/// run's samples: the GRPO rollout inspector and the recommendation preview of its evaluation.

#include "ui/chart_series.h"
#include "ui/engine_protocol.h"

#include <QElapsedTimer>
#include <QHash>
#include <QWidget>

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSlider;
class QTabWidget;

namespace genrec::ui {

class MetricChart;
class PredictionPreview;
class RolloutInspector;
class RunController;
class StoreWatcher;

class DashboardPanel : public QWidget
{
    Q_OBJECT
public:
    /// Neither pointer is owned; both must outlive the panel.
    DashboardPanel(StoreWatcher *watcher, RunController *controller, QWidget *parent = nullptr);

    /// Shows a run (0 = none): clears the charts and reads its metrics from the start.
    void showRun(qint64 runId);
    qint64 runId() const { return m_runId; }
    MetricChart *chart(const QString &chartId) const { return m_charts.value(chartId); }
    RolloutInspector *rolloutInspector() const { return m_rollouts; }
    PredictionPreview *predictionPreview() const { return m_predictions; }
    /// Switches the chart tabs: 0 Training, 1 Ranking, 2 RL, 3 Rollouts, 4 Predictions.
    void showPage(int index);
    QStringList chartIds() const { return m_charts.keys(); }
    void setXAxisMode(XAxisMode mode);
    void setSmoothing(double weight);
    /// Re-reads the run list of the selector.
    void reloadRunList();
    /// Number of metric points received for the shown run.
    qsizetype pointCount() const { return m_series.pointCount(); }
    /// Writes every chart as <dir>/<chart>.png and .csv; returns files written.
    int exportCharts(const QString &dir);

Q_SIGNALS:
    void resumeRequested(qint64 runId);

private:
    void onMetrics(qint64 runId, const std::vector<core::MetricRow> &rows);
    void onStatus(qint64 runId, const QString &status);
    void onProgress(const EngineEvent &event);
    void appendLog(const QString &line);
    void rebuildCharts();
    void updateButtons();
    void stopRun();

    StoreWatcher *m_watcher;
    RunController *m_controller;
    qint64 m_runId = 0;
    QString m_status;
    RunSeries m_series;
    XAxisMode m_mode = XAxisMode::Step;
    QHash<QString, MetricChart *> m_charts;
    QComboBox *m_runCombo = nullptr;
    QLabel *m_statusLabel = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_etaLabel = nullptr;
    QPushButton *m_stop = nullptr;
    QPushButton *m_resume = nullptr;
    QComboBox *m_xAxis = nullptr;
    QSlider *m_smoothing = nullptr;
    QLabel *m_smoothingLabel = nullptr;
    QTabWidget *m_tabs = nullptr;
    RolloutInspector *m_rollouts = nullptr;
    PredictionPreview *m_predictions = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QString m_etaStage;
    qint64 m_etaFirstStep = 0;
    QElapsedTimer m_etaClock;
};

} // namespace genrec::ui
