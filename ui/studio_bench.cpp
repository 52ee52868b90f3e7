#include "ui/studio_bench.h"

#include "core/store/run_store.h"
#include "ui/compare_panel.h"
#include "ui/dashboard_panel.h"
#include "ui/metric_chart.h"
#include "ui/run_controller.h"
#include "ui/store_watcher.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTextStream>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace genrec::ui {

namespace {

double msSince(const QElapsedTimer &t)
{
    return double(t.nsecsElapsed()) / 1e6;
}

QString ms(double v)
{
    return QString::number(v, 'f', 1) + QStringLiteral(" ms");
}

/// Replots synchronously and returns the wall time (decimation + layout + drawing).
double timedReplot(MetricChart *chart)
{
    QElapsedTimer t;
    t.start();
    chart->replotNow();
    return msSince(t);
}

/// Longest time the GUI thread's event loop went without serving a 1 ms timer, i.e. the longest
/// time the window could not have reacted to input.
class SliceMonitor
{
public:
    SliceMonitor()
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(1);
        QObject::connect(&m_timer, &QTimer::timeout, &m_timer, [this] {
            if (m_clock.isValid())
                m_longestMs = std::max(m_longestMs, msSince(m_clock) - 1.0);
            m_clock.start();
        });
        m_timer.start();
    }
    /// Forgets what was measured so far (and the gap up to now).
    void reset()
    {
        m_longestMs = 0;
        m_clock.start();
    }
    double longestMs() const { return std::max(0.0, m_longestMs); }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    double m_longestMs = 0;
};

/// Runs the event loop until `done` or the timeout.
template<typename Pred>
void waitUntil(Pred done, int timeoutMs = 120000)
{
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < timeoutMs)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 10);
}

/// One training step's metric rows, as the SFT trainer writes them.
void addStep(std::vector<core::MetricPoint> &batch, int64_t run, qint64 s, qint64 total, double t)
{
    const double noise = std::sin(double(s) * 12.9898) * 0.05;
    batch.push_back({run, "sft", s, "loss", 3.0 * std::exp(-double(s) / (total / 4.0)) + 0.3 + noise, t});
    batch.push_back({run, "sft", s, "lr", 3e-4 * (1.0 - double(s) / double(total)), t});
    batch.push_back({run, "sft", s, "grad_norm", 1.0 + noise, t});
    batch.push_back({run, "sft", s, "tokens_per_s", 5000 + 100 * noise, t});
    batch.push_back({run, "sft", s, "samples_seen", 16.0 * double(s), t});
}

} // namespace

CompareBenchResult runCompareBenchmark(int runs, qint64 points, int repeats, QTextStream &out)
{
    CompareBenchResult r;
    r.runs = runs;
    r.pointsPerMetric = points;
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bench.db"));
    QElapsedTimer t;
    t.start();
    QList<qint64> ids;
    {
        core::RunStore store(path.toStdString());
        for (int i = 0; i < runs; ++i) {
            core::NewRun nr;
            nr.name = "bench-" + std::to_string(i);
            nr.model = "preset:tiny";
            const int64_t id = store.createRun(nr);
            ids << id;
            std::vector<core::MetricPoint> batch;
            batch.reserve(size_t(points) * 2);
            for (qint64 s = 1; s <= points; ++s) {
                const double noise = std::sin(double(s) * 12.9898 + i) * 0.05;
                batch.push_back({id, "sft", s, "loss", 3.0 * std::exp(-double(s) / (points / 4.0)) + 0.3 + noise, 1000.0 + s});
                batch.push_back({id, "sft", s, "lr", 3e-4 * (1.0 - double(s) / double(points)), 1000.0 + s});
            }
            store.appendMetrics(batch);
        }
    }
    r.fillStoreMs = msSince(t);

    StoreWatcher watcher(path);
    ComparePanel panel(&watcher);
    panel.resize(1280, 800);
    panel.show();
    QApplication::processEvents();
    r.emptyReplotMs = timedReplot(panel.chart()); // axes, grid and frame only: the fixed cost

    t.restart();
    {
        SliceMonitor slices;
        bool loaded = false;
        auto c = QObject::connect(&panel, &ComparePanel::curvesLoaded, &panel, [&] { loaded = true; });
        panel.setRuns(ids);
        panel.setMetric(QStringLiteral("loss"));
        waitUntil([&] { return loaded && panel.chart()->seriesCount() == runs; });
        QObject::disconnect(c);
        r.firstReplotMs = timedReplot(panel.chart());
        r.openCompareMs = msSince(t);
        QApplication::processEvents();
        r.openLongestSliceMs = slices.longestMs();
    }
    r.drawnPoints = panel.chart()->drawnPointCount();

    double sum = 0;
    for (int k = 0; k < repeats; ++k) {
        const double v = timedReplot(panel.chart());
        sum += v;
        r.replotMaxMs = std::max(r.replotMaxMs, v);
    }
    r.replotMeanMs = repeats > 0 ? sum / repeats : 0;

    // Zoom in step by step, then pan: a new range each time, as a wheel or a drag gives.
    sum = 0;
    const double full = double(points);
    for (int k = 0; k < repeats; ++k) {
        const double width = full / std::pow(1.3, k % 10 + 1);
        const double lo = (full - width) * (k / double(std::max(1, repeats - 1)));
        panel.chart()->setXRange(lo, lo + width);
        const double v = timedReplot(panel.chart());
        sum += v;
        r.zoomMaxMs = std::max(r.zoomMaxMs, v);
    }
    r.zoomMeanMs = repeats > 0 ? sum / repeats : 0;
    panel.chart()->rescale();
    timedReplot(panel.chart());

    t.restart();
    panel.setSmoothing(0.6);
    panel.chart()->replotNow();
    r.smoothingMs = msSince(t);

    t.restart();
    panel.setXAxisMode(XAxisMode::WallTime); // the rows are cached: no store read
    panel.chart()->replotNow();
    r.xAxisSwitchMs = msSince(t);

    out << "compare bench: " << runs << " runs x " << points << " points per metric (2 metrics), "
        << panel.chart()->width() << " px wide chart; wall-clock times on the GUI thread\n"
        << "  fill store        " << ms(r.fillStoreMs) << " (the engine's cost, for context)\n"
        << "  empty chart       " << ms(r.emptyReplotMs) << " per replot (axes and frame: the fixed cost)\n"
        << "  open compare view " << ms(r.openCompareMs) << " (store reads on a worker thread + series + first replot "
        << ms(r.firstReplotMs) << "); longest GUI-thread slice meanwhile " << ms(r.openLongestSliceMs) << "\n"
        << "  replot            mean " << ms(r.replotMeanMs) << ", max " << ms(r.replotMaxMs) << " over "
        << repeats << " replots (" << r.drawnPoints << " points drawn of " << qint64(runs) * points << ")\n"
        << "  zoom/pan replot   mean " << ms(r.zoomMeanMs) << ", max " << ms(r.zoomMaxMs)
        << " (new x-range each time: every series decimated again)\n"
        << "  smoothing change  " << ms(r.smoothingMs) << " (EMA over every full series + replot)\n"
        << "  x-axis switch     " << ms(r.xAxisSwitchMs) << " (x recomputed from the loaded rows + replot)\n";
    out.flush();
    return r;
}

IngestBenchResult runIngestBenchmark(qint64 history, int batches, QTextStream &out)
{
    IngestBenchResult r;
    r.historySteps = history;
    r.batches = batches;
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ingest.db"));
    core::RunStore writer(path.toStdString());
    const int64_t run = writer.createRun(core::NewRun{});
    const qint64 stepsPerBatch = 512 / 5; // MetricWriter commits every 512 points (5 keys a step)
    const qint64 total = history + qint64(batches) * stepsPerBatch;
    {
        std::vector<core::MetricPoint> batch;
        batch.reserve(size_t(history) * 5);
        for (qint64 s = 1; s <= history; ++s)
            addStep(batch, run, s, total, 1000.0 + 0.1 * double(s));
        writer.appendMetrics(batch);
    }

    StoreWatcher watcher(path);
    RunController controller;
    DashboardPanel dash(&watcher, &controller);
    dash.resize(1280, 800);
    dash.show();
    QApplication::processEvents();
    const QStringList visible = {QStringLiteral("loss"), QStringLiteral("lr"), QStringLiteral("grad_norm"),
                                 QStringLiteral("tokens_per_s")};

    // Catching up through the event loop, as in the studio: showRun reads the first slice, the
    // watcher queues the next ones, the charts replot on their timers.
    QElapsedTimer t;
    t.start();
    {
        SliceMonitor slices;
        dash.showRun(run);
        waitUntil([&] { return dash.pointCount() >= history * 5; });
        QElapsedTimer settle;
        settle.start();
        while (settle.elapsed() < 200)
            QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 10);
        r.catchUpMs = msSince(t) - 200;
        r.catchUpMaxPollMs = slices.longestMs();
    }

    QElapsedTimer slice;
    SliceMonitor liveSlices;
    double pollSum = 0, replotSum = 0;
    int replots = 0;
    qint64 step = history;
    for (int b = 0; b < batches; ++b) {
        std::vector<core::MetricPoint> batch;
        for (qint64 k = 0; k < stepsPerBatch; ++k, ++step)
            addStep(batch, run, step + 1, total, 1000.0 + 0.1 * double(step + 1));
        writer.appendMetrics(batch);
        r.rowsPerBatch = int(batch.size());
        slice.restart();
        watcher.pollNow();
        const double poll = msSince(slice);
        pollSum += poll;
        r.pollMaxMs = std::max(r.pollMaxMs, poll);
        for (const QString &id : visible) {
            const double v = timedReplot(dash.chart(id));
            replotSum += v;
            ++replots;
            r.replotMaxMs = std::max(r.replotMaxMs, v);
        }
        // The engine commits about once a second; let the loop run a little between batches.
        liveSlices.reset();
        QElapsedTimer gap;
        gap.start();
        while (gap.elapsed() < 20)
            QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 5);
        r.liveLongestSliceMs = std::max(r.liveLongestSliceMs, liveSlices.longestMs());
    }
    r.pollMeanMs = batches > 0 ? pollSum / batches : 0;
    r.replotMeanMs = replots > 0 ? replotSum / replots : 0;

    out << "ingest bench: dashboard following a run with " << history << " steps x 5 keys, then "
        << batches << " live batches of " << r.rowsPerBatch << " rows; 4 visible charts\n"
        << "  catch-up          " << ms(r.catchUpMs) << " (" << history * 5 << " rows in slices of "
        << watcher.rowsPerPoll() << "), longest GUI-thread stall " << ms(r.catchUpMaxPollMs) << "\n"
        << "  poll + append     mean " << ms(r.pollMeanMs) << ", max " << ms(r.pollMaxMs) << " per batch\n"
        << "  replot per chart  mean " << ms(r.replotMeanMs) << ", max " << ms(r.replotMaxMs) << " per batch\n"
        << "  event loop        longest stall between batches " << ms(r.liveLongestSliceMs) << "\n";
    out.flush();
    return r;
}

} // namespace genrec::ui
