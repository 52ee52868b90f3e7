#pragma once
/// @file run_controller.h
/// Supervises one engine child process (`genrec train … --json` or `genrec resume …`): starts it,
/// reads its JSON-line stdout defensively (engine_protocol.h), and stops it politely then firmly:
/// store stop request → wait → terminate() (SIGTERM, the engine stops at the next step) → wait →
/// kill(). The child's stdout goes to a log file next to the store that is tailed, not to a pipe,
/// so the run survives the studio closing (a closed pipe would kill it with SIGPIPE); a later
/// studio re-attaches through the store (attach()).

#include "ui/engine_protocol.h"

#include <QFile>
#include <QObject>
#include <QProcess>
#include <QString>

class QTimer;

namespace genrec::ui {

class RunController : public QObject
{
    Q_OBJECT
public:
    explicit RunController(QObject *parent = nullptr);
    ~RunController() override;

    /// The genrec executable (default: findEngineExecutable()).
    void setEngine(const QString &path) { m_engine = path; }
    QString engine() const { return m_engine; }
    void setStorePath(const QString &path) { m_storePath = path; }
    QString storePath() const { return m_storePath; }
    /// Waits of the stop sequence: after the store request, and after terminate().
    void setStopTimeouts(int afterRequestMs, int afterTerminateMs);

    /// Starts `genrec train yamlPath --store DB --json` after writing yamlText to yamlPath.
    /// Returns false with a translated reason when a run is already active, the engine is
    /// missing, or the file cannot be written.
    bool launch(const QString &yamlText, const QString &yamlPath, QString *error);
    /// Starts `genrec resume ID --store DB --json`.
    bool resume(qint64 runId, QString *error);
    /// Follows a run started by an earlier studio or headless (no child; stop() works by pid).
    void attach(qint64 runId, qint64 pid);
    /// Stop sequence (see file comment). No-op when nothing is active.
    void stop();
    /// Leaves a running child running and forgets it (the studio is closing).
    void detach();

    bool isActive() const;
    /// Following a run through attach() (no child process of ours).
    bool isAttached() const { return m_attached; }
    /// Run id (0 until the engine reported run_created).
    qint64 runId() const { return m_runId; }
    /// The log file of the current or last child.
    QString logPath() const { return m_logFile.fileName(); }

Q_SIGNALS:
    void runCreated(qint64 runId);
    void progress(const genrec::ui::EngineEvent &event);
    void logLine(const QString &line);
    void engineError(const QString &message, const QString &hint);
    /// The child ended (status: finished | failed | stopped | crashed; exitCode -1 if unknown).
    void finished(qint64 runId, const QString &status, int exitCode);
    void activeChanged(bool active);

private:
    bool startChild(const QStringList &arguments, QString *error);
    void readLog();
    void handleLine(const QByteArray &line);
    void onFinished(int exitCode, QProcess::ExitStatus status);
    void onProcessError(QProcess::ProcessError error);
    void signalAttached(int sig);

    QString m_engine;
    QString m_storePath;
    QProcess *m_process = nullptr;
    QFile m_logFile;
    QTimer *m_tail = nullptr;
    LineBuffer m_lines;
    qint64 m_runId = 0;
    qint64 m_attachedPid = 0;
    QString m_doneStatus;
    int m_afterRequestMs = 15000;
    int m_afterTerminateMs = 10000;
    bool m_stopping = false;
    bool m_attached = false;
};

} // namespace genrec::ui
