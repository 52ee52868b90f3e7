#include "ui/runs_panel.h"

#include "core/store/run_store.h"
#include "ui/runs_table_model.h"
#include "ui/store_watcher.h"

#include <QAction>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace genrec::ui {

RunsPanel::RunsPanel(StoreWatcher *watcher, QWidget *parent) : QWidget(parent), m_watcher(watcher)
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);
    auto *top = new QHBoxLayout;
    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("runFilter"));
    m_filter->setPlaceholderText(tr("Filter by name, model, dataset, tag…"));
    m_filter->setClearButtonEnabled(true);
    m_statusFilter = new QComboBox(this);
    m_statusFilter->addItem(tr("All statuses"), QString());
    for (const char *s : {core::kStatusRunning, core::kStatusFinished, core::kStatusStopped, core::kStatusFailed,
                          core::kStatusCrashed, core::kStatusQueued})
        m_statusFilter->addItem(statusDisplayName(QString::fromLatin1(s)), QString::fromLatin1(s));
    top->addWidget(m_filter, 1);
    top->addWidget(m_statusFilter);
    col->addLayout(top);

    m_model = new RunsTableModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(RunsTableModel::kSortRole);
    m_proxy->setFilterKeyColumn(-1);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("runsTable"));
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(RunsTableModel::Id, Qt::DescendingOrder);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setAlternatingRowColors(true);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setContextMenuPolicy(Qt::ActionsContextMenu);
    col->addWidget(m_view, 1);

    auto *buttons = new QHBoxLayout;
    auto *open = new QPushButton(tr("Open in dashboard"), this);
    auto *compare = new QPushButton(tr("Compare selected"), this);
    auto *fromRun = new QPushButton(tr("New run from this run"), this);
    auto *resume = new QPushButton(tr("Resume"), this);
    auto *del = new QPushButton(tr("Delete…"), this);
    for (QPushButton *b : {open, compare, fromRun, resume})
        buttons->addWidget(b);
    buttons->addStretch(1);
    buttons->addWidget(del);
    col->addLayout(buttons);

    auto addAction = [this](const QString &text, const QKeySequence &key, auto slot) {
        auto *a = new QAction(text, this);
        a->setShortcut(key);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, slot);
        m_view->addAction(a);
        return a;
    };
    addAction(tr("Rename…"), QKeySequence(Qt::Key_F2), &RunsPanel::renameSelected);
    addAction(tr("Add tag…"), QKeySequence(Qt::CTRL | Qt::Key_T), &RunsPanel::tagSelected);
    addAction(tr("Edit note…"), QKeySequence(), &RunsPanel::noteSelected);
    addAction(tr("New run from this run"), QKeySequence(), &RunsPanel::newRunFromSelected);
    addAction(tr("Delete…"), QKeySequence(QKeySequence::Delete), &RunsPanel::deleteSelected);

    m_reloadTimer = new QTimer(this);
    m_reloadTimer->setSingleShot(true);
    m_reloadTimer->setInterval(300);
    connect(m_reloadTimer, &QTimer::timeout, this, &RunsPanel::reload);
    connect(m_watcher, &StoreWatcher::runListChanged, m_reloadTimer, qOverload<>(&QTimer::start));
    connect(m_watcher, &StoreWatcher::runStatusChanged, m_reloadTimer, qOverload<>(&QTimer::start));
    connect(m_filter, &QLineEdit::textChanged, this, &RunsPanel::setFilterText);
    connect(m_statusFilter, &QComboBox::currentIndexChanged, this, &RunsPanel::applyStatusFilter);
    connect(m_view, &QTableView::doubleClicked, this, [this](const QModelIndex &index) {
        Q_EMIT openRunRequested(index.data(RunsTableModel::kRunIdRole).toLongLong());
    });
    connect(open, &QPushButton::clicked, this, [this] {
        const auto ids = selectedRunIds();
        if (!ids.isEmpty())
            Q_EMIT openRunRequested(ids.first());
    });
    connect(compare, &QPushButton::clicked, this, [this] {
        const auto ids = selectedRunIds();
        if (ids.size() >= 2)
            Q_EMIT compareRequested(ids);
        else
            QMessageBox::information(this, tr("Compare"), tr("Select two or more runs (Ctrl+click)."));
    });
    connect(resume, &QPushButton::clicked, this, [this] {
        const auto ids = selectedRunIds();
        if (!ids.isEmpty())
            Q_EMIT resumeRequested(ids.first());
    });
    connect(fromRun, &QPushButton::clicked, this, &RunsPanel::newRunFromSelected);
    connect(del, &QPushButton::clicked, this, &RunsPanel::deleteSelected);
    reload();
}

void RunsPanel::reload()
{
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    const QList<qint64> selected = selectedRunIds();
    m_model->setRows(loadRunRows(*store));
    m_view->resizeColumnsToContents();
    selectRuns(selected);
}

QList<qint64> RunsPanel::selectedRunIds() const
{
    QList<qint64> ids;
    for (const QModelIndex &i : m_view->selectionModel()->selectedRows())
        ids << i.data(RunsTableModel::kRunIdRole).toLongLong();
    return ids;
}

void RunsPanel::selectRuns(const QList<qint64> &ids)
{
    QItemSelection sel;
    for (int r = 0; r < m_proxy->rowCount(); ++r) {
        const QModelIndex i = m_proxy->index(r, 0);
        if (ids.contains(i.data(RunsTableModel::kRunIdRole).toLongLong()))
            sel.select(i, m_proxy->index(r, RunsTableModel::ColumnCount - 1));
    }
    m_view->selectionModel()->select(sel, QItemSelectionModel::ClearAndSelect);
}

void RunsPanel::setFilterText(const QString &text)
{
    if (m_filter->text() != text)
        m_filter->setText(text);
    m_proxy->setFilterFixedString(text);
}

void RunsPanel::applyStatusFilter()
{
    // The status filter narrows the text filter to the Status column's display name.
    const QString status = m_statusFilter->currentData().toString();
    if (status.isEmpty()) {
        m_proxy->setFilterKeyColumn(-1);
        m_proxy->setFilterFixedString(m_filter->text());
    } else {
        m_filter->clear();
        m_proxy->setFilterKeyColumn(RunsTableModel::Status);
        m_proxy->setFilterFixedString(statusDisplayName(status));
    }
}

void RunsPanel::renameSelected()
{
    const auto ids = selectedRunIds();
    core::RunStore *store = m_watcher->store();
    if (ids.size() != 1 || !store)
        return;
    const RunRow *row = m_model->rowForRun(ids.first());
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("Rename run"), tr("Name:"), QLineEdit::Normal,
                                               row ? QString::fromStdString(row->info.name) : QString(), &ok);
    if (ok && !name.trimmed().isEmpty()) {
        store->renameRun(ids.first(), name.trimmed().toStdString());
        reload();
    }
}

void RunsPanel::tagSelected()
{
    const auto ids = selectedRunIds();
    core::RunStore *store = m_watcher->store();
    if (ids.isEmpty() || !store)
        return;
    bool ok = false;
    const QString tag = QInputDialog::getText(this, tr("Add tag"), tr("Tag:"), QLineEdit::Normal, QString(), &ok);
    if (!ok || tag.trimmed().isEmpty())
        return;
    for (const qint64 id : ids)
        store->addTag(id, tag.trimmed().toStdString());
    reload();
}

void RunsPanel::noteSelected()
{
    const auto ids = selectedRunIds();
    core::RunStore *store = m_watcher->store();
    if (ids.size() != 1 || !store)
        return;
    const RunRow *row = m_model->rowForRun(ids.first());
    bool ok = false;
    const QString note = QInputDialog::getMultiLineText(this, tr("Note"), tr("Note for this run:"),
                                                        row ? QString::fromStdString(row->info.notes) : QString(), &ok);
    if (ok) {
        store->setNotes(ids.first(), note.toStdString());
        reload();
    }
}

void RunsPanel::deleteSelected()
{
    const auto ids = selectedRunIds();
    core::RunStore *store = m_watcher->store();
    if (ids.isEmpty() || !store)
        return;
    for (const qint64 id : ids)
        if (const RunRow *row = m_model->rowForRun(id); row && row->info.status == core::kStatusRunning) {
            QMessageBox::warning(this, tr("Delete runs"), tr("Run #%1 is running; stop it first.").arg(id));
            return;
        }
    const auto answer = QMessageBox::question(
        this, tr("Delete runs"),
        tr("Delete %n run(s) with their metrics, events and evaluations? Checkpoint files on disk are kept.", nullptr,
           int(ids.size())),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
    if (answer != QMessageBox::Yes)
        return;
    for (const qint64 id : ids)
        store->deleteRun(id);
    reload();
}

void RunsPanel::newRunFromSelected()
{
    const auto ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    const RunRow *row = m_model->rowForRun(ids.first());
    if (!row)
        return;
    const std::string &yaml = row->info.resolvedYaml.empty() ? row->info.configYaml : row->info.resolvedYaml;
    Q_EMIT newRunFromYamlRequested(QString::fromStdString(yaml), tr("run #%1").arg(ids.first()));
}

} // namespace genrec::ui
