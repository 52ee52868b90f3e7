// RunFormPanel: live validation lists problems, a click focuses the field, Launch is disabled
// while any problem stands; preview command; YAML export/import round trip; model folder errors.
#include "core/config/run_config_yaml.h"
#include "ui/run_form_panel.h"
#include "ui/schema_form.h"

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using namespace genrec;

class TestUiRunForm : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void validConfigCanLaunch();
    void problemsDisableLaunch();
    void clickingProblemFocusesField();
    void previewCommand();
    void yamlRoundTrip();
    void modelFolderErrors();

private:
    void makePanel(ui::RunFormPanel &panel);
    QTemporaryDir m_home;
};

void TestUiRunForm::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    qputenv("XDG_CONFIG_HOME", m_home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", m_home.filePath(QStringLiteral("data")).toUtf8());
}

void TestUiRunForm::makePanel(ui::RunFormPanel &panel)
{
    // A stand-in engine: the form only needs an executable (it has no `estimate` command).
    const QString engine = m_home.filePath(QStringLiteral("genrec"));
    if (!QFile::exists(engine)) {
        QFile f(engine);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("#!/bin/sh\nexit 1\n");
        f.close();
        f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    }
    panel.setEngine(engine);
    panel.setStorePath(m_home.filePath(QStringLiteral("data/genrec/runs.db")));
    panel.setConfig(core::RunConfig());
    panel.validateNow();
}

void TestUiRunForm::validConfigCanLaunch()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    QVERIFY2(panel.canLaunch(), qPrintable(panel.problemTexts().join(QLatin1Char('\n'))));
    auto *launch = panel.findChild<QPushButton *>(QStringLiteral("launchButton"));
    QVERIFY(launch && launch->isEnabled());
}

void TestUiRunForm::problemsDisableLaunch()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    // A semantic problem from core::validateRunConfig.
    core::RunConfig bad;
    bad.modelNameOrPath = "preset:nope";
    panel.setConfig(bad);
    QVERIFY(!panel.canLaunch());
    QVERIFY(!panel.findChild<QPushButton *>(QStringLiteral("launchButton"))->isEnabled());
    bool found = false;
    for (const QString &p : panel.problemTexts())
        found = found || p.startsWith(QLatin1String("model_name_or_path:"));
    QVERIFY2(found, qPrintable(panel.problemTexts().join(QLatin1Char('\n'))));

    // Text that is not a number.
    panel.setConfig(core::RunConfig());
    QVERIFY(panel.canLaunch());
    auto *lr = qobject_cast<QLineEdit *>(panel.form()->editor(QStringLiteral("rl.beta")));
    QVERIFY(lr);
    QTest::keyClicks(lr, QStringLiteral("x"));
    panel.validateNow();
    QVERIFY(!panel.canLaunch());
    QVERIFY(panel.problemTexts().first().startsWith(QLatin1String("rl.beta:")));

    // Fixing it re-enables Launch.
    lr->setText(QStringLiteral("0.01"));
    panel.validateNow();
    QVERIFY(panel.canLaunch());
    QCOMPARE(panel.config().rl.beta, 0.01);
}

void TestUiRunForm::clickingProblemFocusesField()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    panel.resize(1200, 800);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.activateWindow();
    core::RunConfig bad;
    bad.eval.split = "train"; // not an allowed split
    bad.sft.train.perDeviceTrainBatchSize = 16;
    panel.setConfig(bad);
    auto *list = panel.findChild<QListWidget *>(QStringLiteral("problems"));
    QVERIFY(list);
    QListWidgetItem *item = nullptr;
    for (int i = 0; i < list->count(); ++i)
        if (list->item(i)->data(Qt::UserRole).toString() == QLatin1String("eval.split"))
            item = list->item(i);
    QVERIFY2(item, qPrintable(panel.problemTexts().join(QLatin1Char('\n'))));
    const QRect rect = list->visualItemRect(item);
    QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, rect.center());
    QTRY_VERIFY(panel.form()->editor(QStringLiteral("eval.split"))->hasFocus());
}

void TestUiRunForm::previewCommand()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    const QString cmd = panel.previewCommand();
    QVERIFY2(cmd.contains(QLatin1String(" train ")), qPrintable(cmd));
    QVERIFY(cmd.contains(QLatin1String("--store ")));
    QVERIFY(cmd.endsWith(QLatin1String("--json")));
    QVERIFY(cmd.contains(panel.launchYamlPath()));
    // The YAML path is named by content: a change gives a new file, the same form the same one.
    const QString before = panel.launchYamlPath();
    core::RunConfig c;
    c.seed = 7;
    panel.setConfig(c);
    QVERIFY(panel.launchYamlPath() != before);
    panel.setConfig(core::RunConfig());
    QCOMPARE(panel.launchYamlPath(), before);
}

void TestUiRunForm::yamlRoundTrip()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    core::RunConfig c;
    c.runName = "round trip";
    c.finetuningType = "lora";
    c.loraRank = 16;
    c.sft.train.learningRate = 2e-4;
    c.eval.topk = {1, 10};
    panel.setConfig(c);
    const QString path = m_home.filePath(QStringLiteral("exported.yaml"));
    QString error;
    QVERIFY2(panel.exportYamlFile(path, &error), qPrintable(error));

    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto parsed = core::parseRunConfigYaml(f.readAll().toStdString(), "exported.yaml");
    QVERIFY(parsed.problems.empty());
    QVERIFY(core::diffConfigs(parsed.config, c).empty());

    ui::RunFormPanel other;
    makePanel(other);
    QString report;
    QVERIFY(other.importYamlFile(path, &report));
    QVERIFY2(report.isEmpty(), qPrintable(report));
    QVERIFY(core::diffConfigs(other.config(), c).empty());

    // Unknown keys are reported and the rest is still read.
    QVERIFY(other.importYamlText(QStringLiteral("seed: 5\nlearnin_rate: 1\n"), QStringLiteral("t.yaml"), &report));
    QVERIFY(report.contains(QLatin1String("learnin_rate")));
    QCOMPARE(other.config().seed, int64_t(5));
}

void TestUiRunForm::modelFolderErrors()
{
    ui::RunFormPanel panel;
    makePanel(panel);
    QTemporaryDir dir;
    core::RunConfig c;
    c.modelNameOrPath = dir.path().toStdString(); // exists, but no config.json
    panel.setConfig(c);
    QVERIFY(!panel.canLaunch());
    QVERIFY(panel.problemTexts().join(QLatin1Char('\n')).contains(QLatin1String("config.json")));

    QFile cfg(dir.filePath(QStringLiteral("config.json")));
    QVERIFY(cfg.open(QIODevice::WriteOnly));
    cfg.write(R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":64,
                 "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                 "intermediate_size":128,"vocab_size":1000,"tie_word_embeddings":true})");
    cfg.close();
    QFile tok(dir.filePath(QStringLiteral("tokenizer.json")));
    QVERIFY(tok.open(QIODevice::WriteOnly));
    tok.write("{}");
    tok.close();
    c.seed = 43; // a different config re-reads the folder
    panel.setConfig(core::RunConfig());
    panel.setConfig(c);
    QVERIFY2(panel.canLaunch(), qPrintable(panel.problemTexts().join(QLatin1Char('\n'))));
    auto *info = panel.findChild<QLabel *>(QStringLiteral("modelInfo"));
    QVERIFY(info->text().contains(QLatin1String("Qwen2ForCausalLM")));
}

QTEST_MAIN(TestUiRunForm)
#include "tst_ui_run_form.moc"
