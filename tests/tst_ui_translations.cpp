// The Simplified Chinese translation is compiled, embedded and used by the main window.
#include "ui/main_window.h"
#include "ui/studio_settings.h"

#include <QApplication>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTranslator>

using namespace genrec;

class TestUiTranslations : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void qmLoads();
    void mainWindowSpeaksChinese();
    void englishNeedsNoTranslator();

private:
    QTemporaryDir m_home;
};

void TestUiTranslations::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    qputenv("XDG_CONFIG_HOME", m_home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", m_home.filePath(QStringLiteral("data")).toUtf8());
}

void TestUiTranslations::qmLoads()
{
    QTranslator t;
    QVERIFY(t.load(QStringLiteral(":/i18n/genrec_zh_CN.qm")));
    QCOMPARE(t.translate("genrec::ui::MainWindow", "Dashboard"), QStringLiteral("仪表盘"));
    QCOMPARE(t.translate("genrec::ui::RunFormPanel", "Launch"), QStringLiteral("启动"));
    QCOMPARE(t.translate("genrec::ui::groups", "Fine-tuning"), QStringLiteral("微调"));
}

void TestUiTranslations::mainWindowSpeaksChinese()
{
    QTranslator *t = ui::installStudioTranslator(qApp, QStringLiteral("zh_CN"));
    QVERIFY(t);
    {
        ui::MainWindow w(m_home.filePath(QStringLiteral("data/runs.db")));
        QCOMPARE(w.tabs()->tabText(0), QStringLiteral("新建运行"));
        QCOMPARE(w.tabs()->tabText(3), QStringLiteral("对比"));
    }
    QCoreApplication::removeTranslator(t);
    delete t;
}

void TestUiTranslations::englishNeedsNoTranslator()
{
    QVERIFY(!ui::installStudioTranslator(qApp, QStringLiteral("en")));
}

QTEST_MAIN(TestUiTranslations)
#include "tst_ui_translations.moc"
