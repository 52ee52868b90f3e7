#include "ui/main_window.h"

#include "ui/compare_panel.h"
#include "ui/dashboard_panel.h"
#include "ui/run_controller.h"
#include "ui/run_form_panel.h"
#include "ui/runs_panel.h"
#include "ui/schema_form.h"
#include "ui/store_watcher.h"
#include "ui/studio_settings.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QIcon>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>

namespace genrec::ui {

MainWindow::MainWindow(const QString &storePath, QWidget *parent) : QMainWindow(parent)
{
    setWindowTitle(tr("GenRec Studio"));
    setWindowIcon(QIcon(QStringLiteral(":/genrec/icons/genrec-studio.svg")));
    const QString store = storePath.isEmpty() ? StudioSettings::storePath() : storePath;

    m_watcher = new StoreWatcher(store, this);
    m_controller = new RunController(this);
    m_controller->setStorePath(store);

    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("mainTabs"));
    m_tabs->setDocumentMode(true);
    m_form = new RunFormPanel(m_tabs);
    m_form->setStorePath(store);
    m_dashboard = new DashboardPanel(m_watcher, m_controller, m_tabs);
    m_runs = new RunsPanel(m_watcher, m_tabs);
    m_compare = new ComparePanel(m_watcher, m_tabs);
    m_tabs->addTab(m_form, tr("New run"));
    m_tabs->addTab(m_dashboard, tr("Dashboard"));
    m_tabs->addTab(m_runs, tr("Runs"));
    m_tabs->addTab(m_compare, tr("Compare"));
    setCentralWidget(m_tabs);
    createMenus();

    connect(m_form, &RunFormPanel::launchRequested, this, &MainWindow::launch);
    connect(m_dashboard, &DashboardPanel::resumeRequested, this, &MainWindow::resume);
    connect(m_runs, &RunsPanel::resumeRequested, this, &MainWindow::resume);
    connect(m_runs, &RunsPanel::openRunRequested, this, [this](qint64 id) {
        m_dashboard->showRun(id);
        showTab(DashboardTab);
    });
    connect(m_runs, &RunsPanel::compareRequested, this, [this](const QList<qint64> &ids) {
        m_compare->setRuns(ids);
        showTab(CompareTab);
    });
    connect(m_runs, &RunsPanel::newRunFromYamlRequested, this, [this](const QString &yaml, const QString &source) {
        QString report;
        m_form->importYamlText(yaml, source, &report);
        showTab(NewRunTab);
        statusBar()->showMessage(tr("Form filled from %1").arg(source), 5000);
    });
    connect(m_controller, &RunController::finished, this, [this](qint64 id, const QString &status, int) {
        statusBar()->showMessage(tr("Run #%1 ended: %2").arg(id).arg(status));
        m_runs->reload();
    });
    connect(m_controller, &RunController::engineError, this, [this](const QString &message, const QString &hint) {
        statusBar()->showMessage(hint.isEmpty() ? message : message + QStringLiteral(" — ") + hint);
    });
    connect(m_watcher, &StoreWatcher::storeError, this,
            [this](const QString &message) { statusBar()->showMessage(tr("Run store: %1").arg(message)); });

    restoreGeometry(StudioSettings::windowGeometry());
    restoreState(StudioSettings::windowState());
    if (StudioSettings::windowGeometry().isEmpty())
        resize(1280, 820);
    m_watcher->start(1000);
    m_watcher->pollNow();
    m_dashboard->reloadRunList();
    reattachRunningRun();
    statusBar()->showMessage(tr("Run store: %1").arg(store));
}

MainWindow::~MainWindow() = default;

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *newRun = file->addAction(tr("&New run"), this, [this] { showTab(NewRunTab); });
    newRun->setShortcut(QKeySequence::New);
    QAction *importYaml = file->addAction(tr("&Import YAML…"), m_form, &RunFormPanel::importYaml);
    importYaml->setShortcut(QKeySequence::Open);
    QAction *exportYaml = file->addAction(tr("&Export YAML…"), m_form, &RunFormPanel::exportYaml);
    exportYaml->setShortcut(QKeySequence::Save);
    file->addAction(tr("Open run &store…"), this, &MainWindow::openStore);
    file->addAction(tr("Load &demo"), this, &MainWindow::loadDemo);
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *run = menuBar()->addMenu(tr("&Run"));
    QAction *stop = run->addAction(tr("&Stop"), m_controller, &RunController::stop);
    stop->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
    QAction *refresh = run->addAction(tr("&Refresh"), this, [this] {
        m_watcher->pollNow();
        m_runs->reload();
    });
    refresh->setShortcut(QKeySequence::Refresh);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    const QString names[] = {tr("New run"), tr("Dashboard"), tr("Runs"), tr("Compare")};
    for (int i = 0; i < 4; ++i) {
        QAction *a = view->addAction(names[i], this, [this, i] { showTab(Tab(i)); });
        a->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }

    QMenu *settings = menuBar()->addMenu(tr("&Settings"));
    QMenu *language = settings->addMenu(tr("&Language"));
    auto *group = new QActionGroup(this);
    const QString current = StudioSettings::language();
    const struct
    {
        QString code;
        QString label;
    } langs[] = {{QString(), tr("System")}, {QStringLiteral("en"), QStringLiteral("English")},
                 {QStringLiteral("zh_CN"), QStringLiteral("简体中文")}};
    for (const auto &l : langs) {
        QAction *a = language->addAction(l.label);
        a->setCheckable(true);
        a->setChecked(l.code == current);
        group->addAction(a);
        const QString code = l.code;
        connect(a, &QAction::triggered, this, [this, code] {
            StudioSettings::setLanguage(code);
            QMessageBox::information(this, tr("Language"), tr("The language changes the next time GenRec Studio starts."));
        });
    }

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About GenRec Studio"), this, [this] {
        QMessageBox::about(this, tr("About GenRec Studio"),
                           tr("<b>GenRec Studio %1</b><p>Train generative recommenders (semantic IDs, SFT, "
                              "GRPO) and compare runs. Training runs in the separate <code>genrec</code> "
                              "engine; this window only reads the run store.</p>")
                               .arg(QStringLiteral(GENREC_VERSION)));
    });
}

void MainWindow::showTab(Tab tab)
{
    m_tabs->setCurrentIndex(int(tab));
}

void MainWindow::loadDemo()
{
    QFile f(QStringLiteral(":/genrec/configs/demo.yaml"));
    if (!f.open(QIODevice::ReadOnly))
        return;
    QString report;
    m_form->importYamlText(QString::fromUtf8(f.readAll()), QStringLiteral("demo.yaml"), &report);
    const QString demoData = StudioSettings::demoDatasetDir();
    if (!QFileInfo::exists(demoData))
        m_form->generateDemoData(); // a few hundred KB, well under a second
    m_form->form()->setFieldText(QStringLiteral("dataset_dir"), demoData);
    m_form->validateNow();
    showTab(NewRunTab);
}

void MainWindow::setStorePath(const QString &path)
{
    StudioSettings::setStorePath(path);
    m_watcher->setStorePath(path);
    m_controller->setStorePath(path);
    m_form->setStorePath(path);
    m_watcher->pollNow();
    m_runs->reload();
    m_dashboard->showRun(0);
    m_dashboard->reloadRunList();
    statusBar()->showMessage(tr("Run store: %1").arg(path));
}

void MainWindow::openStore()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Open run store"), m_watcher->storePath(),
                                                      tr("Run stores (*.db);;All files (*)"), nullptr,
                                                      QFileDialog::DontConfirmOverwrite);
    if (!path.isEmpty())
        setStorePath(path);
}

void MainWindow::launch(const QString &yaml, const QString &yamlPath)
{
    QString error;
    if (!m_controller->launch(yaml, yamlPath, &error)) {
        QMessageBox::warning(this, tr("Launch"), error);
        return;
    }
    m_dashboard->showRun(0);
    showTab(DashboardTab);
    statusBar()->showMessage(tr("Engine started; the run appears when it has loaded its data."));
}

void MainWindow::resume(qint64 runId)
{
    QString error;
    if (!m_controller->resume(runId, &error)) {
        QMessageBox::warning(this, tr("Resume"), error);
        return;
    }
    m_dashboard->showRun(runId);
    showTab(DashboardTab);
}

void MainWindow::reattachRunningRun()
{
    // Runs keep going when the studio closes; show the newest one still running.
    core::RunStore *store = m_watcher->store();
    if (!store)
        return;
    try {
        core::RunFilter filter;
        filter.status = core::kStatusRunning;
        const auto running = store->listRuns(filter);
        if (!running.empty()) {
            const auto newest = std::max_element(running.begin(), running.end(),
                                                 [](const auto &a, const auto &b) { return a.id < b.id; });
            m_dashboard->showRun(newest->id);
            showTab(DashboardTab);
        }
    } catch (const std::exception &) {
    }
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    StudioSettings::setWindowGeometry(saveGeometry(), saveState());
    if (m_controller->isActive() && !m_controller->isAttached())
        statusBar()->showMessage(tr("The run keeps going; reopen the studio to follow it."));
    event->accept();
}

} // namespace genrec::ui
