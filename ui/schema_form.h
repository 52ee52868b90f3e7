#pragma once
/// @file schema_form.h
/// A RunConfig form generated from core::runConfigSchema(): one section per FieldSpec::group and
/// one editor per field, chosen by type (check box, spin box with the spec's range, validated line
/// edit for floats, combo for choices, check list for string lists with choices, comma-separated
/// line edit for other lists, line edit + browse button for paths). Tooltips are the help text.
/// There is no second schema: adding a field to the table adds it here.
///
/// Round trip: config() after setConfig(c) equals c for every field (tested).

#include "core/config/run_config.h"
#include "core/config/run_config_schema.h"

#include <QHash>
#include <QString>
#include <QWidget>

class QFormLayout;
class QGroupBox;
class QLabel;
class QScrollArea;

namespace genrec::ui {

/// Whether a field matters for this config (LoRA keys only for lora/qlora, quantisation only for
/// qlora, multi-GPU keys only for cuda). Irrelevant fields are hidden, not cleared.
bool fieldRelevant(const std::string &key, const core::RunConfig &config);
/// Whether a group's stage is selected (SFT, RL, Eval groups); other groups always are.
bool groupActive(const std::string &group, const core::RunConfig &config);

class SchemaForm : public QWidget
{
    Q_OBJECT
public:
    explicit SchemaForm(QWidget *parent = nullptr);

    /// Loads every field (no changed() signal).
    void setConfig(const core::RunConfig &config);
    /// The config the editors describe. Text that does not parse keeps the last loaded value
    /// (the editor is marked invalid and listed by invalidFields()).
    core::RunConfig config() const;
    /// Keys whose editor holds text that does not parse or is out of range.
    QStringList invalidFields() const;

    /// The editor of a key (nullptr if unknown).
    QWidget *editor(const QString &key) const;
    /// Scrolls to a field and gives it keyboard focus.
    void focusField(const QString &key);
    /// Marks fields with problems (label in the error colour, message in the tooltip).
    void setFieldProblems(const QHash<QString, QString> &problems);
    /// Sets one field from its YAML text (used by the model/dataset pickers).
    void setFieldText(const QString &key, const QString &text);
    /// Groups in schema order.
    QStringList groups() const;

Q_SIGNALS:
    void changed();

private:
    struct Entry
    {
        const core::FieldSpec *spec = nullptr;
        QWidget *editor = nullptr;
        QLabel *label = nullptr;
        QFormLayout *form = nullptr;
        QGroupBox *box = nullptr;
    };
    QWidget *makeEditor(const core::FieldSpec &spec);
    void loadValue(const Entry &e, const core::FieldValue &value);
    bool readValue(const Entry &e, core::FieldValue *value) const;
    void updateRelevance();
    void emitChanged();

    QScrollArea *m_scroll = nullptr;
    QHash<QString, Entry> m_entries;
    QStringList m_order;
    QStringList m_groups;
    QHash<QString, QGroupBox *> m_boxes;
    core::RunConfig m_loaded;
    bool m_loading = false;
};

} // namespace genrec::ui
