#include "ui/rollout_inspector.h"

#include "ui/store_watcher.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

namespace genrec::ui {

namespace {

constexpr int kPollMs = 2000;

QTableWidgetItem *numberItem(double v)
{
    auto *item = new QTableWidgetItem(QString::number(v, 'f', 4));
    item->setData(Qt::UserRole, v);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

} // namespace

RolloutInspector::RolloutInspector(StoreWatcher *watcher, QWidget *parent)
    : QWidget(parent), m_watcher(watcher), m_poll(new QTimer(this))
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);
    auto *bar = new QHBoxLayout;
    m_step = new QComboBox(this);
    m_step->setObjectName(QStringLiteral("rolloutStep"));
    m_step->setMinimumContentsLength(10);
    bar->addWidget(new QLabel(tr("RL step:"), this));
    bar->addWidget(m_step);
    bar->addStretch(1);
    col->addLayout(bar);
    m_empty = new QLabel(tr("No rollouts logged for this run yet (the RL stage stores a sample of "
                            "its groups every few steps)."),
                         this);
    m_empty->setWordWrap(true);
    col->addWidget(m_empty);

    auto *split = new QSplitter(Qt::Horizontal, this);
    m_samples = new QListWidget(split);
    m_samples->setObjectName(QStringLiteral("rolloutPrompts"));
    auto *right = new QWidget(split);
    auto *rcol = new QVBoxLayout(right);
    rcol->setContentsMargins(0, 0, 0, 0);
    rcol->addWidget(new QLabel(tr("History (oldest first):"), right));
    m_history = new QListWidget(right);
    m_history->setObjectName(QStringLiteral("rolloutHistory"));
    m_history->setMaximumHeight(130);
    rcol->addWidget(m_history);
    m_target = new QLabel(right);
    m_target->setObjectName(QStringLiteral("rolloutTarget"));
    m_target->setTextInteractionFlags(Qt::TextSelectableByMouse);
    rcol->addWidget(m_target);
    m_signal = new QLabel(right);
    m_signal->setObjectName(QStringLiteral("rolloutSignal"));
    rcol->addWidget(m_signal);
    m_table = new QTableWidget(right);
    m_table->setObjectName(QStringLiteral("rolloutTable"));
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(false);
    rcol->addWidget(m_table, 1);
    split->addWidget(m_samples);
    split->addWidget(right);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 4);
    col->addWidget(split, 1);

    connect(m_step, &QComboBox::activated, this, [this](int) { fillSamples(); });
    connect(m_samples, &QListWidget::currentRowChanged, this, [this](int) { fillSample(); });
    m_poll->setInterval(kPollMs);
    connect(m_poll, &QTimer::timeout, this, &RolloutInspector::refresh);
    fillSteps();
}

void RolloutInspector::showRun(qint64 runId)
{
    m_runId = runId;
    m_lastEventRow = 0;
    m_steps.clear();
    fillSteps();
    refresh();
}

void RolloutInspector::refresh()
{
    core::RunStore *store = m_watcher->store();
    if (!store || m_runId <= 0)
        return;
    bool added = false;
    try {
        for (const core::EventRow &e : store->eventsSince(m_runId, m_lastEventRow)) {
            m_lastEventRow = std::max<qint64>(m_lastEventRow, e.rowId);
            if (e.kind != "rollouts")
                continue;
            auto step = parseRolloutsPayload(QByteArray::fromStdString(e.payloadJson));
            if (!step)
                continue;
            if (step->step == 0)
                step->step = e.step;
            auto it = std::lower_bound(m_steps.begin(), m_steps.end(), step->step,
                                       [](const RolloutStep &s, qint64 v) { return s.step < v; });
            if (it != m_steps.end() && it->step == step->step)
                *it = std::move(*step); // a resumed run logs the step again
            else
                m_steps.insert(it, std::move(*step));
            added = true;
        }
    } catch (const std::exception &) {
        return;
    }
    if (added)
        fillSteps();
}

void RolloutInspector::fillSteps()
{
    const qint64 previous = currentStep();
    const bool wasLast = m_step->count() == 0 || m_step->currentIndex() == m_step->count() - 1;
    {
        QSignalBlocker block(m_step);
        m_step->clear();
        for (const RolloutStep &s : std::as_const(m_steps))
            m_step->addItem(QString::number(s.step), QVariant::fromValue<qint64>(s.step));
        // Follow the newest step unless the user picked an older one.
        int idx = wasLast ? m_step->count() - 1 : m_step->findData(QVariant::fromValue<qint64>(previous));
        m_step->setCurrentIndex(idx < 0 ? m_step->count() - 1 : idx);
    }
    m_empty->setVisible(m_steps.isEmpty());
    fillSamples();
}

void RolloutInspector::fillSamples()
{
    const int previous = std::max(0, m_samples->currentRow());
    const int idx = m_step->currentIndex();
    QSignalBlocker block(m_samples);
    m_samples->clear();
    if (idx >= 0 && idx < m_steps.size()) {
        for (const RolloutSample &s : std::as_const(m_steps[idx].samples)) {
            auto *item = new QListWidgetItem(tr("user %1").arg(s.userId), m_samples);
            if (s.zeroRewardStd())
                item->setToolTip(tr("Every completion got the same reward: no learning signal."));
        }
        m_samples->setCurrentRow(std::min(previous, m_samples->count() - 1));
    }
    fillSample();
}

void RolloutInspector::fillSample()
{
    m_history->clear();
    m_table->clear();
    m_table->setRowCount(0);
    m_target->clear();
    m_signal->clear();
    m_targetRow = -1;
    const int stepIdx = m_step->currentIndex();
    const int sampleIdx = m_samples->currentRow();
    if (stepIdx < 0 || stepIdx >= m_steps.size() || sampleIdx < 0 || sampleIdx >= m_steps[stepIdx].samples.size())
        return;
    const RolloutSample &s = m_steps[stepIdx].samples[sampleIdx];
    m_history->addItems(s.historyTitles);
    m_target->setText(tr("Target: %1  %2").arg(s.targetTitle, s.targetSid));
    if (s.zeroRewardStd())
        m_signal->setText(tr("All %1 completions got the same reward: advantages are zero, this group "
                             "teaches nothing.")
                              .arg(s.completions.size()));

    const QStringList rewards = s.rewardNames();
    QStringList headers{tr("Title"), tr("SID")};
    for (const QString &r : rewards)
        headers << r;
    headers << tr("Reward") << tr("Advantage");
    m_table->setColumnCount(int(headers.size()));
    m_table->setHorizontalHeaderLabels(headers);
    m_table->setRowCount(int(s.completions.size()));
    const QColor highlight(70, 170, 90, 90);
    for (int row = 0; row < s.completions.size(); ++row) {
        const RolloutCompletion &c = s.completions[row];
        m_table->setItem(row, 0, new QTableWidgetItem(c.title));
        m_table->setItem(row, 1, new QTableWidgetItem(c.sid));
        for (int k = 0; k < rewards.size(); ++k) {
            for (const auto &[name, value] : c.rewards)
                if (name == rewards[k])
                    m_table->setItem(row, 2 + k, numberItem(value));
        }
        m_table->setItem(row, 2 + int(rewards.size()), numberItem(c.reward));
        m_table->setItem(row, 3 + int(rewards.size()), numberItem(c.advantage));
        if (!c.sid.isEmpty() && c.sid == s.targetSid) {
            m_targetRow = row;
            for (int col = 0; col < m_table->columnCount(); ++col) {
                QTableWidgetItem *item = m_table->item(row, col);
                if (!item)
                    m_table->setItem(row, col, item = new QTableWidgetItem);
                item->setBackground(highlight);
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
                item->setToolTip(tr("The target item"));
            }
        }
    }
    m_table->resizeColumnsToContents();
}

QList<qint64> RolloutInspector::steps() const
{
    QList<qint64> out;
    for (const RolloutStep &s : m_steps)
        out << s.step;
    return out;
}

qint64 RolloutInspector::currentStep() const
{
    return m_step->currentIndex() >= 0 ? m_step->currentData().toLongLong() : -1;
}

void RolloutInspector::setStep(qint64 step)
{
    const int idx = m_step->findData(QVariant::fromValue<qint64>(step));
    if (idx >= 0) {
        m_step->setCurrentIndex(idx);
        fillSamples();
    }
}

void RolloutInspector::setSample(int index)
{
    m_samples->setCurrentRow(index);
}

int RolloutInspector::sampleCount() const
{
    return m_samples->count();
}

QString RolloutInspector::historyText() const
{
    QStringList lines;
    for (int i = 0; i < m_history->count(); ++i)
        lines << m_history->item(i)->text();
    return lines.join(QLatin1Char('\n'));
}

QString RolloutInspector::targetText() const
{
    return m_target->text();
}

QString RolloutInspector::signalText() const
{
    return m_signal->text();
}

void RolloutInspector::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
    m_poll->start();
}

void RolloutInspector::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_poll->stop();
}

} // namespace genrec::ui
