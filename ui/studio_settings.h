#pragma once
/// @file studio_settings.h
/// The studio's persistent preferences (QSettings): store path, recent folders, language, window
/// state; plus the shared locations (default store, demo dataset) and translator installation.

#include <QByteArray>
#include <QString>
#include <QStringList>

class QCoreApplication;
class QTranslator;

namespace genrec::ui {

class StudioSettings
{
public:
    /// The run store the studio opens: the saved one, else defaultStorePath().
    static QString storePath();
    static void setStorePath(const QString &path);
    /// $XDG_DATA_HOME/genrec/runs.db, the engine's default too.
    static QString defaultStorePath();
    /// $XDG_DATA_HOME/genrec/demo, where `genrec data synth` puts the demo dataset.
    static QString demoDatasetDir();

    static QStringList recentModelFolders();
    static QStringList recentDataFolders();
    /// Moves a folder to the front of its list (at most 8 kept).
    static void addRecentModelFolder(const QString &dir);
    static void addRecentDataFolder(const QString &dir);

    /// "" = follow the system locale; otherwise a locale name ("en", "zh_CN").
    static QString language();
    static void setLanguage(const QString &language);

    static QByteArray windowGeometry();
    static QByteArray windowState();
    static void setWindowGeometry(const QByteArray &geometry, const QByteArray &state);
};

/// Loads the translation for `language` ("" = system locale) from the embedded :/i18n and
/// installs it on the application. Returns the installed translator (owned by app), or nullptr
/// when English (or no translation for the locale) applies.
QTranslator *installStudioTranslator(QCoreApplication *app, const QString &language);

} // namespace genrec::ui
