#pragma once
/// @file chart_series.h
/// Turns a run's stored metric rows into chart series: which chart a metric key belongs to, and
/// its x value for each x-axis choice on an axis shared by the run's stages (SFT then RL: each
/// stage's steps continue where the previous stage ended, so stage bands can be drawn).

#include "core/store/run_store.h"
#include "ui/metric_chart.h"

#include <QHash>
#include <QString>
#include <QStringList>
#include <QVector>

#include <map>
#include <vector>

namespace genrec::ui {

enum class XAxisMode { Step, Samples, WallTime };

/// Display name of an x-axis choice (translated).
QString xAxisLabel(XAxisMode mode);

/// Dashboard chart ids in display order.
QStringList dashboardChartIds();
/// Translated title of a dashboard chart id.
QString dashboardChartTitle(const QString &chartId);
/// Chart a metric key is drawn on ("" = not on the dashboard): loss (loss, eval_loss), lr,
/// grad_norm, tokens_per_s, ranking (hr@K / ndcg@K), reward (reward, rewards/<name>/mean), kl,
/// frac_reward_zero_std.
QString chartIdForKey(const QString &key);

/// Points of one key appended by a batch, x in the requested mode.
struct SeriesAppend
{
    QString key;
    QVector<double> x;
    QVector<double> y;
    bool sorted = true;
};

/// Every metric point of one run, with the stage offsets that put stages side by side.
class RunSeries
{
public:
    /// Records rows (in rowid order) and returns their points grouped by key, x in `mode`.
    QVector<SeriesAppend> append(const std::vector<core::MetricRow> &rows, XAxisMode mode);
    /// The whole series of a key in `mode`.
    void series(const QString &key, XAxisMode mode, QVector<double> *x, QVector<double> *y) const;
    QStringList keys() const;
    /// Each stage's span in `mode`, in order of first appearance.
    QVector<StageBand> stageBands(XAxisMode mode) const;
    qint64 lastRowId() const { return m_lastRowId; }
    qsizetype pointCount() const;

private:
    struct Point
    {
        double step;    // stage offset + step
        double samples; // stage offset + samples_seen
        double wall;    // seconds since the run's first point
        double value;
    };
    struct Stage
    {
        QString name;
        double stepOffset = 0;
        double samplesOffset = 0;
        double lastSamples = 0;
        double minStep = 0, maxStep = 0, minSamples = 0, maxSamples = 0, minWall = 0, maxWall = 0;
        bool any = false;
    };
    Stage &stage(const QString &name);
    static double xOf(const Point &p, XAxisMode mode);

    std::map<QString, std::vector<Point>> m_points;
    QVector<Stage> m_stages;
    std::map<std::pair<QString, qint64>, double> m_samplesAt; // (stage, step) -> samples_seen
    double m_t0 = -1;
    double m_maxStep = 0;
    double m_maxSamples = 0;
    qint64 m_lastRowId = 0;
};

} // namespace genrec::ui
