#pragma once
/// @file studio_bench.h
/// `genrec-studio --bench`: builds a store of N runs × P points per metric in a temporary folder
/// and measures opening the Compare view on all of them and replotting it (target < 50 ms per
/// replot). A benchmark, not a test: it prints numbers and asserts nothing.

#include <QString>

class QTextStream;

namespace genrec::ui {

struct CompareBenchResult
{
    int runs = 0;
    qint64 pointsPerMetric = 0;
    double fillStoreMs = 0;    ///< writing the store (not the studio's cost; for context)
    double openCompareMs = 0;  ///< setRuns + first replot
    double replotMeanMs = 0;   ///< QCustomPlot's own replot timing, mean of the repeats
    double replotMaxMs = 0;
    double smoothingMs = 0;    ///< smoothing change (recomputes every series) + replot
    double xAxisSwitchMs = 0;  ///< step -> wall time (reloads every series) + replot
};

/// Runs the benchmark (needs a QApplication). Prints a summary to `out`.
CompareBenchResult runCompareBenchmark(int runs, qint64 pointsPerMetric, int repeats, QTextStream &out);

} // namespace genrec::ui
