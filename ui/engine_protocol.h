#pragma once
/// @file engine_protocol.h
/// The studio <-> engine protocol: the JSON lines `genrec ... --json` writes on stdout, decoded in
/// one place, and the command lines the studio runs. Version 1 events:
///   {"event":"run_created","run_id":N,"store":"…"}
///   {"event":"progress","run_id":N,"stage":"sft","step":i,"total":n,"loss":x,"lr":x,"epoch":x}
///   {"event":"progress","label":"…","done":i,"total":n,"elapsed_s":x,"eta_s":x}
///   {"event":"log","message":"…"}
///   {"event":"error","code":2,"message":"…","hint":"…"}
///   {"event":"done","run_id":N,"status":"finished","seconds":x,"metrics":{…},"error":"…"}
/// Anything else (non-JSON, unknown events) is log text, never an error.

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <limits>

namespace genrec::ui {

/// Protocol version this studio reads.
inline constexpr int kEngineProtocolVersion = 1;

enum class EngineEventKind { RunCreated, Progress, Log, Error, Done };

/// One decoded line. Fields a kind does not carry keep their defaults (NaN for numbers).
struct EngineEvent
{
    EngineEventKind kind = EngineEventKind::Log;
    qint64 runId = 0;                 ///< 0 when the line names none
    QString stage;                    ///< progress: stage (or the progress label)
    qint64 step = 0;                  ///< progress: steps done
    qint64 total = 0;                 ///< progress: steps in the stage (0 = unknown)
    double loss = std::numeric_limits<double>::quiet_NaN();
    double lr = std::numeric_limits<double>::quiet_NaN();
    double epoch = std::numeric_limits<double>::quiet_NaN();
    double etaSeconds = -1;           ///< progress: engine's ETA when it sends one, else -1
    QString message;                  ///< log text, error message
    QString hint;                     ///< error hint
    int code = 0;                     ///< error: exit code class (1 runtime, 2 bad input)
    QString status;                   ///< done: final status
    QString store;                    ///< run_created: store path
    QMap<QString, double> metrics;    ///< done: final metrics
};

/// Decodes one line (without its newline). Never fails: a line that is not a JSON object with a
/// known "event" comes back as a Log event whose message is the line's text.
EngineEvent decodeEngineLine(const QByteArray &line);

/// Splits a byte stream into lines. Keeps a partial last line until its newline arrives; a line
/// longer than the cap is cut at the cap (the rest up to its newline is dropped) so a runaway
/// writer cannot grow memory without bound.
class LineBuffer
{
public:
    explicit LineBuffer(qsizetype maxLineBytes = 64 * 1024) : m_max(maxLineBytes) {}
    /// Appends a chunk; returns the complete lines it finished (without '\n' or '\r').
    QList<QByteArray> feed(const QByteArray &chunk);
    /// The partial line held back (and clears it); call at end of stream.
    QByteArray takeRest();
    /// Lines cut at the cap so far.
    int truncatedLines() const { return m_truncated; }

private:
    QByteArray m_pending;
    qsizetype m_max;
    bool m_dropping = false;
    int m_truncated = 0;
};

/// Arguments of `genrec train YAML --store DB --json` (without the program).
QStringList trainArguments(const QString &yamlPath, const QString &storePath);
/// Arguments of `genrec resume ID --store DB --json`.
QStringList resumeArguments(qint64 runId, const QString &storePath);
/// Arguments of `genrec estimate YAML --json`.
QStringList estimateArguments(const QString &yamlPath);
/// A shell-quoted command line for display ("Preview command"), program first.
QString shellCommandLine(const QString &program, const QStringList &arguments);

/// The genrec executable the studio runs: $GENREC_ENGINE if set, else `genrec` next to the
/// studio's own executable, else `genrec` on PATH. Empty if none exists.
QString findEngineExecutable();

/// "1 h 02 min", "3 min 05 s", "12 s"; "–" for negative.
QString formatDuration(double seconds);

} // namespace genrec::ui
