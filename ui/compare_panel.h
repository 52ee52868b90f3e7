#pragma once
/// @file compare_panel.h
/// Compare view for two or more runs: overlaid curves of any metric (same x-axis choices and
/// smoothing as the dashboard), the config diff table with "Differences only", the final
/// evaluation metrics side by side, and for runs evaluated on the same split the paired
/// bootstrap CI of their NDCG@10 difference from the stored per-user ranks. Curves are read on a
/// worker thread (curvesLoaded() says when they are drawn), so opening many long runs never
/// freezes the window.

#include "ui/chart_series.h"
#include "ui/compare_logic.h"

#include <QList>
#include <QWidget>

#include <memory>
#include <utility>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QTableWidget;

namespace genrec::ui {

class MetricChart;
class StoreWatcher;

class ComparePanel : public QWidget
{
    Q_OBJECT
public:
    /// The watcher (for its store) is not owned and must outlive the panel.
    explicit ComparePanel(StoreWatcher *watcher, QWidget *parent = nullptr);

    /// Loads the runs (configs, metric keys, evaluations) and draws the current metric.
    void setRuns(const QList<qint64> &runIds);
    QList<qint64> runIds() const { return m_runIds; }
    /// Metric keys present in any of the runs.
    QStringList metricKeys() const;
    void setMetric(const QString &key);
    QString metric() const;
    void setXAxisMode(XAxisMode mode);
    void setSmoothing(double weight);
    void setDifferencesOnly(bool on);

    MetricChart *chart() const { return m_chart; }
    QTableWidget *diffTable() const { return m_diff; }
    QTableWidget *metricsTable() const { return m_metrics; }
    /// Paired comparisons shown (first run against each other run).
    const QVector<PairedNdcgComparison> &pairedComparisons() const { return m_paired; }
    QString pairedText() const;
    /// Curves are read on a worker thread; true until they are drawn.
    bool isLoading() const { return m_loading; }

Q_SIGNALS:
    /// The overlay shows the current runs, metric and x-axis (after every load or redraw).
    void curvesLoaded();

private:
    void loadCurves();
    /// Draws the cached series; `curves` (x, y per run in the current x-axis) when the worker
    /// already computed them.
    void drawCurves(const QVector<std::pair<QVector<double>, QVector<double>>> *curves = nullptr);
    void fillDiff();
    void fillMetrics();

    StoreWatcher *m_watcher;
    QList<qint64> m_runIds;
    QStringList m_names;
    std::vector<core::RunConfig> m_configs;
    QStringList m_keys;
    XAxisMode m_mode = XAxisMode::Step;
    QVector<PairedNdcgComparison> m_paired;
    // Series of the last load (per run, same order as m_cacheRuns): metric and x-axis switches
    // that need no new rows redraw from here instead of reading the store again.
    std::vector<std::shared_ptr<RunSeries>> m_cache;
    QList<qint64> m_cacheRuns;
    QString m_cacheKey;
    bool m_cacheHasSamples = false;
    int m_generation = 0;
    bool m_loading = false;
    MetricChart *m_chart = nullptr;
    QComboBox *m_metric = nullptr;
    QComboBox *m_xAxis = nullptr;
    QSlider *m_smoothing = nullptr;
    QCheckBox *m_diffOnly = nullptr;
    QTableWidget *m_diff = nullptr;
    QTableWidget *m_metrics = nullptr;
    QLabel *m_pairedLabel = nullptr;
};

} // namespace genrec::ui
