// genrec-studio: the desktop studio. Thin: parses arguments, installs the translation and opens
// the main window (everything else lives in genrec_ui).
#include "ui/main_window.h"
#include "ui/studio_bench.h"
#include "ui/studio_settings.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QTextStream>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("genrec"));
    QApplication::setApplicationName(QStringLiteral("genrec-studio"));
    QApplication::setApplicationDisplayName(QStringLiteral("GenRec Studio"));
    QApplication::setApplicationVersion(QStringLiteral(GENREC_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("genrec-studio"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/genrec/icons/genrec-studio.svg")));
    genrec::ui::installStudioTranslator(&app, genrec::ui::StudioSettings::language());

    QCommandLineParser parser;
    parser.setApplicationDescription(QApplication::translate("main", "Training studio for generative recommendation"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption demo(QStringLiteral("demo"),
                                  QApplication::translate("main", "Open the New-run form with the demo config, ready to launch."));
    const QCommandLineOption store(QStringLiteral("store"), QApplication::translate("main", "Run store (SQLite) to open."),
                                   QStringLiteral("PATH"));
    const QCommandLineOption bench(QStringLiteral("bench"),
                                   QApplication::translate("main", "Measure the Compare view on 10 runs x 100,000 points and live ingest into the dashboard, then exit."));
    parser.addOptions({demo, store, bench});
    parser.process(app);

    if (parser.isSet(bench)) {
        QTextStream out(stdout);
        genrec::ui::runCompareBenchmark(10, 100000, 20, out);
        genrec::ui::runIngestBenchmark(100000, 100, out);
        return 0;
    }
    genrec::ui::MainWindow window(parser.value(store));
    if (parser.isSet(demo))
        window.loadDemo();
    window.show();
    return app.exec();
}
