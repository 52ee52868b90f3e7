// The only translation unit that includes QCustomPlot (its header needs Qt's bare keywords).
#include "ui/metric_chart.h"

#include "ui/decimation.h"
#include "ui/smoothing.h"

#include <QFile>
#include <QMouseEvent>
#include <QTextStream>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace genrec::ui {

namespace {

const QColor kPalette[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c),
                           QColor(0xd6, 0x27, 0x28), QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                           QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f), QColor(0xbc, 0xbd, 0x22),
                           QColor(0x17, 0xbe, 0xcf)};

constexpr int kReplotDelayMs = 40;
constexpr double kLineWidth = 1.5;   // a curve without smoothing
constexpr double kFaintWidth = 1.0;  // the raw curve under its smoothed one
constexpr double kSmoothWidth = 1.8; // the smoothed curve

} // namespace

struct MetricChart::Private
{
    struct Series
    {
        QString name;
        QColor color;
        QCPGraph *raw = nullptr;
        QCPGraph *smooth = nullptr; // null while smoothing is off
        // The full series (x ascending); the graphs hold only its decimation to the view.
        QVector<double> x;
        QVector<double> y;
        QVector<double> sm; // EMA of y, computed once per smoothing change and extended on append
        DebiasedEma ema;
        double yMin = qInf(), yMax = -qInf(), smMin = qInf(), smMax = -qInf(); // finite values
        bool stale = true; // data changed since the graphs were last filled
    };

    QCustomPlot *plot = nullptr;
    QCPTextElement *titleElement = nullptr;
    QCPItemTracer *tracer = nullptr;
    QTimer *replotTimer = nullptr;
    QVector<Series> series;
    QVector<QCPAbstractItem *> bandItems;
    QVector<StageBand> bands;
    QString title;
    double smoothing = 0.0;
    bool dirty = false;
    bool followData = true;
    int replots = 0;
    // View the graphs were last decimated for (x-range and axis-rect width in pixels).
    double viewLo = 0, viewHi = 0;
    int viewColumns = 0;
    qint64 drawnPoints = 0;

    void fitAxes();
    void decimate(int minColumns = 0);
};

namespace {

void extendBounds(const QVector<double> &v, qsizetype from, double *lo, double *hi)
{
    for (qsizetype i = from; i < v.size(); ++i)
        if (std::isfinite(v[i])) {
            *lo = std::min(*lo, v[i]);
            *hi = std::max(*hi, v[i]);
        }
}

/// Puts the decimation of (x, y) to [lo, hi] into a graph; returns the points drawn. `penWidth`
/// is the curve's width when sparse.
qsizetype fillGraph(QCPGraph *graph, const QVector<double> &x, const QVector<double> &y, double lo,
                    double hi, int columns, double penWidth)
{
    bool dense = false;
    const std::vector<std::size_t> idx =
        decimateMinMax(x.constData(), y.constData(), std::size_t(x.size()), lo, hi, columns, &dense);
    QVector<QCPGraphData> pts;
    pts.reserve(qsizetype(idx.size()));
    for (const std::size_t i : idx)
        pts.push_back(QCPGraphData(x[qsizetype(i)], y[qsizetype(i)]));
    auto data = QSharedPointer<QCPGraphDataContainer>::create();
    data->add(pts, true);
    graph->setData(data);
    // Antialiasing and wide pens cost most on dense polylines (a dense curve is a filled band of
    // min/max strokes anyway): thin cosmetic pen, no antialiasing.
    graph->setAntialiased(!dense);
    QPen pen = graph->pen();
    pen.setWidthF(dense ? 1.0 : penWidth);
    graph->setPen(pen);
    return pts.size();
}

} // namespace

void MetricChart::Private::fitAxes()
{
    double xLo = qInf(), xHi = -qInf(), yLo = qInf(), yHi = -qInf();
    for (const Series &s : std::as_const(series)) {
        if (s.x.isEmpty())
            continue;
        xLo = std::min(xLo, s.x.first());
        xHi = std::max(xHi, s.x.last());
        yLo = std::min(yLo, s.yMin);
        yHi = std::max(yHi, s.yMax);
        if (s.smooth) {
            yLo = std::min(yLo, s.smMin);
            yHi = std::max(yHi, s.smMax);
        }
    }
    // A single value keeps the current span, centred on it (as QCustomPlot's rescaleAxes does).
    auto apply = [](QCPAxis *axis, double lo, double hi) {
        if (!(lo <= hi))
            return;
        if (lo == hi) {
            const double half = axis->range().size() / 2;
            axis->setRange(lo - half, hi + half);
        } else {
            axis->setRange(lo, hi);
        }
    };
    apply(plot->xAxis, xLo, xHi);
    apply(plot->yAxis, yLo, yHi);
}

void MetricChart::Private::decimate(int minColumns)
{
    const QCPRange range = plot->xAxis->range();
    const int columns = std::max(minColumns, std::max(1, plot->axisRect()->width()));
    const bool sameView = range.lower == viewLo && range.upper == viewHi && columns == viewColumns;
    viewLo = range.lower;
    viewHi = range.upper;
    viewColumns = columns;
    qint64 drawn = 0;
    for (Series &s : series) {
        if (sameView && !s.stale) {
            drawn += s.raw->dataCount() + (s.smooth ? s.smooth->dataCount() : 0);
            continue;
        }
        drawn += fillGraph(s.raw, s.x, s.y, range.lower, range.upper, columns, s.smooth ? kFaintWidth : kLineWidth);
        if (s.smooth)
            drawn += fillGraph(s.smooth, s.x, s.sm, range.lower, range.upper, columns, kSmoothWidth);
        s.stale = false;
    }
    drawnPoints = drawn;
}

MetricChart::MetricChart(const QString &title, QWidget *parent)
    : QWidget(parent), d(std::make_unique<Private>())
{
    d->title = title;
    d->plot = new QCustomPlot(this);
    d->plot->setObjectName(QStringLiteral("plot"));
    d->plot->setMinimumSize(220, 160);
    d->plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    d->plot->setNoAntialiasingOnDrag(true);
    d->plot->setPlottingHint(QCP::phFastPolylines, true);
    d->plot->plotLayout()->insertRow(0);
    d->titleElement = new QCPTextElement(d->plot, title, QFont(font().family(), font().pointSize(), QFont::Bold));
    d->plot->plotLayout()->addElement(0, 0, d->titleElement);
    d->plot->legend->setVisible(false);
    d->plot->legend->setFont(QFont(font().family(), std::max(6, font().pointSize() - 2)));
    d->plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    d->tracer = new QCPItemTracer(d->plot);
    d->tracer->setStyle(QCPItemTracer::tsCircle);
    d->tracer->setSize(7);
    d->tracer->setInterpolating(false);
    d->tracer->setVisible(false);
    d->tracer->setLayer(QStringLiteral("overlay"));

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(d->plot);

    d->replotTimer = new QTimer(this);
    d->replotTimer->setSingleShot(true);
    d->replotTimer->setInterval(kReplotDelayMs);
    connect(d->replotTimer, &QTimer::timeout, this, &MetricChart::onReplotTimer);

    // A user drag or zoom stops the view from following new data; a double click resumes it.
    connect(d->plot, &QCustomPlot::mousePress, this, [this](QMouseEvent *) { d->followData = false; });
    connect(d->plot, &QCustomPlot::mouseWheel, this, [this](QWheelEvent *) { d->followData = false; });
    connect(d->plot, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent *) {
        rescale();
        d->plot->replot(QCustomPlot::rpQueuedReplot);
    });
    connect(d->plot, &QCustomPlot::mouseMove, this,
            [this](QMouseEvent *event) { updateHover(event->pos()); });
    // Every replot (ours, or QCustomPlot's own on drag and zoom) decimates once the layout is
    // known; an unchanged view with unchanged data costs nothing.
    connect(d->plot, &QCustomPlot::afterLayout, this, [this] { d->decimate(); });
    applyPalette();
}

MetricChart::~MetricChart() = default;

QString MetricChart::title() const
{
    return d->title;
}

int MetricChart::seriesIndex(const QString &name) const
{
    for (int i = 0; i < d->series.size(); ++i)
        if (d->series[i].name == name)
            return i;
    return -1;
}

int MetricChart::addSeries(const QString &name, const QColor &color)
{
    Private::Series s;
    s.name = name;
    s.color = color.isValid() ? color : kPalette[d->series.size() % std::size(kPalette)];
    s.raw = d->plot->addGraph();
    s.raw->setName(name);
    s.raw->setPen(QPen(s.color, kLineWidth));
    s.raw->setAdaptiveSampling(true);
    s.ema = DebiasedEma(d->smoothing);
    d->series.push_back(s);
    d->plot->legend->setVisible(d->series.size() > 1);
    if (d->smoothing > 0)
        rebuildSmoothed(int(d->series.size()) - 1);
    scheduleReplot();
    return int(d->series.size()) - 1;
}

void MetricChart::appendPoints(int series, const QVector<double> &x, const QVector<double> &y,
                               bool sorted)
{
    if (series < 0 || series >= d->series.size() || x.isEmpty())
        return;
    Private::Series &s = d->series[series];
    const qsizetype n = std::min(x.size(), y.size());
    if (!sorted || (!s.x.isEmpty() && x.first() < s.x.last())) {
        QVector<double> ax = s.x + x.first(n), ay = s.y + y.first(n);
        setPoints(series, ax, ay);
        return;
    }
    const qsizetype from = s.x.size();
    s.x += x.first(n);
    s.y += y.first(n);
    extendBounds(s.y, from, &s.yMin, &s.yMax);
    if (s.smooth) {
        s.sm.reserve(s.y.size());
        for (qsizetype i = 0; i < n; ++i)
            s.sm.push_back(s.ema.push(y[i]));
        extendBounds(s.sm, from, &s.smMin, &s.smMax);
    }
    s.stale = true;
    scheduleReplot();
}

void MetricChart::setPoints(int series, const QVector<double> &x, const QVector<double> &y)
{
    if (series < 0 || series >= d->series.size())
        return;
    Private::Series &s = d->series[series];
    const qsizetype n = std::min(x.size(), y.size());
    if (std::is_sorted(x.begin(), x.begin() + n)) {
        s.x = x.first(n);
        s.y = y.first(n);
    } else {
        std::vector<qsizetype> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](qsizetype a, qsizetype b) { return x[a] < x[b]; });
        s.x.resize(n);
        s.y.resize(n);
        for (qsizetype i = 0; i < n; ++i) {
            s.x[i] = x[order[i]];
            s.y[i] = y[order[i]];
        }
    }
    s.yMin = qInf(), s.yMax = -qInf();
    extendBounds(s.y, 0, &s.yMin, &s.yMax);
    s.stale = true;
    rebuildSmoothed(series);
    scheduleReplot();
}

void MetricChart::clear()
{
    d->plot->clearGraphs();
    d->series.clear();
    setStageBands({});
    d->tracer->setGraph(nullptr);
    d->tracer->setVisible(false);
    d->followData = true;
    scheduleReplot();
}

int MetricChart::seriesCount() const
{
    return int(d->series.size());
}

qsizetype MetricChart::pointCount(int series) const
{
    return series >= 0 && series < d->series.size() ? d->series[series].x.size() : 0;
}

void MetricChart::setSmoothing(double weight)
{
    weight = std::clamp(weight, 0.0, 0.999);
    if (weight == d->smoothing)
        return;
    d->smoothing = weight;
    for (int i = 0; i < d->series.size(); ++i)
        rebuildSmoothed(i);
    scheduleReplot();
}

double MetricChart::smoothing() const
{
    return d->smoothing;
}

void MetricChart::rebuildSmoothed(int index)
{
    Private::Series &s = d->series[index];
    s.ema = DebiasedEma(d->smoothing);
    s.stale = true;
    s.sm.clear();
    s.smMin = qInf(), s.smMax = -qInf();
    if (d->smoothing <= 0) {
        if (s.smooth) {
            d->plot->removeGraph(s.smooth);
            s.smooth = nullptr;
        }
        s.raw->setPen(QPen(s.color, kLineWidth));
        return;
    }
    if (!s.smooth) {
        s.smooth = d->plot->addGraph();
        s.smooth->setName(s.name);
        s.smooth->removeFromLegend();
        s.smooth->setAdaptiveSampling(true);
    }
    QColor faint = s.color;
    faint.setAlpha(70);
    s.raw->setPen(QPen(faint, kFaintWidth));
    s.smooth->setPen(QPen(s.color, kSmoothWidth));
    // Once over the full series; appends extend it and replots only decimate it.
    s.sm.resize(s.y.size());
    for (qsizetype i = 0; i < s.y.size(); ++i)
        s.sm[i] = s.ema.push(s.y[i]);
    extendBounds(s.sm, 0, &s.smMin, &s.smMax);
}

void MetricChart::setStageBands(const QVector<StageBand> &bands)
{
    if (bands.size() == d->bands.size()) {
        bool same = true;
        for (qsizetype i = 0; i < bands.size() && same; ++i)
            same = bands[i].name == d->bands[i].name && bands[i].start == d->bands[i].start &&
                   bands[i].end == d->bands[i].end;
        if (same)
            return;
    }
    for (QCPAbstractItem *item : std::as_const(d->bandItems))
        d->plot->removeItem(item);
    d->bandItems.clear();
    d->bands = bands;
    const bool dark = palette().color(QPalette::Window).lightness() < 128;
    for (qsizetype i = 0; i < bands.size(); ++i) {
        const StageBand &b = bands[i];
        auto *rect = new QCPItemRect(d->plot);
        rect->setLayer(QStringLiteral("grid"));
        rect->topLeft->setTypeX(QCPItemPosition::ptPlotCoords);
        rect->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
        rect->bottomRight->setTypeX(QCPItemPosition::ptPlotCoords);
        rect->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
        rect->topLeft->setCoords(b.start, 0);
        rect->bottomRight->setCoords(b.end, 1);
        QColor fill = (i % 2 == 0) ? QColor(120, 160, 220) : QColor(230, 170, 90);
        fill.setAlpha(dark ? 40 : 28);
        rect->setBrush(fill);
        rect->setPen(Qt::NoPen);
        auto *label = new QCPItemText(d->plot);
        label->setLayer(QStringLiteral("grid"));
        label->position->setTypeX(QCPItemPosition::ptPlotCoords);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(b.start, 0.0);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
        label->setText(b.name.toUpper());
        label->setColor(palette().color(QPalette::PlaceholderText));
        label->setPadding(QMargins(4, 2, 4, 2));
        d->bandItems << rect << label;
    }
    scheduleReplot();
}

void MetricChart::setXAxisLabel(const QString &label)
{
    d->plot->xAxis->setLabel(label);
    scheduleReplot();
}

void MetricChart::scheduleReplot()
{
    d->dirty = true;
    if (isVisible() && !d->replotTimer->isActive())
        d->replotTimer->start();
}

void MetricChart::onReplotTimer()
{
    if (!d->dirty || !isVisible())
        return;
    d->dirty = false;
    if (d->followData)
        d->fitAxes();
    ++d->replots;
    d->plot->replot(QCustomPlot::rpQueuedReplot);
}

void MetricChart::replotNow()
{
    d->dirty = false;
    if (d->followData)
        d->fitAxes();
    ++d->replots;
    d->plot->replot(QCustomPlot::rpImmediateRefresh);
}

double MetricChart::lastReplotMs() const
{
    return d->plot->replotTime(false);
}

int MetricChart::replotCount() const
{
    return d->replots;
}

void MetricChart::rescale()
{
    d->followData = true;
    d->fitAxes();
    scheduleReplot();
}

void MetricChart::setXRange(double lo, double hi)
{
    d->followData = false;
    d->plot->xAxis->setRange(lo, hi);
    scheduleReplot();
}

double MetricChart::xRangeLower() const
{
    return d->plot->xAxis->range().lower;
}

double MetricChart::xRangeUpper() const
{
    return d->plot->xAxis->range().upper;
}

qint64 MetricChart::drawnPointCount() const
{
    return d->drawnPoints;
}

QVector<QPointF> MetricChart::drawnPoints(int series, bool smoothed) const
{
    QVector<QPointF> out;
    if (series < 0 || series >= d->series.size())
        return out;
    const QCPGraph *g = smoothed ? d->series[series].smooth : d->series[series].raw;
    if (!g)
        return out;
    for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
        out.push_back(QPointF(it->key, it->value));
    return out;
}

bool MetricChart::exportPng(const QString &path, int width, int height)
{
    if (d->followData)
        d->fitAxes();
    // Decimate for the image's width (savePng lays out again but does not replot).
    d->decimate(width);
    d->viewColumns = -1; // the next on-screen replot decimates for the widget again
    return d->plot->savePng(path, width, height);
}

bool MetricChart::exportCsv(const QString &path) const
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&f);
    out << "series,x,y\n";
    for (const auto &s : d->series) {
        QString name = s.name;
        if (name.contains(QLatin1Char(',')) || name.contains(QLatin1Char('"')))
            name = QLatin1Char('"') + name.replace(QLatin1String("\""), QLatin1String("\"\"")) + QLatin1Char('"');
        for (qsizetype i = 0; i < s.x.size(); ++i)
            out << name << ',' << QString::number(s.x[i], 'g', 17) << ','
                << QString::number(s.y[i], 'g', 17) << '\n';
    }
    return out.status() == QTextStream::Ok;
}

void MetricChart::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (d->dirty)
        d->replotTimer->start();
}

void MetricChart::changeEvent(QEvent *event)
{
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) {
        applyPalette();
        scheduleReplot();
    }
}

void MetricChart::applyPalette()
{
    const QPalette pal = palette();
    const QColor bg = pal.color(QPalette::Base);
    const QColor fg = pal.color(QPalette::Text);
    QColor grid = fg;
    grid.setAlpha(40);
    d->plot->setBackground(pal.color(QPalette::Window));
    d->plot->axisRect()->setBackground(bg);
    for (QCPAxis *axis : {d->plot->xAxis, d->plot->yAxis}) {
        axis->setBasePen(QPen(fg));
        axis->setTickPen(QPen(fg));
        axis->setSubTickPen(QPen(fg));
        axis->setTickLabelColor(fg);
        axis->setLabelColor(fg);
        axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    }
    d->titleElement->setTextColor(fg);
    d->plot->legend->setBrush(bg);
    d->plot->legend->setTextColor(fg);
    d->plot->legend->setBorderPen(QPen(grid));
    d->tracer->setPen(QPen(fg));
}

void MetricChart::updateHover(const QPoint &pos)
{
    if (d->series.isEmpty()) {
        return;
    }
    const double key = d->plot->xAxis->pixelToCoord(pos.x());
    QStringList lines;
    lines << QStringLiteral("x = %1").arg(key, 0, 'g', 6);
    bool any = false;
    double tx = 0, ty = 0;
    for (const auto &s : d->series) {
        // The full series, not the decimated graph: hover shows stored values.
        if (s.x.isEmpty())
            continue;
        const qsizetype i = std::min<qsizetype>(
            std::lower_bound(s.x.begin(), s.x.end(), key) - s.x.begin(), s.x.size() - 1);
        const double value = s.smooth ? s.sm[i] : s.y[i];
        if (!any)
            tx = s.x[i], ty = value, any = true;
        lines << QStringLiteral("%1: %2 @ %3").arg(s.name).arg(value, 0, 'g', 5).arg(s.x[i], 0, 'g', 6);
    }
    if (!any)
        return;
    d->tracer->setGraph(nullptr);
    d->tracer->position->setCoords(tx, ty);
    d->tracer->setVisible(true);
    QToolTip::showText(d->plot->mapToGlobal(pos), lines.join(QLatin1Char('\n')), d->plot);
    d->plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace genrec::ui
