#include "ui/dashboard_panel.h"

#include "ui/metric_chart.h"
#include "ui/prediction_preview.h"
#include "ui/rollout_inspector.h"
#include "ui/run_controller.h"
#include "ui/runs_table_model.h"
#include "ui/store_watcher.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

namespace genrec::ui {

namespace {

constexpr int kLogLines = 5000;

} // namespace

DashboardPanel::DashboardPanel(StoreWatcher *watcher, RunController *controller, QWidget *parent)
    : QWidget(parent), m_watcher(watcher), m_controller(controller)
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);

    auto *top = new QHBoxLayout;
    m_runCombo = new QComboBox(this);
    m_runCombo->setObjectName(QStringLiteral("runSelector"));
    m_runCombo->setMinimumContentsLength(24);
    m_statusLabel = new QLabel(this);
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(QStringLiteral("%v / %m"));
    m_etaLabel = new QLabel(this);
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setObjectName(QStringLiteral("stopButton"));
    m_resume = new QPushButton(tr("Resume"), this);
    m_resume->setObjectName(QStringLiteral("resumeButton"));
    top->addWidget(new QLabel(tr("Run:"), this));
    top->addWidget(m_runCombo);
    top->addWidget(m_statusLabel);
    top->addWidget(m_progress, 1);
    top->addWidget(m_etaLabel);
    top->addWidget(m_stop);
    top->addWidget(m_resume);
    col->addLayout(top);

    auto *bar = new QHBoxLayout;
    m_xAxis = new QComboBox(this);
    m_xAxis->setObjectName(QStringLiteral("xAxis"));
    for (const XAxisMode m : {XAxisMode::Step, XAxisMode::Samples, XAxisMode::WallTime})
        m_xAxis->addItem(xAxisLabel(m), int(m));
    m_smoothing = new QSlider(Qt::Horizontal, this);
    m_smoothing->setObjectName(QStringLiteral("smoothing"));
    m_smoothing->setRange(0, 99);
    m_smoothing->setMaximumWidth(180);
    m_smoothing->setToolTip(tr("Debiased exponential moving average, as in TensorBoard"));
    m_smoothingLabel = new QLabel(QStringLiteral("0.00"), this);
    auto *exportButton = new QPushButton(tr("Export charts…"), this);
    bar->addWidget(new QLabel(tr("X axis:"), this));
    bar->addWidget(m_xAxis);
    bar->addSpacing(12);
    bar->addWidget(new QLabel(tr("Smoothing:"), this));
    bar->addWidget(m_smoothing);
    bar->addWidget(m_smoothingLabel);
    bar->addStretch(1);
    bar->addWidget(new QLabel(tr("Drag to pan, wheel to zoom, double-click to fit"), this));
    bar->addWidget(exportButton);
    col->addLayout(bar);

    auto *split = new QSplitter(Qt::Vertical, this);
    m_tabs = new QTabWidget(split);
    m_tabs->setObjectName(QStringLiteral("chartTabs"));
    const struct
    {
        QString title;
        QStringList ids;
    } pages[] = {
        {tr("Training"), {QStringLiteral("loss"), QStringLiteral("lr"), QStringLiteral("grad_norm"), QStringLiteral("tokens_per_s")}},
        {tr("Ranking"), {QStringLiteral("ranking")}},
        {tr("RL"), {QStringLiteral("reward"), QStringLiteral("kl"), QStringLiteral("frac_reward_zero_std")}},
    };
    for (const auto &page : pages) {
        auto *w = new QWidget(m_tabs);
        auto *grid = new QGridLayout(w);
        grid->setContentsMargins(2, 2, 2, 2);
        for (int i = 0; i < page.ids.size(); ++i) {
            auto *chart = new MetricChart(dashboardChartTitle(page.ids[i]), w);
            chart->setObjectName(QStringLiteral("chart_") + page.ids[i]);
            chart->setXAxisLabel(xAxisLabel(m_mode));
            grid->addWidget(chart, i / 2, i % 2);
            m_charts.insert(page.ids[i], chart);
        }
        m_tabs->addTab(w, page.title);
    }
    m_rollouts = new RolloutInspector(m_watcher, m_tabs);
    m_rollouts->setObjectName(QStringLiteral("rolloutInspector"));
    m_tabs->addTab(m_rollouts, tr("Rollouts"));
    m_predictions = new PredictionPreview(m_watcher, m_tabs);
    m_predictions->setObjectName(QStringLiteral("predictionPreview"));
    m_tabs->addTab(m_predictions, tr("Predictions"));
    m_log = new QPlainTextEdit(split);
    m_log->setObjectName(QStringLiteral("log"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(kLogLines);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    split->addWidget(m_tabs);
    split->addWidget(m_log);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 1);
    col->addWidget(split, 1);

    connect(m_runCombo, &QComboBox::activated, this,
            [this](int i) { showRun(m_runCombo->itemData(i).toLongLong()); });
    connect(m_xAxis, &QComboBox::activated, this,
            [this](int i) { setXAxisMode(XAxisMode(m_xAxis->itemData(i).toInt())); });
    connect(m_smoothing, &QSlider::valueChanged, this, [this](int v) {
        m_smoothingLabel->setText(QString::number(v / 100.0, 'f', 2));
        for (MetricChart *c : std::as_const(m_charts))
            c->setSmoothing(v / 100.0);
    });
    connect(exportButton, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Export charts to"));
        if (!dir.isEmpty())
            exportCharts(dir);
    });
    connect(m_stop, &QPushButton::clicked, this, &DashboardPanel::stopRun);
    connect(m_resume, &QPushButton::clicked, this, [this] {
        if (m_runId > 0)
            Q_EMIT resumeRequested(m_runId);
    });

    connect(m_watcher, &StoreWatcher::metricsAppended, this, &DashboardPanel::onMetrics);
    connect(m_watcher, &StoreWatcher::runStatusChanged, this, &DashboardPanel::onStatus);
    connect(m_watcher, &StoreWatcher::runListChanged, this, &DashboardPanel::reloadRunList);
    connect(m_controller, &RunController::progress, this, &DashboardPanel::onProgress);
    connect(m_controller, &RunController::logLine, this, &DashboardPanel::appendLog);
    connect(m_controller, &RunController::runCreated, this, [this](qint64 id) {
        reloadRunList();
        showRun(id);
    });
    connect(m_controller, &RunController::activeChanged, this, &DashboardPanel::updateButtons);
    connect(m_controller, &RunController::engineError, this, [this](const QString &message, const QString &hint) {
        m_statusLabel->setText(tr("Error: %1").arg(message));
        m_statusLabel->setToolTip(hint);
    });
    updateButtons();
}

void DashboardPanel::reloadRunList()
{
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    QSignalBlocker block(m_runCombo);
    m_runCombo->clear();
    try {
        for (const core::RunInfo &r : store->listRuns())
            m_runCombo->addItem(QStringLiteral("#%1 %2").arg(r.id).arg(QString::fromStdString(r.name)),
                                QVariant::fromValue<qint64>(r.id));
    } catch (const std::exception &) {
    }
    const int idx = m_runCombo->findData(QVariant::fromValue<qint64>(m_runId));
    m_runCombo->setCurrentIndex(idx);
}

void DashboardPanel::showRun(qint64 runId)
{
    if (m_runId > 0 && m_runId != runId)
        m_watcher->unwatchRun(m_runId);
    const bool same = runId == m_runId && m_watcher->isWatching(runId);
    m_runId = runId;
    if (!same) {
        m_rollouts->showRun(runId);
        m_predictions->showRun(runId);
        m_series = RunSeries();
        for (MetricChart *c : std::as_const(m_charts))
            c->clear();
        m_progress->setRange(0, 1);
        m_progress->setValue(0);
        m_etaLabel->clear();
        m_etaStage.clear();
        if (runId > 0) {
            m_watcher->watchRun(runId);
            m_watcher->pollNow();
        }
    }
    const int idx = m_runCombo->findData(QVariant::fromValue<qint64>(runId));
    if (idx < 0)
        reloadRunList();
    else
        m_runCombo->setCurrentIndex(idx);
    m_status.clear();
    if (core::RunStore *store = m_watcher->store(); store && runId > 0) {
        try {
            if (auto info = store->getRun(runId))
                onStatus(runId, QString::fromStdString(info->status));
        } catch (const std::exception &) {
        }
    }
    updateButtons();
}

void DashboardPanel::onMetrics(qint64 runId, const std::vector<core::MetricRow> &rows)
{
    if (runId != m_runId)
        return;
    const QVector<SeriesAppend> appends = m_series.append(rows, m_mode);
    for (const SeriesAppend &a : appends) {
        MetricChart *chart = m_charts.value(chartIdForKey(a.key));
        if (!chart)
            continue;
        int s = chart->seriesIndex(a.key);
        if (s < 0)
            s = chart->addSeries(a.key);
        chart->appendPoints(s, a.x, a.y, a.sorted);
    }
    const QVector<StageBand> bands = m_series.stageBands(m_mode);
    for (MetricChart *c : std::as_const(m_charts))
        c->setStageBands(bands);
}

void DashboardPanel::rebuildCharts()
{
    for (MetricChart *c : std::as_const(m_charts)) {
        c->clear();
        c->setXAxisLabel(xAxisLabel(m_mode));
    }
    for (const QString &key : m_series.keys()) {
        MetricChart *chart = m_charts.value(chartIdForKey(key));
        if (!chart)
            continue;
        QVector<double> x, y;
        m_series.series(key, m_mode, &x, &y);
        chart->setPoints(chart->addSeries(key), x, y);
    }
    const QVector<StageBand> bands = m_series.stageBands(m_mode);
    for (MetricChart *c : std::as_const(m_charts))
        c->setStageBands(bands);
}

void DashboardPanel::setXAxisMode(XAxisMode mode)
{
    const int idx = m_xAxis->findData(int(mode));
    if (idx >= 0)
        m_xAxis->setCurrentIndex(idx);
    if (mode == m_mode)
        return;
    m_mode = mode;
    rebuildCharts();
}

void DashboardPanel::setSmoothing(double weight)
{
    m_smoothing->setValue(int(weight * 100 + 0.5));
}

void DashboardPanel::onStatus(qint64 runId, const QString &status)
{
    if (runId != m_runId || status == m_status)
        return;
    m_status = status;
    m_statusLabel->setText(statusDisplayName(status));
    // A run the studio follows without owning its process ends when the store says so.
    if (status != QLatin1String(core::kStatusRunning) && m_controller->runId() == runId &&
        m_controller->isAttached())
        m_controller->detach();
    updateButtons();
}

void DashboardPanel::onProgress(const EngineEvent &e)
{
    if (e.runId > 0 && e.runId != m_runId)
        return;
    if (e.stage != m_etaStage) {
        m_etaStage = e.stage;
        m_etaFirstStep = e.step;
        m_etaClock.start();
    }
    m_progress->setRange(0, int(std::max<qint64>(1, e.total)));
    m_progress->setValue(int(std::min(e.step, std::max<qint64>(1, e.total))));
    m_progress->setFormat(QStringLiteral("%1 %v / %m").arg(e.stage.toUpper()));
    double eta = e.etaSeconds;
    const qint64 done = e.step - m_etaFirstStep;
    if (eta < 0 && done > 0 && e.total > 0)
        eta = double(m_etaClock.elapsed()) / 1000.0 / double(done) * double(e.total - e.step);
    QString text = tr("ETA %1").arg(formatDuration(eta));
    if (std::isfinite(e.loss))
        text += tr(" · loss %1").arg(e.loss, 0, 'g', 4);
    m_etaLabel->setText(text);
}

void DashboardPanel::appendLog(const QString &line)
{
    m_log->appendPlainText(line);
}

void DashboardPanel::updateButtons()
{
    const bool running = m_status == QLatin1String(core::kStatusRunning) ||
                         (m_controller->isActive() && m_controller->runId() == m_runId);
    m_stop->setEnabled(m_runId > 0 && running);
    m_resume->setEnabled(m_runId > 0 && !running && !m_controller->isActive() &&
                         (m_status == QLatin1String(core::kStatusStopped) ||
                          m_status == QLatin1String(core::kStatusCrashed) ||
                          m_status == QLatin1String(core::kStatusFailed)));
}

void DashboardPanel::stopRun()
{
    if (m_runId <= 0)
        return;
    if (!m_controller->isActive()) {
        qint64 pid = 0;
        if (core::RunStore *store = m_watcher->store())
            if (auto info = store->getRun(m_runId))
                pid = info->pid;
        m_controller->attach(m_runId, pid);
    }
    m_controller->stop();
}

void DashboardPanel::showPage(int index)
{
    m_tabs->setCurrentIndex(index);
}

int DashboardPanel::exportCharts(const QString &dir)
{
    int written = 0;
    for (auto it = m_charts.begin(); it != m_charts.end(); ++it) {
        if (it.value()->seriesCount() == 0)
            continue;
        const QString base = QDir(dir).filePath(QStringLiteral("run%1-%2").arg(m_runId).arg(it.key()));
        written += it.value()->exportPng(base + QStringLiteral(".png"), 900, 500) ? 1 : 0;
        written += it.value()->exportCsv(base + QStringLiteral(".csv")) ? 1 : 0;
    }
    return written;
}

} // namespace genrec::ui
