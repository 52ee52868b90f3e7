#pragma once
/// @file main_window.h
/// The studio's main window: a shell that creates the panels (New run, Dashboard, Runs, Compare)
/// and the shared services (StoreWatcher, RunController), wires them together, and owns menus,
/// shortcuts and window state. Behaviour lives in the panels.

#include <QMainWindow>

class QTabWidget;

namespace genrec::ui {

class ComparePanel;
class DashboardPanel;
class RunController;
class RunFormPanel;
class RunsPanel;
class StoreWatcher;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    enum Tab { NewRunTab, DashboardTab, RunsTab, CompareTab };

    /// storePath "" = the saved or default store.
    explicit MainWindow(const QString &storePath = QString(), QWidget *parent = nullptr);
    ~MainWindow() override;

    /// Preloads the New-run form with the shipped demo config and the demo dataset folder.
    void loadDemo();
    /// Switches the run store everywhere (and remembers it).
    void setStorePath(const QString &path);
    void showTab(Tab tab);

    QTabWidget *tabs() const { return m_tabs; }
    RunFormPanel *runForm() const { return m_form; }
    DashboardPanel *dashboard() const { return m_dashboard; }
    RunsPanel *runsPanel() const { return m_runs; }
    ComparePanel *comparePanel() const { return m_compare; }
    StoreWatcher *watcher() const { return m_watcher; }
    RunController *controller() const { return m_controller; }

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createMenus();
    void launch(const QString &yaml, const QString &yamlPath);
    void resume(qint64 runId);
    void reattachRunningRun();
    void openStore();

    StoreWatcher *m_watcher = nullptr;
    RunController *m_controller = nullptr;
    QTabWidget *m_tabs = nullptr;
    RunFormPanel *m_form = nullptr;
    DashboardPanel *m_dashboard = nullptr;
    RunsPanel *m_runs = nullptr;
    ComparePanel *m_compare = nullptr;
};

} // namespace genrec::ui
