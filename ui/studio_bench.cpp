#include "ui/studio_bench.h"

#include "core/store/run_store.h"
#include "ui/compare_panel.h"
#include "ui/metric_chart.h"
#include "ui/store_watcher.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTextStream>

#include <algorithm>
#include <cmath>

namespace genrec::ui {

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
    r.fillStoreMs = double(t.nsecsElapsed()) / 1e6;

    StoreWatcher watcher(path);
    ComparePanel panel(&watcher);
    panel.resize(1280, 800);
    panel.show();
    QApplication::processEvents();

    t.restart();
    panel.setRuns(ids);
    panel.setMetric(QStringLiteral("loss"));
    panel.chart()->replotNow();
    r.openCompareMs = double(t.nsecsElapsed()) / 1e6;

    double sum = 0;
    for (int k = 0; k < repeats; ++k) {
        panel.chart()->replotNow();
        const double ms = panel.chart()->lastReplotMs();
        sum += ms;
        r.replotMaxMs = std::max(r.replotMaxMs, ms);
    }
    r.replotMeanMs = repeats > 0 ? sum / repeats : 0;

    t.restart();
    panel.setSmoothing(0.6);
    panel.chart()->replotNow();
    r.smoothingMs = double(t.nsecsElapsed()) / 1e6;

    t.restart();
    panel.setXAxisMode(XAxisMode::WallTime);
    panel.chart()->replotNow();
    r.xAxisSwitchMs = double(t.nsecsElapsed()) / 1e6;

    out << "compare bench: " << runs << " runs x " << points << " points per metric (2 metrics)\n"
        << "  fill store        " << QString::number(r.fillStoreMs, 'f', 1) << " ms\n"
        << "  open compare view " << QString::number(r.openCompareMs, 'f', 1) << " ms (load + first replot)\n"
        << "  replot            mean " << QString::number(r.replotMeanMs, 'f', 1) << " ms, max "
        << QString::number(r.replotMaxMs, 'f', 1) << " ms over " << repeats << " replots\n"
        << "  smoothing change  " << QString::number(r.smoothingMs, 'f', 1) << " ms (EMA over every series + replot)\n"
        << "  x-axis switch     " << QString::number(r.xAxisSwitchMs, 'f', 1) << " ms (reload + replot)\n";
    out.flush();
    return r;
}

} // namespace genrec::ui
