// SchemaForm: every schema field survives form -> config and form -> YAML -> form unchanged;
// relevance rules hide LoRA/QLoRA keys; unparsable text is reported, not silently kept.
#include "core/config/run_config_schema.h"
#include "core/config/run_config_yaml.h"
#include "ui/schema_form.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QTest>

using namespace genrec;

Q_DECLARE_METATYPE(std::string)

namespace {

/// A value different from the default, inside the field's range and choices.
core::FieldValue otherValue(const core::FieldSpec &f, const core::FieldValue &v)
{
    switch (f.type) {
    case core::FieldType::Bool:
        return !std::get<bool>(v);
    case core::FieldType::Int: {
        const int64_t x = std::get<int64_t>(v);
        if (f.max && double(x + 1) > *f.max)
            return x - 1;
        return x + 1;
    }
    case core::FieldType::Float: {
        const double x = std::get<double>(v);
        if (f.min && f.max)
            return x == (*f.min + *f.max) / 2 ? *f.min : (*f.min + *f.max) / 2;
        return x + 0.0123;
    }
    case core::FieldType::String: {
        const std::string &s = std::get<std::string>(v);
        if (!f.choices.empty())
            return f.choices.back() == s ? f.choices.front() : f.choices.back();
        return f.isPath ? std::string("/tmp/some dir/x") : s + "changed value";
    }
    case core::FieldType::StringList:
        if (!f.choices.empty())
            return std::vector<std::string>{f.choices.back(), f.choices.front()}; // unusual order
        return std::vector<std::string>{"alpha", "beta"};
    case core::FieldType::IntList:
        return std::vector<int64_t>{2, 7, 11};
    case core::FieldType::FloatList:
        return std::vector<double>{0.5, 1.25, 3e-5};
    }
    return v;
}

} // namespace

class TestUiSchemaForm : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void defaultsRoundTrip();
    void everyField_data();
    void everyField();
    void relevance();
    void invalidFloatIsReported();
    void focusField();
};

void TestUiSchemaForm::defaultsRoundTrip()
{
    ui::SchemaForm form;
    const core::RunConfig c;
    form.setConfig(c);
    QVERIFY(core::diffConfigs(form.config(), c).empty());
    QVERIFY(form.invalidFields().isEmpty());
    QCOMPARE(form.groups().size(), 8);
}

void TestUiSchemaForm::everyField_data()
{
    QTest::addColumn<std::string>("key");
    for (const core::FieldSpec &f : core::runConfigSchema())
        QTest::newRow(f.key.c_str()) << f.key;
}

void TestUiSchemaForm::everyField()
{
    QFETCH(std::string, key);
    const core::FieldSpec *f = core::findField(key);
    QVERIFY(f);
    core::RunConfig c;
    // Make LoRA/QLoRA/multi-GPU keys relevant so hidden editors are exercised too.
    c.finetuningType = "qlora";
    c.device = "cuda";
    f->set(c, otherValue(*f, f->get(c)));
    QVERIFY(f->get(c) != f->get(core::RunConfig()) || key == "finetuning_type" || key == "device");

    ui::SchemaForm form;
    QVERIFY(form.editor(QString::fromStdString(key)));
    form.setConfig(c);
    const core::RunConfig back = form.config();
    const auto diff = core::diffConfigs(back, c);
    QVERIFY2(diff.empty(), diff.empty() ? "" : diff.front().c_str());

    // form -> YAML -> form
    const std::string yaml = core::runConfigToYaml(back, true);
    const auto parsed = core::parseRunConfigYaml(yaml, "<form>");
    QVERIFY(parsed.problems.empty());
    ui::SchemaForm form2;
    form2.setConfig(parsed.config);
    QVERIFY(core::diffConfigs(form2.config(), c).empty());
    QCOMPARE(core::formatFieldValue(f->get(form2.config())), core::formatFieldValue(f->get(c)));
}

void TestUiSchemaForm::relevance()
{
    core::RunConfig c;
    c.finetuningType = "full";
    QVERIFY(!ui::fieldRelevant("lora_rank", c));
    QVERIFY(!ui::fieldRelevant("quantization_bit", c));
    QVERIFY(ui::fieldRelevant("sft.learning_rate", c));
    c.finetuningType = "lora";
    QVERIFY(ui::fieldRelevant("lora_rank", c));
    QVERIFY(!ui::fieldRelevant("quantization_bit", c));
    c.finetuningType = "qlora";
    QVERIFY(ui::fieldRelevant("quantization_bit", c));
    c.stages = {"sft"};
    QVERIFY(!ui::groupActive("RL", c));
    QVERIFY(ui::groupActive("SFT", c));

    // The form hides the rows: switching the combo shows them.
    ui::SchemaForm form;
    form.resize(600, 800);
    form.show();
    core::RunConfig full;
    form.setConfig(full);
    QWidget *rank = form.editor(QStringLiteral("lora_rank"));
    QVERIFY(!rank->isVisible());
    auto *type = qobject_cast<QComboBox *>(form.editor(QStringLiteral("finetuning_type")));
    QVERIFY(type);
    type->setCurrentText(QStringLiteral("lora"));
    QVERIFY(rank->isVisibleTo(&form));
}

void TestUiSchemaForm::invalidFloatIsReported()
{
    ui::SchemaForm form;
    auto *lr = qobject_cast<QLineEdit *>(form.editor(QStringLiteral("sft.learning_rate")));
    QVERIFY(lr);
    lr->setText(QStringLiteral("abc"));
    QVERIFY(form.invalidFields().contains(QStringLiteral("sft.learning_rate")));
    QCOMPARE(form.config().sft.train.learningRate, core::RunConfig().sft.train.learningRate);
    lr->setText(QStringLiteral("2.5")); // above the schema's max of 1
    QVERIFY(form.invalidFields().contains(QStringLiteral("sft.learning_rate")));
    lr->setText(QStringLiteral("1e-4"));
    QVERIFY(form.invalidFields().isEmpty());
    QCOMPARE(form.config().sft.train.learningRate, 1e-4);
}

void TestUiSchemaForm::focusField()
{
    ui::SchemaForm form;
    form.resize(500, 400);
    form.show();
    QVERIFY(QTest::qWaitForWindowExposed(&form));
    form.activateWindow();
    form.focusField(QStringLiteral("eval.num_beams"));
    QTRY_VERIFY(form.editor(QStringLiteral("eval.num_beams"))->hasFocus());
}

QTEST_MAIN(TestUiSchemaForm)
#include "tst_ui_schema_form.moc"
