#pragma once
/// @file metric_chart.h
/// One time-series chart (QCustomPlot inside, never in this header, so files built with
/// QT_NO_KEYWORDS can use it). Data is appended in batches; every change arms a coalescing timer
/// and a hidden chart is not replotted until it is shown again (style rule 5). Full series are
/// kept here (for smoothing, hover, CSV export and decimation); the plot's graphs hold only their
/// per-pixel min/max decimation to the visible x-range (decimation.h), so a replot costs about
/// the same for 1,000 or 1,000,000 points. With smoothing on, the raw curve is drawn faint under
/// its debiased-EMA curve; the EMA is computed once over the full series, not per replot.

#include <QColor>
#include <QPointF>
#include <QString>
#include <QVector>
#include <QWidget>

#include <memory>

class QTimer;

namespace genrec::ui {

/// A stage's span on the x-axis (drawn as a tinted band with its name).
struct StageBand
{
    QString name;
    double start = 0;
    double end = 0;
};

class MetricChart : public QWidget
{
    Q_OBJECT
public:
    explicit MetricChart(const QString &title, QWidget *parent = nullptr);
    ~MetricChart() override;

    QString title() const;
    /// Index of the series with this name, or -1.
    int seriesIndex(const QString &name) const;
    /// Adds a series (colour from a fixed palette when invalid); returns its index.
    int addSeries(const QString &name, const QColor &color = QColor());
    /// Appends points to a series. `sorted` = x ascending and not before the last point (the fast
    /// path); otherwise the series is re-sorted.
    void appendPoints(int series, const QVector<double> &x, const QVector<double> &y,
                      bool sorted = true);
    /// Replaces a series' points.
    void setPoints(int series, const QVector<double> &x, const QVector<double> &y);
    /// Removes every series and band.
    void clear();
    int seriesCount() const;
    qsizetype pointCount(int series) const;

    /// EMA weight in [0, 0.999]; 0 = off.
    void setSmoothing(double weight);
    double smoothing() const;
    void setStageBands(const QVector<StageBand> &bands);
    void setXAxisLabel(const QString &label);

    /// Arms the coalescing timer (no-op work while hidden; the chart replots when shown).
    void scheduleReplot();
    /// Replots synchronously (benchmarks, screenshots).
    void replotNow();
    /// Duration of the last replot in milliseconds (QCustomPlot's own measurement).
    double lastReplotMs() const;
    /// Replots done so far (tests check that hidden charts are skipped).
    int replotCount() const;
    /// Fits both axes to the data and re-enables following new data.
    void rescale();
    /// Shows [lo, hi] on the x-axis and stops following new data (as a user zoom does).
    void setXRange(double lo, double hi);
    double xRangeLower() const;
    double xRangeUpper() const;
    /// Points the graphs held at the last replot, all series together. Each series is drawn
    /// decimated to the visible x-range: at most about two points per pixel column (its minimum
    /// and maximum), recomputed only when the range, the width or the data changed.
    qint64 drawnPointCount() const;
    /// The points a series' graph holds now (raw or smoothed curve; tests).
    QVector<QPointF> drawnPoints(int series, bool smoothed = false) const;

    bool exportPng(const QString &path, int width = 0, int height = 0);
    /// Long-format CSV: series,x,y (raw values).
    bool exportCsv(const QString &path) const;

protected:
    void showEvent(QShowEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    struct Private;
    void onReplotTimer();
    void applyPalette();
    void rebuildSmoothed(int series);
    void updateHover(const QPoint &pos);
    std::unique_ptr<Private> d;
};

} // namespace genrec::ui
