#include "ui/compare_panel.h"

#include "ui/metric_chart.h"
#include "ui/store_watcher.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QSet>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QThreadPool>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <numeric>

namespace genrec::ui {

ComparePanel::ComparePanel(StoreWatcher *watcher, QWidget *parent) : QWidget(parent), m_watcher(watcher)
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);
    auto *bar = new QHBoxLayout;
    m_metric = new QComboBox(this);
    m_metric->setObjectName(QStringLiteral("compareMetric"));
    m_metric->setMinimumContentsLength(16);
    m_xAxis = new QComboBox(this);
    for (const XAxisMode m : {XAxisMode::Step, XAxisMode::Samples, XAxisMode::WallTime})
        m_xAxis->addItem(xAxisLabel(m), int(m));
    m_smoothing = new QSlider(Qt::Horizontal, this);
    m_smoothing->setRange(0, 99);
    m_smoothing->setMaximumWidth(160);
    bar->addWidget(new QLabel(tr("Metric:"), this));
    bar->addWidget(m_metric);
    bar->addWidget(new QLabel(tr("X axis:"), this));
    bar->addWidget(m_xAxis);
    bar->addWidget(new QLabel(tr("Smoothing:"), this));
    bar->addWidget(m_smoothing);
    bar->addStretch(1);
    col->addLayout(bar);

    auto *split = new QSplitter(Qt::Vertical, this);
    m_chart = new MetricChart(tr("Overlay"), split);
    m_chart->setObjectName(QStringLiteral("compareChart"));
    split->addWidget(m_chart);

    auto *tabs = new QTabWidget(split);
    auto *diffPage = new QWidget(tabs);
    auto *diffCol = new QVBoxLayout(diffPage);
    m_diffOnly = new QCheckBox(tr("Differences only"), diffPage);
    m_diffOnly->setChecked(true);
    m_diff = new QTableWidget(diffPage);
    m_diff->setObjectName(QStringLiteral("configDiff"));
    m_diff->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_diff->verticalHeader()->hide();
    m_diff->horizontalHeader()->setStretchLastSection(true);
    diffCol->addWidget(m_diffOnly);
    diffCol->addWidget(m_diff);
    tabs->addTab(diffPage, tr("Config diff"));

    auto *metricsPage = new QWidget(tabs);
    auto *metricsCol = new QVBoxLayout(metricsPage);
    m_pairedLabel = new QLabel(metricsPage);
    m_pairedLabel->setObjectName(QStringLiteral("pairedBootstrap"));
    m_pairedLabel->setWordWrap(true);
    m_pairedLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_metrics = new QTableWidget(metricsPage);
    m_metrics->setObjectName(QStringLiteral("finalMetrics"));
    m_metrics->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_metrics->verticalHeader()->hide();
    metricsCol->addWidget(m_pairedLabel);
    metricsCol->addWidget(m_metrics);
    tabs->addTab(metricsPage, tr("Final metrics"));
    split->addWidget(tabs);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    col->addWidget(split, 1);

    connect(m_metric, &QComboBox::activated, this, [this](int) { loadCurves(); });
    connect(m_xAxis, &QComboBox::activated, this,
            [this](int i) { setXAxisMode(XAxisMode(m_xAxis->itemData(i).toInt())); });
    connect(m_smoothing, &QSlider::valueChanged, this, [this](int v) { m_chart->setSmoothing(v / 100.0); });
    connect(m_diffOnly, &QCheckBox::toggled, this, [this] { fillDiff(); });
}

void ComparePanel::setRuns(const QList<qint64> &runIds)
{
    m_runIds = runIds;
    m_cacheRuns.clear(); // reread: the runs may have new points since
    m_names.clear();
    m_configs.clear();
    m_keys.clear();
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    QSet<QString> keys;
    for (const qint64 id : runIds) {
        try {
            const auto info = store->getRun(id);
            m_names << (info ? QStringLiteral("#%1 %2").arg(id).arg(QString::fromStdString(info->name))
                             : QStringLiteral("#%1").arg(id));
            m_configs.push_back(info ? storedConfig(*info) : core::RunConfig());
            for (const auto &k : store->metricKeys(id))
                keys.insert(QString::fromStdString(k));
        } catch (const std::exception &) {
            m_configs.push_back(core::RunConfig());
        }
    }
    m_keys = QStringList(keys.begin(), keys.end());
    std::sort(m_keys.begin(), m_keys.end());
    const QString previous = m_metric->currentText();
    {
        QSignalBlocker block(m_metric);
        m_metric->clear();
        m_metric->addItems(m_keys);
        int idx = m_metric->findText(previous);
        if (idx < 0)
            idx = m_metric->findText(QStringLiteral("loss"));
        m_metric->setCurrentIndex(std::max(0, idx));
    }
    loadCurves();
    fillDiff();
    fillMetrics();
}

QStringList ComparePanel::metricKeys() const
{
    return m_keys;
}

void ComparePanel::setMetric(const QString &key)
{
    const int idx = m_metric->findText(key);
    if (idx >= 0 && idx != m_metric->currentIndex()) {
        m_metric->setCurrentIndex(idx);
        loadCurves();
    }
}

QString ComparePanel::metric() const
{
    return m_metric->currentText();
}

void ComparePanel::setXAxisMode(XAxisMode mode)
{
    m_xAxis->setCurrentIndex(m_xAxis->findData(int(mode)));
    if (mode != m_mode) {
        m_mode = mode;
        loadCurves();
    }
}

void ComparePanel::setSmoothing(double weight)
{
    m_smoothing->setValue(int(weight * 100 + 0.5));
}

void ComparePanel::setDifferencesOnly(bool on)
{
    m_diffOnly->setChecked(on);
    fillDiff();
}

namespace {

/// One run's rows of `key` (plus samples_seen for that x-axis) in write order, as RunSeries.
std::shared_ptr<RunSeries> loadRunSeries(core::RunStore &store, qint64 runId, const std::string &key,
                                         bool withSamples)
{
    std::vector<core::MetricRow> rows;
    for (const std::string &k : {key, std::string("samples_seen")}) {
        if (k == "samples_seen" && (!withSamples || key == "samples_seen"))
            continue;
        for (auto &p : store.metricSeries(runId, k))
            rows.push_back(core::MetricRow{0, std::move(p)});
    }
    // Write order puts stages side by side; rows come by step, so stages may interleave.
    const auto byWall = [](const core::MetricRow &a, const core::MetricRow &b) {
        return a.point.wallTime < b.point.wallTime;
    };
    if (!std::is_sorted(rows.begin(), rows.end(), byWall)) {
        std::vector<std::size_t> order(rows.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return rows[a].point.wallTime < rows[b].point.wallTime;
        });
        std::vector<core::MetricRow> sorted;
        sorted.reserve(rows.size());
        for (const std::size_t i : order)
            sorted.push_back(std::move(rows[i]));
        rows.swap(sorted);
    }
    auto series = std::make_shared<RunSeries>();
    series->append(rows, XAxisMode::Step);
    return series;
}

} // namespace

void ComparePanel::loadCurves()
{
    m_chart->clear();
    m_chart->setXAxisLabel(xAxisLabel(m_mode));
    const QString key = metric();
    if (!m_watcher->store() || key.isEmpty() || m_runIds.isEmpty()) {
        Q_EMIT curvesLoaded();
        return;
    }
    const bool withSamples = m_mode == XAxisMode::Samples;
    if (m_cacheKey == key && m_cacheRuns == m_runIds && (m_cacheHasSamples || !withSamples)) {
        drawCurves();
        return;
    }
    // Reading a million rows takes seconds: a worker thread does it on its own read-only
    // connection (WAL lets it read while the engine writes) and hands the series back.
    const int generation = ++m_generation;
    m_loading = true;
    const std::string path = m_watcher->storePath().toStdString();
    const QList<qint64> ids = m_runIds;
    const std::string k = key.toStdString();
    const XAxisMode mode = m_mode;
    QPointer<ComparePanel> self(this);
    QThreadPool::globalInstance()->start([self, generation, path, ids, k, key, withSamples, mode] {
        auto loaded = std::make_shared<std::vector<std::shared_ptr<RunSeries>>>();
        auto curves = std::make_shared<QVector<std::pair<QVector<double>, QVector<double>>>>();
        try {
            core::RunStore store(path, true);
            for (const qint64 id : ids) {
                try {
                    loaded->push_back(loadRunSeries(store, id, k, withSamples));
                } catch (const std::exception &) {
                    loaded->push_back(std::make_shared<RunSeries>());
                }
            }
        } catch (const std::exception &) {
            loaded->assign(size_t(ids.size()), std::make_shared<RunSeries>());
        }
        // The x values of the current axis too, so the GUI thread only hands them to the chart.
        for (const auto &series : *loaded) {
            curves->push_back({});
            series->series(key, mode, &curves->back().first, &curves->back().second);
        }
        QMetaObject::invokeMethod(
            qApp,
            [self, generation, loaded, curves, ids, key, withSamples, mode] {
                if (!self || generation != self->m_generation)
                    return; // the panel is gone, or a newer load superseded this one
                self->m_cache = std::move(*loaded);
                self->m_cacheRuns = ids;
                self->m_cacheKey = key;
                self->m_cacheHasSamples = withSamples;
                self->m_loading = false;
                if (mode == self->m_mode)
                    self->drawCurves(curves.get());
                else
                    self->drawCurves();
            },
            Qt::QueuedConnection);
    });
}

void ComparePanel::drawCurves(const QVector<std::pair<QVector<double>, QVector<double>>> *curves)
{
    m_chart->clear();
    m_chart->setXAxisLabel(xAxisLabel(m_mode));
    const QString key = metric();
    for (int i = 0; i < m_runIds.size() && i < int(m_cache.size()); ++i) {
        const int s = m_chart->addSeries(m_names.value(i));
        if (curves && i < curves->size()) {
            m_chart->setPoints(s, curves->at(i).first, curves->at(i).second);
            continue;
        }
        QVector<double> x, y;
        m_cache[size_t(i)]->series(key, m_mode, &x, &y);
        m_chart->setPoints(s, x, y);
    }
    Q_EMIT curvesLoaded();
}

void ComparePanel::fillDiff()
{
    const QVector<ConfigDiffRow> rows = configDiffRows(m_configs, m_diffOnly->isChecked());
    m_diff->clear();
    m_diff->setColumnCount(int(m_runIds.size()) + 1);
    QStringList headers{tr("Key")};
    headers += m_names;
    m_diff->setHorizontalHeaderLabels(headers);
    m_diff->setRowCount(int(rows.size()));
    for (int r = 0; r < rows.size(); ++r) {
        auto *keyItem = new QTableWidgetItem(rows[r].key);
        keyItem->setToolTip(rows[r].group);
        m_diff->setItem(r, 0, keyItem);
        for (int c = 0; c < rows[r].values.size(); ++c) {
            auto *item = new QTableWidgetItem(rows[r].values[c]);
            if (rows[r].differs)
                item->setBackground(QColor(255, 200, 80, 70));
            m_diff->setItem(r, c + 1, item);
        }
    }
    m_diff->resizeColumnsToContents();
}

void ComparePanel::fillMetrics()
{
    m_paired.clear();
    m_metrics->clear();
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    std::vector<std::optional<core::EvalResult>> evals;
    QStringList keys;
    std::vector<nlohmann::json> metricDocs;
    for (const qint64 id : m_runIds) {
        std::optional<core::EvalResult> latest;
        try {
            for (auto &e : store->evalResults(id, true))
                if (!latest || e.createdAt >= latest->createdAt)
                    latest = std::move(e);
        } catch (const std::exception &) {
        }
        nlohmann::json doc = latest ? nlohmann::json::parse(latest->metricsJson, nullptr, false) : nlohmann::json();
        if (doc.is_object())
            for (auto it = doc.begin(); it != doc.end(); ++it)
                if (it->is_number() && !keys.contains(QString::fromStdString(it.key())))
                    keys << QString::fromStdString(it.key());
        metricDocs.push_back(doc);
        evals.push_back(std::move(latest));
    }
    std::sort(keys.begin(), keys.end());
    m_metrics->setColumnCount(int(m_runIds.size()) + 1);
    QStringList headers{tr("Metric")};
    headers += m_names;
    m_metrics->setHorizontalHeaderLabels(headers);
    m_metrics->setRowCount(int(keys.size()) + 1);
    m_metrics->setItem(0, 0, new QTableWidgetItem(tr("split")));
    for (int c = 0; c < m_runIds.size(); ++c)
        m_metrics->setItem(0, c + 1, new QTableWidgetItem(evals[c] ? QString::fromStdString(evals[c]->split) : QStringLiteral("–")));
    for (int r = 0; r < keys.size(); ++r) {
        m_metrics->setItem(r + 1, 0, new QTableWidgetItem(keys[r]));
        double best = -1e300;
        int bestCol = -1;
        for (int c = 0; c < m_runIds.size(); ++c) {
            const auto &doc = metricDocs[c];
            const std::string k = keys[r].toStdString();
            if (doc.is_object() && doc.contains(k) && doc[k].is_number()) {
                const double v = doc[k].get<double>();
                m_metrics->setItem(r + 1, c + 1, new QTableWidgetItem(QString::number(v, 'f', 4)));
                if (v > best)
                    best = v, bestCol = c;
            }
        }
        if (bestCol >= 0 && m_runIds.size() > 1)
            if (auto *item = m_metrics->item(r + 1, bestCol + 1))
                item->setFont([&] { QFont f = item->font(); f.setBold(true); return f; }());
    }
    m_metrics->resizeColumnsToContents();

    QStringList lines;
    for (int c = 1; c < m_runIds.size(); ++c) {
        if (!evals[0] || !evals[c] || evals[0]->ranks.empty() || evals[c]->ranks.empty()) {
            lines << tr("%1 vs %2: no per-user ranks stored; evaluate both runs to compare them user by user.")
                         .arg(m_names.value(0), m_names.value(c));
            continue;
        }
        PairedNdcgComparison p = comparePairedNdcg(*evals[0], *evals[c], m_names.value(0), m_names.value(c), 10);
        lines << (p.ok ? p.text + tr(" — %1 users, NDCG@10 %2 vs %3")
                                      .arg(p.rows)
                                      .arg(p.ndcgA, 0, 'f', 4)
                                      .arg(p.ndcgB, 0, 'f', 4)
                       : QStringLiteral("%1 vs %2: %3").arg(m_names.value(0), m_names.value(c), p.reason));
        m_paired.push_back(std::move(p));
    }
    m_pairedLabel->setText(lines.join(QLatin1Char('\n')));
}

QString ComparePanel::pairedText() const
{
    return m_pairedLabel->text();
}

} // namespace genrec::ui
