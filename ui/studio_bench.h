#pragma once
/// @file studio_bench.h
/// `genrec-studio --bench`: chart performance on big stores, measured with wall clocks on the GUI
/// thread (decimation, layout and drawing included). A benchmark, not a test: it prints numbers
/// and asserts nothing.
///
/// - Compare view: N runs × P points per metric (2 metrics) in a temporary store; opening the
///   view on all runs, replotting it unchanged, zooming/panning (every replot a new x-range, so
///   every series is decimated again), a smoothing change and an x-axis switch. Target: < 50 ms
///   per replot.
/// - Live ingest: a dashboard following a run that already has H steps while another connection
///   appends batches the size the engine's MetricWriter commits (512 points); per batch, the poll
///   (SQLite read + series bookkeeping + chart appends) and the replot of each visible chart.
///   Target: no GUI-thread slice > 16 ms.

#include <QString>

class QTextStream;

namespace genrec::ui {

struct CompareBenchResult
{
    int runs = 0;
    qint64 pointsPerMetric = 0;
    double fillStoreMs = 0;    ///< writing the store (not the studio's cost; for context)
    double emptyReplotMs = 0;  ///< replot of the chart with no series (fixed cost)
    double openCompareMs = 0;  ///< setRuns (store reads + series) + first replot, wall clock
    double firstReplotMs = 0;  ///< the first replot alone (decimates every series)
    double openLongestSliceMs = 0; ///< longest GUI-thread event-loop slice while opening
    double replotMeanMs = 0;   ///< unchanged view, wall clock, mean of the repeats
    double replotMaxMs = 0;
    double zoomMeanMs = 0;     ///< a new x-range per replot (all series decimated again)
    double zoomMaxMs = 0;
    double smoothingMs = 0;    ///< smoothing change (EMA over every full series) + replot
    double xAxisSwitchMs = 0;  ///< step -> wall time (from the loaded rows) + replot
    qint64 drawnPoints = 0;    ///< points the graphs held at the last full-range replot
};

struct IngestBenchResult
{
    qint64 historySteps = 0;
    int batches = 0;
    int rowsPerBatch = 0;
    double catchUpMs = 0;      ///< showing the run: every stored row read and charted
    double catchUpMaxPollMs = 0; ///< longest GUI-thread stall while catching up
    double pollMeanMs = 0;     ///< per live batch: read + bookkeeping + chart appends
    double pollMaxMs = 0;
    double replotMeanMs = 0;   ///< per live batch and visible chart
    double replotMaxMs = 0;
    double liveLongestSliceMs = 0; ///< longest event-loop stall while batches arrive
};

/// Runs the compare benchmark (needs a QApplication). Prints a summary to `out`.
CompareBenchResult runCompareBenchmark(int runs, qint64 pointsPerMetric, int repeats, QTextStream &out);
/// Runs the live-ingest benchmark (needs a QApplication). Prints a summary to `out`.
IngestBenchResult runIngestBenchmark(qint64 historySteps, int batches, QTextStream &out);

} // namespace genrec::ui
