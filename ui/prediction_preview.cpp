#include "ui/prediction_preview.h"

#include "ui/store_watcher.h"

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

} // namespace

PredictionPreview::PredictionPreview(StoreWatcher *watcher, QWidget *parent)
    : QWidget(parent), m_watcher(watcher), m_poll(new QTimer(this))
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);
    m_empty = new QLabel(tr("No evaluation examples for this run yet (the eval stage stores a few "
                            "users' predictions when it finishes)."),
                         this);
    m_empty->setWordWrap(true);
    col->addWidget(m_empty);

    auto *split = new QSplitter(Qt::Horizontal, this);
    m_users = new QListWidget(split);
    m_users->setObjectName(QStringLiteral("previewUsers"));
    auto *right = new QWidget(split);
    auto *rcol = new QVBoxLayout(right);
    rcol->setContentsMargins(0, 0, 0, 0);
    rcol->addWidget(new QLabel(tr("History (oldest first):"), right));
    m_history = new QListWidget(right);
    m_history->setObjectName(QStringLiteral("previewHistory"));
    m_history->setMaximumHeight(130);
    rcol->addWidget(m_history);
    m_target = new QLabel(right);
    m_target->setObjectName(QStringLiteral("previewTarget"));
    m_target->setTextInteractionFlags(Qt::TextSelectableByMouse);
    rcol->addWidget(m_target);
    m_rank = new QLabel(right);
    m_rank->setObjectName(QStringLiteral("previewRank"));
    m_rank->setWordWrap(true);
    rcol->addWidget(m_rank);
    m_table = new QTableWidget(right);
    m_table->setObjectName(QStringLiteral("previewTable"));
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->hide();
    rcol->addWidget(m_table, 1);
    split->addWidget(m_users);
    split->addWidget(right);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 4);
    col->addWidget(split, 1);

    connect(m_users, &QListWidget::currentRowChanged, this, [this](int) { fillUser(); });
    m_poll->setInterval(kPollMs);
    connect(m_poll, &QTimer::timeout, this, &PredictionPreview::refresh);
    fillUsers();
}

void PredictionPreview::showRun(qint64 runId)
{
    m_runId = runId;
    m_lastEventRow = 0;
    m_examples = EvalExamples();
    m_storedRanks.clear();
    m_ranksSplit.clear();
    m_rankedUsers = 0;
    fillUsers();
    refresh();
}

void PredictionPreview::refresh()
{
    core::RunStore *store = m_watcher->store();
    if (!store || m_runId <= 0)
        return;
    bool added = false;
    try {
        for (const core::EventRow &e : store->eventsSince(m_runId, m_lastEventRow)) {
            m_lastEventRow = std::max<qint64>(m_lastEventRow, e.rowId);
            if (e.kind != "eval_examples")
                continue;
            if (auto ex = parseEvalExamplesPayload(QByteArray::fromStdString(e.payloadJson))) {
                m_examples = std::move(*ex); // the latest evaluation's examples
                added = true;
            }
        }
    } catch (const std::exception &) {
        return;
    }
    if (added) {
        loadRanks();
        fillUsers();
    }
}

void PredictionPreview::loadRanks()
{
    m_storedRanks.clear();
    m_rankedUsers = 0;
    m_ranksSplit = m_examples.split;
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    try {
        std::optional<core::EvalResult> latest;
        for (core::EvalResult &r : store->evalResults(m_runId, true)) {
            if (r.ranks.empty() || (!m_examples.split.isEmpty() && QString::fromStdString(r.split) != m_examples.split))
                continue;
            if (!latest || r.createdAt >= latest->createdAt)
                latest = std::move(r);
        }
        if (!latest)
            return;
        const size_t n = std::min(latest->userIds.size(), latest->ranks.size());
        for (size_t i = 0; i < n; ++i)
            m_storedRanks.insert(QString::fromStdString(latest->userIds[i]), latest->ranks[i]);
        m_rankedUsers = int(n);
    } catch (const std::exception &) {
    }
}

void PredictionPreview::fillUsers()
{
    const QString previous = currentUser();
    QSignalBlocker block(m_users);
    m_users->clear();
    for (const EvalExample &e : std::as_const(m_examples.examples))
        m_users->addItem(tr("user %1 (%2)").arg(e.userId, rankText(e.rank)));
    int row = 0;
    for (int i = 0; i < m_examples.examples.size(); ++i)
        if (m_examples.examples[i].userId == previous)
            row = i;
    if (m_users->count() > 0)
        m_users->setCurrentRow(row);
    m_empty->setVisible(m_examples.examples.isEmpty());
    fillUser();
}

void PredictionPreview::fillUser()
{
    m_history->clear();
    m_table->clear();
    m_table->setRowCount(0);
    m_target->clear();
    m_rank->clear();
    m_targetRow = -1;
    const int idx = m_users->currentRow();
    if (idx < 0 || idx >= m_examples.examples.size())
        return;
    const EvalExample &e = m_examples.examples[idx];
    m_history->addItems(e.historyTitles);
    m_target->setText(tr("Target: %1  %2").arg(e.targetTitle, e.targetSid));
    auto stored = m_storedRanks.find(e.userId);
    if (stored != m_storedRanks.end())
        m_rank->setText(tr("Rank of the target: %1 (stored %2 evaluation of %3 users)")
                            .arg(rankText(stored.value()), m_ranksSplit)
                            .arg(m_rankedUsers));
    else
        m_rank->setText(tr("Rank of the target: %1 (no stored per-user rank for this user)").arg(rankText(e.rank)));

    m_table->setColumnCount(4);
    m_table->setHorizontalHeaderLabels({tr("#"), tr("Title"), tr("SID"), tr("Score")});
    m_table->setRowCount(int(e.top.size()));
    const QColor highlight(70, 170, 90, 90);
    for (int row = 0; row < e.top.size(); ++row) {
        const EvalExample::Prediction &p = e.top[row];
        m_table->setItem(row, 0, new QTableWidgetItem(QString::number(row + 1)));
        m_table->setItem(row, 1, new QTableWidgetItem(p.title));
        m_table->setItem(row, 2, new QTableWidgetItem(p.sid));
        auto *score = new QTableWidgetItem(QString::number(p.score, 'f', 4));
        score->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(row, 3, score);
        if (!p.sid.isEmpty() && p.sid == e.targetSid) {
            m_targetRow = row;
            for (int col = 0; col < 4; ++col) {
                QTableWidgetItem *item = m_table->item(row, col);
                item->setBackground(highlight);
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
                item->setToolTip(tr("The target item"));
            }
        }
    }
    m_table->resizeColumnsToContents();
    m_table->horizontalHeader()->setStretchLastSection(true);
}

QStringList PredictionPreview::users() const
{
    QStringList out;
    for (const EvalExample &e : m_examples.examples)
        out << e.userId;
    return out;
}

void PredictionPreview::setUser(const QString &userId)
{
    for (int i = 0; i < m_examples.examples.size(); ++i)
        if (m_examples.examples[i].userId == userId)
            m_users->setCurrentRow(i);
}

QString PredictionPreview::currentUser() const
{
    const int idx = m_users->currentRow();
    return idx >= 0 && idx < m_examples.examples.size() ? m_examples.examples[idx].userId : QString();
}

QString PredictionPreview::historyText() const
{
    QStringList lines;
    for (int i = 0; i < m_history->count(); ++i)
        lines << m_history->item(i)->text();
    return lines.join(QLatin1Char('\n'));
}

QString PredictionPreview::targetText() const
{
    return m_target->text();
}

QString PredictionPreview::rankLine() const
{
    return m_rank->text();
}

void PredictionPreview::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
    m_poll->start();
}

void PredictionPreview::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_poll->stop();
}

} // namespace genrec::ui
