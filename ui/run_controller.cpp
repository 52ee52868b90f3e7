#include "ui/run_controller.h"

#include "core/store/run_store.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QPointer>
#include <QSaveFile>
#include <QTimer>

#include <csignal>
#include <sys/types.h>

namespace genrec::ui {

Q_LOGGING_CATEGORY(lcTrainerProcess, "genrec.ui.trainer")

RunController::RunController(QObject *parent)
    : QObject(parent), m_engine(findEngineExecutable()), m_tail(new QTimer(this))
{
    m_tail->setInterval(200);
    connect(m_tail, &QTimer::timeout, this, &RunController::readLog);
}

RunController::~RunController()
{
    // A run must outlive the studio: never let QProcess's destructor kill it.
    m_attached = false; // no signals from a destructor
    detach();
}

void RunController::setStopTimeouts(int afterRequestMs, int afterTerminateMs)
{
    m_afterRequestMs = afterRequestMs;
    m_afterTerminateMs = afterTerminateMs;
}

bool RunController::isActive() const
{
    return (m_process && m_process->state() != QProcess::NotRunning) || m_attached;
}

bool RunController::launch(const QString &yamlText, const QString &yamlPath, QString *error)
{
    if (isActive()) {
        *error = tr("A run is already active; stop it or wait for it to finish.");
        return false;
    }
    QDir().mkpath(QFileInfo(yamlPath).absolutePath());
    QSaveFile f(yamlPath);
    if (!f.open(QIODevice::WriteOnly) || f.write(yamlText.toUtf8()) < 0 || !f.commit()) {
        *error = tr("Cannot write %1: %2").arg(yamlPath, f.errorString());
        return false;
    }
    m_runId = 0;
    return startChild(trainArguments(yamlPath, m_storePath), error);
}

bool RunController::resume(qint64 runId, QString *error)
{
    if (isActive()) {
        *error = tr("A run is already active; stop it or wait for it to finish.");
        return false;
    }
    m_runId = runId;
    return startChild(resumeArguments(runId, m_storePath), error);
}

bool RunController::startChild(const QStringList &arguments, QString *error)
{
    if (m_engine.isEmpty() || !QFileInfo(m_engine).isExecutable()) {
        *error = tr("The genrec engine was not found; install it next to genrec-studio or set "
                    "GENREC_ENGINE.");
        return false;
    }
    const QString logDir = QFileInfo(m_storePath).absoluteDir().filePath(QStringLiteral("logs"));
    QDir().mkpath(logDir);
    m_logFile.close();
    m_logFile.setFileName(QDir(logDir).filePath(
        QStringLiteral("engine-%1.jsonl").arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss-zzz")))));
    if (!m_logFile.open(QIODevice::ReadWrite | QIODevice::Truncate)) {
        *error = tr("Cannot create the engine log %1: %2").arg(m_logFile.fileName(), m_logFile.errorString());
        return false;
    }
    m_lines = LineBuffer();
    m_doneStatus.clear();
    m_stopping = false;
    m_attachedPid = 0;
    m_attached = false;

    m_process = new QProcess(this);
    m_process->setProgram(m_engine);
    m_process->setArguments(arguments);
    m_process->setStandardOutputFile(m_logFile.fileName(), QIODevice::Append);
    m_process->setStandardErrorFile(m_logFile.fileName(), QIODevice::Append);
    m_process->setStandardInputFile(QProcess::nullDevice());
    connect(m_process, &QProcess::finished, this, &RunController::onFinished);
    connect(m_process, &QProcess::errorOccurred, this, &RunController::onProcessError);
    qCInfo(lcTrainerProcess) << "starting" << shellCommandLine(m_engine, arguments);
    m_process->start();
    if (!m_process->waitForStarted(10000)) {
        *error = tr("Could not start %1: %2").arg(m_engine, m_process->errorString());
        m_process->deleteLater();
        m_process = nullptr;
        return false;
    }
    m_tail->start();
    Q_EMIT logLine(QStringLiteral("$ ") + shellCommandLine(m_engine, arguments));
    Q_EMIT activeChanged(true);
    return true;
}

void RunController::attach(qint64 runId, qint64 pid)
{
    if (isActive())
        return;
    m_runId = runId;
    m_attachedPid = pid;
    m_attached = true;
    m_stopping = false;
    Q_EMIT activeChanged(true);
}

void RunController::readLog()
{
    if (!m_logFile.isOpen())
        return;
    const QByteArray chunk = m_logFile.readAll();
    if (chunk.isEmpty())
        return;
    for (const QByteArray &line : m_lines.feed(chunk))
        handleLine(line);
}

void RunController::handleLine(const QByteArray &line)
{
    if (line.trimmed().isEmpty())
        return;
    const EngineEvent e = decodeEngineLine(line);
    switch (e.kind) {
    case EngineEventKind::RunCreated:
        m_runId = e.runId;
        Q_EMIT runCreated(e.runId);
        break;
    case EngineEventKind::Progress:
        if (e.runId > 0 && m_runId == 0) {
            m_runId = e.runId;
            Q_EMIT runCreated(e.runId);
        }
        Q_EMIT progress(e);
        break;
    case EngineEventKind::Log:
        Q_EMIT logLine(e.message);
        break;
    case EngineEventKind::Error:
        Q_EMIT logLine(tr("error: %1").arg(e.message));
        Q_EMIT engineError(e.message, e.hint);
        break;
    case EngineEventKind::Done:
        m_doneStatus = e.status;
        if (!e.message.isEmpty())
            Q_EMIT logLine(tr("error: %1").arg(e.message));
        break;
    }
}

void RunController::onFinished(int exitCode, QProcess::ExitStatus exitStatus)
{
    readLog();
    const QByteArray rest = m_lines.takeRest();
    if (!rest.isEmpty())
        handleLine(rest);
    m_tail->stop();
    m_logFile.close();
    QString status = m_doneStatus;
    if (status.isEmpty()) {
        if (exitStatus == QProcess::CrashExit)
            status = m_stopping ? QString::fromLatin1(core::kStatusStopped) : QString::fromLatin1(core::kStatusCrashed);
        else if (exitCode == 0)
            status = QString::fromLatin1(core::kStatusFinished);
        else if (exitCode == 130 || m_stopping)
            status = QString::fromLatin1(core::kStatusStopped);
        else
            status = QString::fromLatin1(core::kStatusFailed);
    }
    qCInfo(lcTrainerProcess) << "engine finished" << exitCode << status;
    m_process->deleteLater();
    m_process = nullptr;
    m_stopping = false;
    Q_EMIT finished(m_runId, status, exitStatus == QProcess::CrashExit ? -1 : exitCode);
    Q_EMIT activeChanged(false);
}

void RunController::onProcessError(QProcess::ProcessError error)
{
    if (error == QProcess::FailedToStart)
        Q_EMIT engineError(tr("Could not start the engine (%1).").arg(m_engine),
                           tr("Check that genrec is installed and executable."));
    else if (error == QProcess::Crashed && !m_stopping)
        Q_EMIT engineError(tr("The engine process crashed."),
                           tr("Resume the run from its last checkpoint (Runs → Resume)."));
}

void RunController::stop()
{
    if (!isActive() || m_stopping)
        return;
    m_stopping = true;
    if (m_runId > 0) {
        try {
            core::RunStore store(m_storePath.toStdString());
            store.requestStop(m_runId);
        } catch (const std::exception &e) {
            qCWarning(lcTrainerProcess) << "stop request failed:" << e.what();
        }
    }
    Q_EMIT logLine(tr("Stop requested; waiting for the engine to save and exit…"));
    QPointer<QProcess> proc = m_process;
    const int firstWait = m_runId > 0 ? m_afterRequestMs : 0;
    QTimer::singleShot(firstWait, this, [this, proc] {
        if (proc && proc->state() != QProcess::NotRunning) {
            proc->terminate();
        } else if (!proc && m_attached) {
            signalAttached(SIGTERM);
        } else {
            return;
        }
        QTimer::singleShot(m_afterTerminateMs, this, [this, proc] {
            if (proc && proc->state() != QProcess::NotRunning) {
                Q_EMIT logLine(tr("The engine did not exit; killing it."));
                proc->kill();
            } else if (!proc && m_attached) {
                signalAttached(SIGKILL);
                m_attachedPid = 0;
                m_attached = false;
                m_stopping = false;
                Q_EMIT finished(m_runId, QString::fromLatin1(core::kStatusStopped), -1);
                Q_EMIT activeChanged(false);
            }
        });
    });
}

void RunController::signalAttached(int sig)
{
    if (m_attachedPid > 0 && core::processAlive(m_attachedPid))
        ::kill(static_cast<pid_t>(m_attachedPid), sig);
}

void RunController::detach()
{
    if (m_process && m_process->state() != QProcess::NotRunning) {
        // QProcess kills its child when destroyed; release it instead (the OS reparents the
        // child, which keeps writing to its log file and to the store).
        m_process->disconnect(this);
        m_process->setParent(nullptr);
        m_process = nullptr;
    } else if (m_process) {
        delete m_process;
        m_process = nullptr;
    }
    m_tail->stop();
    const bool wasAttached = m_attached;
    m_attachedPid = 0;
    m_attached = false;
    if (wasAttached)
        Q_EMIT activeChanged(false);
}

} // namespace genrec::ui
