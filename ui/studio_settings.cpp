#include "ui/studio_settings.h"

#include <QCoreApplication>
#include <QDir>
#include <QLibraryInfo>
#include <QLocale>
#include <QSettings>
#include <QStandardPaths>
#include <QTranslator>

namespace genrec::ui {

namespace {

constexpr int kRecentMax = 8;

QString dataHome()
{
    const QString xdg = qEnvironmentVariable("XDG_DATA_HOME");
    if (!xdg.isEmpty())
        return xdg;
    return QDir::home().filePath(QStringLiteral(".local/share"));
}

void addRecent(const char *key, const QString &dir)
{
    if (dir.isEmpty())
        return;
    QSettings s;
    QStringList list = s.value(QLatin1String(key)).toStringList();
    list.removeAll(dir);
    list.prepend(dir);
    while (list.size() > kRecentMax)
        list.removeLast();
    s.setValue(QLatin1String(key), list);
}

} // namespace

QString StudioSettings::defaultStorePath()
{
    return QDir(dataHome()).filePath(QStringLiteral("genrec/runs.db"));
}

QString StudioSettings::demoDatasetDir()
{
    return QDir(dataHome()).filePath(QStringLiteral("genrec/demo"));
}

QString StudioSettings::storePath()
{
    return QSettings().value(QStringLiteral("store/path"), defaultStorePath()).toString();
}

void StudioSettings::setStorePath(const QString &path)
{
    QSettings().setValue(QStringLiteral("store/path"), path);
}

QStringList StudioSettings::recentModelFolders()
{
    return QSettings().value(QStringLiteral("recent/modelFolders")).toStringList();
}

QStringList StudioSettings::recentDataFolders()
{
    return QSettings().value(QStringLiteral("recent/dataFolders")).toStringList();
}

void StudioSettings::addRecentModelFolder(const QString &dir)
{
    addRecent("recent/modelFolders", dir);
}

void StudioSettings::addRecentDataFolder(const QString &dir)
{
    addRecent("recent/dataFolders", dir);
}

QString StudioSettings::language()
{
    return QSettings().value(QStringLiteral("ui/language")).toString();
}

void StudioSettings::setLanguage(const QString &language)
{
    QSettings().setValue(QStringLiteral("ui/language"), language);
}

QByteArray StudioSettings::windowGeometry()
{
    return QSettings().value(QStringLiteral("window/geometry")).toByteArray();
}

QByteArray StudioSettings::windowState()
{
    return QSettings().value(QStringLiteral("window/state")).toByteArray();
}

void StudioSettings::setWindowGeometry(const QByteArray &geometry, const QByteArray &state)
{
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), geometry);
    s.setValue(QStringLiteral("window/state"), state);
}

QTranslator *installStudioTranslator(QCoreApplication *app, const QString &language)
{
    const QLocale locale = language.isEmpty() ? QLocale::system() : QLocale(language);
    if (locale.language() == QLocale::English || locale.language() == QLocale::C)
        return nullptr;
    auto *translator = new QTranslator(app);
    if (!translator->load(locale, QStringLiteral("genrec"), QStringLiteral("_"), QStringLiteral(":/i18n"))) {
        delete translator;
        return nullptr;
    }
    app->installTranslator(translator);
    // Qt's own strings (dialog buttons) when the system has them.
    auto *qtTranslator = new QTranslator(app);
    if (qtTranslator->load(locale, QStringLiteral("qtbase"), QStringLiteral("_"),
                           QLibraryInfo::path(QLibraryInfo::TranslationsPath)))
        app->installTranslator(qtTranslator);
    else
        delete qtTranslator;
    return translator;
}

} // namespace genrec::ui
