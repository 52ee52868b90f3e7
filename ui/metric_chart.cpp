// The only translation unit that includes QCustomPlot (its header needs Qt's bare keywords).
#include "ui/metric_chart.h"

#include "ui/smoothing.h"

#include <QFile>
#include <QMouseEvent>
#include <QTextStream>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <numeric>

namespace genrec::ui {

namespace {

const QColor kPalette[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c),
                           QColor(0xd6, 0x27, 0x28), QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                           QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f), QColor(0xbc, 0xbd, 0x22),
                           QColor(0x17, 0xbe, 0xcf)};

constexpr int kReplotDelayMs = 40;

} // namespace

struct MetricChart::Private
{
    struct Series
    {
        QString name;
        QColor color;
        QCPGraph *raw = nullptr;
        QCPGraph *smooth = nullptr; // null while smoothing is off
        QVector<double> x;
        QVector<double> y;
        DebiasedEma ema;
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
};

MetricChart::MetricChart(const QString &title, QWidget *parent)
    : QWidget(parent), d(std::make_unique<Private>())
{
    d->title = title;
    d->plot = new QCustomPlot(this);
    d->plot->setObjectName(QStringLiteral("plot"));
    d->plot->setMinimumSize(220, 160);
    d->plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    d->plot->setNoAntialiasingOnDrag(true);
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
    s.raw->setPen(QPen(s.color, 1.5));
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
    s.x += x.first(n);
    s.y += y.first(n);
    s.raw->addData(x.first(n), y.first(n), true);
    if (s.smooth) {
        QVector<double> sm(n);
        for (qsizetype i = 0; i < n; ++i)
            sm[i] = s.ema.push(y[i]);
        s.smooth->addData(x.first(n), sm, true);
    }
    scheduleReplot();
}

void MetricChart::setPoints(int series, const QVector<double> &x, const QVector<double> &y)
{
    if (series < 0 || series >= d->series.size())
        return;
    Private::Series &s = d->series[series];
    const qsizetype n = std::min(x.size(), y.size());
    std::vector<qsizetype> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](qsizetype a, qsizetype b) { return x[a] < x[b]; });
    s.x.resize(n);
    s.y.resize(n);
    for (qsizetype i = 0; i < n; ++i) {
        s.x[i] = x[order[i]];
        s.y[i] = y[order[i]];
    }
    s.raw->setData(s.x, s.y, true);
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
    if (d->smoothing <= 0) {
        if (s.smooth) {
            d->plot->removeGraph(s.smooth);
            s.smooth = nullptr;
        }
        s.raw->setPen(QPen(s.color, 1.5));
        return;
    }
    if (!s.smooth) {
        s.smooth = d->plot->addGraph();
        s.smooth->setName(s.name);
        s.smooth->removeFromLegend();
    }
    QColor faint = s.color;
    faint.setAlpha(70);
    s.raw->setPen(QPen(faint, 1.0));
    s.smooth->setPen(QPen(s.color, 1.8));
    QVector<double> sm(s.y.size());
    for (qsizetype i = 0; i < s.y.size(); ++i)
        sm[i] = s.ema.push(s.y[i]);
    s.smooth->setData(s.x, sm, true);
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
        d->plot->rescaleAxes(true);
    ++d->replots;
    d->plot->replot(QCustomPlot::rpQueuedReplot);
}

void MetricChart::replotNow()
{
    d->dirty = false;
    if (d->followData)
        d->plot->rescaleAxes(true);
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
    d->plot->rescaleAxes(true);
    scheduleReplot();
}

bool MetricChart::exportPng(const QString &path, int width, int height)
{
    if (d->followData)
        d->plot->rescaleAxes(true);
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
    QCPGraph *first = nullptr;
    for (const auto &s : d->series) {
        QCPGraph *g = s.smooth ? s.smooth : s.raw;
        if (g->data()->isEmpty())
            continue;
        auto it = g->data()->findBegin(key, true);
        if (it == g->data()->constEnd())
            --it;
        if (!first)
            first = g;
        lines << QStringLiteral("%1: %2 @ %3").arg(s.name).arg(it->value, 0, 'g', 5).arg(it->key, 0, 'g', 6);
    }
    if (!first)
        return;
    d->tracer->setGraph(first);
    d->tracer->setGraphKey(key);
    d->tracer->setVisible(true);
    QToolTip::showText(d->plot->mapToGlobal(pos), lines.join(QLatin1Char('\n')), d->plot);
    d->plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace genrec::ui
