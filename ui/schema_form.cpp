#include "ui/schema_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QScrollArea>
#include <QSpinBox>
#include <QToolButton>
#include <QValidator>
#include <QVBoxLayout>

#include <climits>
#include <cmath>

namespace genrec::ui {

namespace {

const char *kKindProperty = "genrecEditorKind";

// Group names come from the schema table; listed here so lupdate offers them for translation.
[[maybe_unused]] const char *const kGroupNames[] = {
    QT_TRANSLATE_NOOP("genrec::ui::groups", "Run"),   QT_TRANSLATE_NOOP("genrec::ui::groups", "Model"),
    QT_TRANSLATE_NOOP("genrec::ui::groups", "Fine-tuning"), QT_TRANSLATE_NOOP("genrec::ui::groups", "Data"),
    QT_TRANSLATE_NOOP("genrec::ui::groups", "Devices"), QT_TRANSLATE_NOOP("genrec::ui::groups", "SFT"),
    QT_TRANSLATE_NOOP("genrec::ui::groups", "RL"),    QT_TRANSLATE_NOOP("genrec::ui::groups", "Eval")};

enum class EditorKind { Check, Spin, Float, Combo, Line, Path, CheckList, List };

QString fmtDouble(double v)
{
    return QString::number(v, 'g', QLocale::FloatingPointShortest);
}

bool parseDouble(const QString &text, double *out)
{
    bool ok = false;
    const double v = text.trimmed().toDouble(&ok);
    if (ok)
        *out = v;
    return ok && std::isfinite(v);
}

QStringList splitList(const QString &text)
{
    QStringList parts;
    for (const QString &p : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QString t = p.trimmed();
        if (!t.isEmpty())
            parts << t;
    }
    return parts;
}

/// Accepts numbers inside the spec's range; partial input is Intermediate.
class FloatValidator : public QValidator
{
public:
    FloatValidator(std::optional<double> lo, std::optional<double> hi, QObject *parent)
        : QValidator(parent), m_lo(lo), m_hi(hi)
    {
    }
    State validate(QString &input, int &) const override
    {
        double v = 0;
        if (!parseDouble(input, &v))
            return input.trimmed().isEmpty() || input.size() < 32 ? Intermediate : Invalid;
        if ((m_lo && v < *m_lo) || (m_hi && v > *m_hi))
            return Intermediate;
        return Acceptable;
    }

private:
    std::optional<double> m_lo, m_hi;
};

} // namespace

bool fieldRelevant(const std::string &key, const core::RunConfig &c)
{
    const bool lora = c.finetuningType == "lora" || c.finetuningType == "qlora";
    if (key == "lora_rank" || key == "lora_alpha" || key == "lora_dropout" || key == "lora_target" ||
        key == "use_rslora")
        return lora;
    if (key == "quantization_bit" || key == "quantization_block_size")
        return c.finetuningType == "qlora";
    if (key == "gpu_ids" || key == "zero_stage")
        return c.device == "cuda";
    return true;
}

bool groupActive(const std::string &group, const core::RunConfig &c)
{
    auto has = [&](const char *stage) {
        for (const auto &s : c.stages)
            if (s == stage)
                return true;
        return false;
    };
    if (group == "SFT")
        return has("sft");
    if (group == "RL")
        return has("rl");
    if (group == "Eval")
        return has("eval");
    return true;
}

SchemaForm::SchemaForm(QWidget *parent) : QWidget(parent)
{
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_scroll = new QScrollArea(this);
    m_scroll->setWidgetResizable(true);
    m_scroll->setFrameShape(QFrame::NoFrame);
    outer->addWidget(m_scroll);
    auto *content = new QWidget(m_scroll);
    auto *column = new QVBoxLayout(content);

    for (const core::FieldSpec &spec : core::runConfigSchema()) {
        const QString group = QString::fromStdString(spec.group);
        QGroupBox *box = m_boxes.value(group);
        if (!box) {
            box = new QGroupBox(QCoreApplication::translate("genrec::ui::groups", spec.group.c_str()), content);
            box->setObjectName(QStringLiteral("group_") + group);
            auto *form = new QFormLayout(box);
            form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
            column->addWidget(box);
            m_boxes.insert(group, box);
            m_groups << group;
        }
        auto *form = static_cast<QFormLayout *>(box->layout());
        const QString key = QString::fromStdString(spec.key);
        Entry e;
        e.spec = &spec;
        e.editor = makeEditor(spec);
        e.editor->setObjectName(key);
        e.editor->setToolTip(QString::fromStdString(spec.help));
        e.editor->setParent(box);
        // The label is the YAML key (what headless users write); the help is one hover away.
        const QString shortKey = key.contains(QLatin1Char('.')) ? key.section(QLatin1Char('.'), 1) : key;
        e.label = new QLabel(shortKey, box);
        e.label->setToolTip(QString::fromStdString(spec.help));
        e.label->setBuddy(e.editor);
        e.form = form;
        e.box = box;
        form->addRow(e.label, e.editor);
        m_entries.insert(key, e);
        m_order << key;
    }
    column->addStretch(1);
    m_scroll->setWidget(content);
    setConfig(core::RunConfig());
}

QWidget *SchemaForm::makeEditor(const core::FieldSpec &spec)
{
    QWidget *w = nullptr;
    EditorKind kind = EditorKind::Line;
    switch (spec.type) {
    case core::FieldType::Bool: {
        auto *cb = new QCheckBox;
        connect(cb, &QCheckBox::toggled, this, &SchemaForm::emitChanged);
        w = cb;
        kind = EditorKind::Check;
        break;
    }
    case core::FieldType::Int: {
        auto *sb = new QSpinBox;
        sb->setRange(spec.min ? int(std::max<double>(*spec.min, INT_MIN)) : INT_MIN,
                     spec.max ? int(std::min<double>(*spec.max, INT_MAX)) : INT_MAX);
        sb->setAccelerated(true);
        connect(sb, &QSpinBox::valueChanged, this, &SchemaForm::emitChanged);
        w = sb;
        kind = EditorKind::Spin;
        break;
    }
    case core::FieldType::Float: {
        auto *le = new QLineEdit;
        le->setValidator(new FloatValidator(spec.min, spec.max, le));
        connect(le, &QLineEdit::textEdited, this, &SchemaForm::emitChanged);
        w = le;
        kind = EditorKind::Float;
        break;
    }
    case core::FieldType::String:
        if (!spec.choices.empty()) {
            auto *combo = new QComboBox;
            for (const auto &c : spec.choices)
                combo->addItem(QString::fromStdString(c));
            connect(combo, &QComboBox::currentIndexChanged, this, &SchemaForm::emitChanged);
            w = combo;
            kind = EditorKind::Combo;
        } else if (spec.isPath) {
            auto *holder = new QWidget;
            auto *row = new QHBoxLayout(holder);
            row->setContentsMargins(0, 0, 0, 0);
            auto *le = new QLineEdit(holder);
            le->setObjectName(QStringLiteral("text"));
            auto *browse = new QToolButton(holder);
            browse->setText(QStringLiteral("…"));
            browse->setToolTip(tr("Browse…"));
            row->addWidget(le, 1);
            row->addWidget(browse);
            connect(le, &QLineEdit::textEdited, this, &SchemaForm::emitChanged);
            const bool isFile = spec.key == "store";
            connect(browse, &QToolButton::clicked, this, [this, le, isFile] {
                const QString path = isFile
                    ? QFileDialog::getSaveFileName(this, tr("Run store"), le->text(),
                                                   tr("SQLite stores (*.db);;All files (*)"),
                                                   nullptr, QFileDialog::DontConfirmOverwrite)
                    : QFileDialog::getExistingDirectory(this, tr("Choose folder"), le->text());
                if (!path.isEmpty()) {
                    le->setText(path);
                    emitChanged();
                }
            });
            w = holder;
            kind = EditorKind::Path;
        } else {
            auto *le = new QLineEdit;
            connect(le, &QLineEdit::textEdited, this, &SchemaForm::emitChanged);
            w = le;
            kind = EditorKind::Line;
        }
        break;
    case core::FieldType::StringList:
        if (!spec.choices.empty()) {
            auto *list = new QListWidget;
            list->setFlow(QListView::LeftToRight);
            list->setWrapping(true);
            list->setResizeMode(QListView::Adjust);
            list->setDragDropMode(QAbstractItemView::InternalMove);
            list->setMaximumHeight(list->fontMetrics().height() * 4 + 8);
            for (const auto &c : spec.choices) {
                auto *item = new QListWidgetItem(QString::fromStdString(c), list);
                item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable | Qt::ItemIsSelectable |
                               Qt::ItemIsDragEnabled);
                item->setCheckState(Qt::Unchecked);
            }
            connect(list, &QListWidget::itemChanged, this, &SchemaForm::emitChanged);
            w = list;
            kind = EditorKind::CheckList;
            break;
        }
        [[fallthrough]];
    case core::FieldType::IntList:
    case core::FieldType::FloatList: {
        auto *le = new QLineEdit;
        le->setPlaceholderText(tr("comma-separated, empty = []"));
        connect(le, &QLineEdit::textEdited, this, &SchemaForm::emitChanged);
        w = le;
        kind = EditorKind::List;
        break;
    }
    }
    w->setProperty(kKindProperty, int(kind));
    return w;
}

void SchemaForm::loadValue(const Entry &e, const core::FieldValue &value)
{
    const auto kind = EditorKind(e.editor->property(kKindProperty).toInt());
    switch (kind) {
    case EditorKind::Check:
        static_cast<QCheckBox *>(e.editor)->setChecked(std::get<bool>(value));
        break;
    case EditorKind::Spin:
        static_cast<QSpinBox *>(e.editor)->setValue(int(std::get<int64_t>(value)));
        break;
    case EditorKind::Float:
        static_cast<QLineEdit *>(e.editor)->setText(fmtDouble(std::get<double>(value)));
        break;
    case EditorKind::Combo: {
        auto *combo = static_cast<QComboBox *>(e.editor);
        const QString v = QString::fromStdString(std::get<std::string>(value));
        int i = combo->findText(v);
        if (i < 0) { // keep unknown values (validation reports them) so nothing is lost
            combo->addItem(v);
            i = combo->count() - 1;
        }
        combo->setCurrentIndex(i);
        break;
    }
    case EditorKind::Line:
        static_cast<QLineEdit *>(e.editor)->setText(QString::fromStdString(std::get<std::string>(value)));
        break;
    case EditorKind::Path:
        e.editor->findChild<QLineEdit *>(QStringLiteral("text"))
            ->setText(QString::fromStdString(std::get<std::string>(value)));
        break;
    case EditorKind::CheckList: {
        // Checked items first, in the config's order, so the round trip keeps the order.
        auto *list = static_cast<QListWidget *>(e.editor);
        const auto &chosen = std::get<std::vector<std::string>>(value);
        QStringList all;
        for (int i = 0; i < list->count(); ++i)
            all << list->item(i)->text();
        for (const auto &c : chosen)
            if (!all.contains(QString::fromStdString(c)))
                all << QString::fromStdString(c);
        list->clear();
        QStringList orderList;
        for (const auto &c : chosen)
            orderList << QString::fromStdString(c);
        for (const QString &a : all)
            if (!orderList.contains(a))
                orderList << a;
        for (const QString &t : orderList) {
            auto *item = new QListWidgetItem(t, list);
            item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable | Qt::ItemIsSelectable |
                           Qt::ItemIsDragEnabled);
            const bool on = std::find(chosen.begin(), chosen.end(), t.toStdString()) != chosen.end();
            item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
        }
        break;
    }
    case EditorKind::List: {
        QStringList parts;
        if (auto *s = std::get_if<std::vector<std::string>>(&value))
            for (const auto &x : *s)
                parts << QString::fromStdString(x);
        else if (auto *i = std::get_if<std::vector<int64_t>>(&value))
            for (const auto x : *i)
                parts << QString::number(x);
        else if (auto *d = std::get_if<std::vector<double>>(&value))
            for (const auto x : *d)
                parts << fmtDouble(x);
        static_cast<QLineEdit *>(e.editor)->setText(parts.join(QStringLiteral(", ")));
        break;
    }
    }
}

bool SchemaForm::readValue(const Entry &e, core::FieldValue *value) const
{
    const auto kind = EditorKind(e.editor->property(kKindProperty).toInt());
    switch (kind) {
    case EditorKind::Check:
        *value = static_cast<QCheckBox *>(e.editor)->isChecked();
        return true;
    case EditorKind::Spin:
        *value = int64_t(static_cast<QSpinBox *>(e.editor)->value());
        return true;
    case EditorKind::Float: {
        auto *le = static_cast<QLineEdit *>(e.editor);
        double v = 0;
        if (!le->hasAcceptableInput() || !parseDouble(le->text(), &v))
            return false;
        *value = v;
        return true;
    }
    case EditorKind::Combo:
        *value = static_cast<QComboBox *>(e.editor)->currentText().toStdString();
        return true;
    case EditorKind::Line:
        *value = static_cast<QLineEdit *>(e.editor)->text().toStdString();
        return true;
    case EditorKind::Path:
        *value = e.editor->findChild<QLineEdit *>(QStringLiteral("text"))->text().trimmed().toStdString();
        return true;
    case EditorKind::CheckList: {
        auto *list = static_cast<QListWidget *>(e.editor);
        std::vector<std::string> out;
        for (int i = 0; i < list->count(); ++i)
            if (list->item(i)->checkState() == Qt::Checked)
                out.push_back(list->item(i)->text().toStdString());
        *value = out;
        return true;
    }
    case EditorKind::List: {
        const QStringList parts = splitList(static_cast<QLineEdit *>(e.editor)->text());
        if (e.spec->type == core::FieldType::StringList) {
            std::vector<std::string> out;
            for (const QString &p : parts)
                out.push_back(p.toStdString());
            *value = out;
        } else if (e.spec->type == core::FieldType::IntList) {
            std::vector<int64_t> out;
            for (const QString &p : parts) {
                bool ok = false;
                out.push_back(p.toLongLong(&ok));
                if (!ok)
                    return false;
            }
            *value = out;
        } else {
            std::vector<double> out;
            for (const QString &p : parts) {
                double v = 0;
                if (!parseDouble(p, &v))
                    return false;
                out.push_back(v);
            }
            *value = out;
        }
        return true;
    }
    }
    return false;
}

void SchemaForm::setConfig(const core::RunConfig &config)
{
    m_loading = true;
    m_loaded = config;
    for (const QString &key : std::as_const(m_order)) {
        const Entry &e = m_entries[key];
        loadValue(e, e.spec->get(config));
    }
    m_loading = false;
    updateRelevance();
}

core::RunConfig SchemaForm::config() const
{
    core::RunConfig c = m_loaded;
    for (const QString &key : m_order) {
        const Entry &e = m_entries[key];
        core::FieldValue v;
        if (readValue(e, &v))
            e.spec->set(c, v);
    }
    return c;
}

QStringList SchemaForm::invalidFields() const
{
    QStringList bad;
    for (const QString &key : m_order) {
        core::FieldValue v;
        if (!readValue(m_entries[key], &v))
            bad << key;
    }
    return bad;
}

QWidget *SchemaForm::editor(const QString &key) const
{
    auto it = m_entries.find(key);
    return it == m_entries.end() ? nullptr : it->editor;
}

void SchemaForm::focusField(const QString &key)
{
    auto it = m_entries.find(key);
    if (it == m_entries.end())
        return;
    it->form->setRowVisible(it->editor, true);
    m_scroll->ensureWidgetVisible(it->editor);
    QWidget *target = it->editor;
    if (auto *le = it->editor->findChild<QLineEdit *>(QStringLiteral("text")))
        target = le;
    target->setFocus(Qt::OtherFocusReason);
}

void SchemaForm::setFieldProblems(const QHash<QString, QString> &problems)
{
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
        const QString help = QString::fromStdString(it->spec->help);
        const auto p = problems.find(it.key());
        if (p == problems.end()) {
            it->label->setStyleSheet(QString());
            it->label->setToolTip(help);
        } else {
            it->label->setStyleSheet(QStringLiteral("color: #d0312d; font-weight: bold;"));
            it->label->setToolTip(p.value() + QStringLiteral("\n\n") + help);
        }
    }
}

void SchemaForm::setFieldText(const QString &key, const QString &text)
{
    auto it = m_entries.find(key);
    if (it == m_entries.end())
        return;
    if (auto *le = it->editor->findChild<QLineEdit *>(QStringLiteral("text")))
        le->setText(text);
    else if (auto *line = qobject_cast<QLineEdit *>(it->editor))
        line->setText(text);
    else if (auto *combo = qobject_cast<QComboBox *>(it->editor))
        combo->setCurrentText(text);
    emitChanged();
}

QStringList SchemaForm::groups() const
{
    return m_groups;
}

void SchemaForm::updateRelevance()
{
    const core::RunConfig c = config();
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
        it->form->setRowVisible(it->editor, fieldRelevant(it->spec->key, c));
    for (auto it = m_boxes.begin(); it != m_boxes.end(); ++it)
        it.value()->setEnabled(groupActive(it.key().toStdString(), c));
}

void SchemaForm::emitChanged()
{
    if (m_loading)
        return;
    updateRelevance();
    Q_EMIT changed();
}

} // namespace genrec::ui
