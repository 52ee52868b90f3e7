// Charts stay fast on big series without hiding anything: per-pixel min/max decimation keeps every
// spike and at most ~2 points per pixel column, is redone when the view changes, the hover and
// CSV export see the full data, and the store watcher catches up on a long run in slices even
// when nothing new is written.
#include "core/store/run_store.h"
#include "ui/decimation.h"
#include "ui/metric_chart.h"
#include "ui/smoothing.h"
#include "ui/store_watcher.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace genrec;
Q_DECLARE_METATYPE(std::vector<genrec::core::MetricRow>)

class TestUiChart : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void smallSeriesUnchanged();
    void keepsSpikesAndBoundsPoints();
    void nanColumnKeepsGap();
    void chartDecimatesToView();
    void smoothingOnFullSeries();
    void watcherCatchesUpInSlices();

private:
    QTemporaryDir m_dir;
};

void TestUiChart::smallSeriesUnchanged()
{
    const std::vector<double> x{1, 2, 3, 4}, y{4, 3, 2, 1};
    bool dense = true;
    const auto idx = ui::decimateMinMax(x.data(), y.data(), x.size(), 0, 10, 100, &dense);
    QCOMPARE(idx, (std::vector<std::size_t>{0, 1, 2, 3}));
    QVERIFY(!dense);
    // The range [2.5, 3.5] keeps its neighbours outside: 2 and 4.
    QCOMPARE(ui::decimateMinMax(x.data(), y.data(), x.size(), 2.5, 3.5, 100),
             (std::vector<std::size_t>{1, 2, 3}));
}

void TestUiChart::keepsSpikesAndBoundsPoints()
{
    const std::size_t n = 1'000'000;
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = double(i);
        y[i] = std::sin(double(i) * 0.001);
    }
    y[123'457] = 50.0;  // one-sample spikes, far narrower than a pixel column
    y[876'543] = -50.0;
    const int columns = 800;
    bool dense = false;
    const auto idx = ui::decimateMinMax(x.data(), y.data(), n, 0, double(n - 1), columns, &dense);
    QVERIFY(dense);
    QVERIFY(idx.size() <= std::size_t(2 * columns + 2));
    QVERIFY(std::is_sorted(idx.begin(), idx.end()));
    QVERIFY(std::find(idx.begin(), idx.end(), std::size_t(123'457)) != idx.end());
    QVERIFY(std::find(idx.begin(), idx.end(), std::size_t(876'543)) != idx.end());
    // Every column's extremes are kept: the decimated min/max equal the data's.
    double lo = 1e9, hi = -1e9;
    for (const std::size_t i : idx)
        lo = std::min(lo, y[i]), hi = std::max(hi, y[i]);
    QCOMPARE(lo, -50.0);
    QCOMPARE(hi, 50.0);
    // Zoomed in: only the visible part (plus one neighbour each side) is considered.
    const auto zoom = ui::decimateMinMax(x.data(), y.data(), n, 500'000, 500'999, columns);
    QCOMPARE(zoom.front(), std::size_t(499'999));
    QCOMPARE(zoom.back(), std::size_t(501'000));
}

void TestUiChart::nanColumnKeepsGap()
{
    const std::size_t n = 10'000;
    std::vector<double> x(n), y(n, 1.0);
    for (std::size_t i = 0; i < n; ++i)
        x[i] = double(i);
    for (std::size_t i = 5000; i < 5100; ++i)
        y[i] = std::nan("");
    const auto idx = ui::decimateMinMax(x.data(), y.data(), n, 0, double(n - 1), 100);
    bool gap = false;
    for (const std::size_t i : idx)
        gap = gap || std::isnan(y[i]);
    QVERIFY(gap);
}

void TestUiChart::chartDecimatesToView()
{
    ui::MetricChart chart(QStringLiteral("loss"));
    chart.resize(600, 300);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    const int n = 200'000;
    QVector<double> x(n), y(n);
    for (int i = 0; i < n; ++i) {
        x[i] = i + 1;
        y[i] = 1.0 + 0.1 * std::sin(i * 0.01);
    }
    y[77'777] = 9.0;
    const int s = chart.addSeries(QStringLiteral("loss"));
    chart.setPoints(s, x, y);
    chart.replotNow();
    const QVector<QPointF> drawn = chart.drawnPoints(s);
    QVERIFY2(drawn.size() <= 2 * 600 + 2, qPrintable(QString::number(drawn.size())));
    QVERIFY(drawn.size() > 100);
    QVERIFY(std::any_of(drawn.begin(), drawn.end(), [](const QPointF &p) { return p.y() == 9.0; }));
    QCOMPARE(chart.pointCount(s), qsizetype(n)); // the chart keeps the full series
    QCOMPARE(chart.xRangeLower(), 1.0);          // fitted to the full data
    QCOMPARE(chart.xRangeUpper(), double(n));

    // Zoom to 100 points: all of them are drawn, at full resolution.
    chart.setXRange(1000, 1099);
    chart.replotNow();
    const QVector<QPointF> zoomed = chart.drawnPoints(s);
    QCOMPARE(zoomed.size(), qsizetype(102));
    QCOMPARE(zoomed[1].x(), 1000.0);

    // Appending while zoomed keeps the view (the user zoomed) and the new points are stored.
    chart.appendPoints(s, {double(n + 1)}, {2.0});
    chart.replotNow();
    QCOMPARE(chart.pointCount(s), qsizetype(n + 1));
    QCOMPARE(chart.xRangeLower(), 1000.0);
    chart.rescale();
    chart.replotNow();
    QCOMPARE(chart.xRangeUpper(), double(n + 1));

    // CSV export writes every stored point, not the decimated ones.
    const QString csv = m_dir.filePath(QStringLiteral("loss.csv"));
    QVERIFY(chart.exportCsv(csv));
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly));
    int lines = 0;
    while (!f.readLine().isEmpty())
        ++lines;
    QCOMPARE(lines, n + 2); // header + points
}

void TestUiChart::smoothingOnFullSeries()
{
    ui::MetricChart chart(QStringLiteral("loss"));
    chart.resize(400, 300);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    const int s = chart.addSeries(QStringLiteral("loss"));
    QVector<double> x, y;
    for (int i = 0; i < 10; ++i)
        x << i, y << (i % 2 ? 2.0 : 0.0);
    chart.setPoints(s, x, y);
    chart.setSmoothing(0.5);
    chart.appendPoints(s, {10.0}, {2.0});
    chart.replotNow();
    // Few points: the smoothed graph holds them all; its values are the debiased EMA of the
    // whole series, extended by the append.
    const QVector<QPointF> sm = chart.drawnPoints(s, true);
    QCOMPARE(sm.size(), qsizetype(11));
    std::vector<double> all(y.begin(), y.end());
    all.push_back(2.0);
    const std::vector<double> expected = ui::smoothDebiasedEma(all, 0.5);
    for (int i = 0; i < 11; ++i)
        QVERIFY2(std::abs(sm[i].y() - expected[size_t(i)]) < 1e-12, qPrintable(QString::number(i)));
    QVERIFY(std::abs(sm[1].y() - 1.0 / 0.75) < 1e-12); // by hand: (0.5 * 0 + 0.5 * 2) / (1 - 0.5^2)
}

void TestUiChart::watcherCatchesUpInSlices()
{
    qRegisterMetaType<std::vector<core::MetricRow>>();
    const QString path = m_dir.filePath(QStringLiteral("slices.db"));
    core::RunStore writer(path.toStdString());
    const int64_t run = writer.createRun(core::NewRun{});
    std::vector<core::MetricPoint> pts;
    for (int s = 1; s <= 2500; ++s)
        pts.push_back({run, "sft", s, "loss", 1.0 / s, double(s)});
    writer.appendMetrics(pts);

    ui::StoreWatcher watcher(path);
    watcher.setRowsPerPoll(1000);
    watcher.watchRun(run);
    QSignalSpy spy(&watcher, &ui::StoreWatcher::metricsAppended);
    QVERIFY(watcher.pollNow());
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(1).value<std::vector<core::MetricRow>>().size(), size_t(1000));
    // Nothing new is written: the rest still arrives, in slices queued on the event loop.
    QTRY_COMPARE(spy.count(), 3);
    size_t total = 0;
    for (const auto &args : spy)
        total += args.at(1).value<std::vector<core::MetricRow>>().size();
    QCOMPARE(total, size_t(2500));
    QCOMPARE(spy.at(2).at(1).value<std::vector<core::MetricRow>>().back().point.step, int64_t(2500));
    QTest::qWait(50);
    QCOMPARE(spy.count(), 3);
}

QTEST_MAIN(TestUiChart)
#include "tst_ui_chart.moc"
