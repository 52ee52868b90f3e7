#include "ui/engine_protocol.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>

#include <cmath>

namespace genrec::ui {

namespace {

double number(const QJsonObject &o, const char *key, double fallback)
{
    const QJsonValue v = o.value(QLatin1String(key));
    return v.isDouble() ? v.toDouble() : fallback;
}

EngineEvent logEvent(const QByteArray &line)
{
    EngineEvent e;
    e.kind = EngineEventKind::Log;
    e.message = QString::fromUtf8(line);
    return e;
}

} // namespace

EngineEvent decodeEngineLine(const QByteArray &line)
{
    const QByteArray trimmed = line.trimmed();
    if (!trimmed.startsWith('{'))
        return logEvent(line);
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(trimmed, &err);
    if (err.error != QJsonParseError::NoError || !doc.isObject())
        return logEvent(line);
    const QJsonObject o = doc.object();
    const QString name = o.value(QLatin1String("event")).toString();
    EngineEvent e;
    e.runId = static_cast<qint64>(number(o, "run_id", 0));
    if (name == QLatin1String("run_created")) {
        e.kind = EngineEventKind::RunCreated;
        e.store = o.value(QLatin1String("store")).toString();
    } else if (name == QLatin1String("progress")) {
        e.kind = EngineEventKind::Progress;
        e.stage = o.value(QLatin1String("stage")).toString();
        if (e.stage.isEmpty())
            e.stage = o.value(QLatin1String("label")).toString();
        e.step = static_cast<qint64>(number(o, "step", number(o, "done", 0)));
        e.total = static_cast<qint64>(number(o, "total", 0));
        e.loss = number(o, "loss", e.loss);
        e.lr = number(o, "lr", e.lr);
        e.epoch = number(o, "epoch", e.epoch);
        e.etaSeconds = number(o, "eta_s", -1);
    } else if (name == QLatin1String("log")) {
        e.kind = EngineEventKind::Log;
        e.message = o.value(QLatin1String("message")).toString();
    } else if (name == QLatin1String("error")) {
        e.kind = EngineEventKind::Error;
        e.code = static_cast<int>(number(o, "code", 1));
        e.message = o.value(QLatin1String("message")).toString();
        e.hint = o.value(QLatin1String("hint")).toString();
    } else if (name == QLatin1String("done")) {
        e.kind = EngineEventKind::Done;
        e.status = o.value(QLatin1String("status")).toString();
        e.message = o.value(QLatin1String("error")).toString();
        const QJsonObject m = o.value(QLatin1String("metrics")).toObject();
        for (auto it = m.begin(); it != m.end(); ++it)
            if (it.value().isDouble())
                e.metrics.insert(it.key(), it.value().toDouble());
    } else {
        return logEvent(line);
    }
    return e;
}

QList<QByteArray> LineBuffer::feed(const QByteArray &chunk)
{
    QList<QByteArray> lines;
    qsizetype start = 0;
    while (start < chunk.size()) {
        const qsizetype nl = chunk.indexOf('\n', start);
        const qsizetype end = nl < 0 ? chunk.size() : nl;
        if (!m_dropping) {
            m_pending.append(chunk.constData() + start, end - start);
            if (m_pending.size() > m_max) {
                m_pending.truncate(m_max);
                m_dropping = true;
                ++m_truncated;
            }
        }
        if (nl < 0)
            break;
        if (m_pending.endsWith('\r'))
            m_pending.chop(1);
        lines.append(m_pending);
        m_pending.clear();
        m_dropping = false;
        start = nl + 1;
    }
    return lines;
}

QByteArray LineBuffer::takeRest()
{
    QByteArray rest = m_pending;
    m_pending.clear();
    m_dropping = false;
    return rest;
}

QStringList trainArguments(const QString &yamlPath, const QString &storePath)
{
    return {QStringLiteral("train"), yamlPath, QStringLiteral("--store"), storePath,
            QStringLiteral("--json")};
}

QStringList resumeArguments(qint64 runId, const QString &storePath)
{
    return {QStringLiteral("resume"), QString::number(runId), QStringLiteral("--store"), storePath,
            QStringLiteral("--json")};
}

QStringList estimateArguments(const QString &yamlPath)
{
    return {QStringLiteral("estimate"), yamlPath, QStringLiteral("--json")};
}

QString shellCommandLine(const QString &program, const QStringList &arguments)
{
    auto quote = [](const QString &s) {
        static const QString safe = QStringLiteral(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@%+,");
        bool plain = !s.isEmpty();
        for (const QChar c : s)
            plain = plain && safe.contains(c);
        if (plain)
            return s;
        QString q = s;
        q.replace(QLatin1Char('\''), QStringLiteral("'\\''"));
        return QLatin1Char('\'') + q + QLatin1Char('\'');
    };
    QStringList parts{quote(program)};
    for (const QString &a : arguments)
        parts << quote(a);
    return parts.join(QLatin1Char(' '));
}

QString findEngineExecutable()
{
    const QString env = qEnvironmentVariable("GENREC_ENGINE");
    if (!env.isEmpty() && QFileInfo(env).isExecutable())
        return env;
    const QString nextToUs = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("genrec"));
    if (QFileInfo(nextToUs).isExecutable())
        return nextToUs;
    return QStandardPaths::findExecutable(QStringLiteral("genrec"));
}

QString formatDuration(double seconds)
{
    if (seconds < 0 || !std::isfinite(seconds))
        return QStringLiteral("–");
    const qint64 s = static_cast<qint64>(std::llround(seconds));
    if (s >= 3600)
        return QCoreApplication::translate("genrec::ui", "%1 h %2 min")
            .arg(s / 3600)
            .arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
    if (s >= 60)
        return QCoreApplication::translate("genrec::ui", "%1 min %2 s")
            .arg(s / 60)
            .arg(s % 60, 2, 10, QLatin1Char('0'));
    return QCoreApplication::translate("genrec::ui", "%1 s").arg(s);
}

} // namespace genrec::ui
