#pragma once
/// @file run_form_panel.h
/// The New-run panel: the generated schema form plus base-model and dataset pickers with inline
/// summaries, live validation (problems list; a click focuses the field; Launch stays disabled
/// while any problem stands), an optional memory estimate (`genrec estimate --json`, hidden when
/// the engine has no such command), the exact `genrec train` command, and YAML import/export.

#include "core/config/run_config.h"

#include <QHash>
#include <QString>
#include <QStringList>
#include <QWidget>

class QComboBox;
class QGroupBox;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QPlainTextEdit;
class QProcess;
class QPushButton;
class QTemporaryFile;
class QTimer;

namespace genrec::ui {

class SchemaForm;

class RunFormPanel : public QWidget
{
    Q_OBJECT
public:
    explicit RunFormPanel(QWidget *parent = nullptr);
    ~RunFormPanel() override;

    void setStorePath(const QString &path);
    /// The genrec executable used for the preview, the estimate and the demo check.
    void setEngine(const QString &path);

    void setConfig(const core::RunConfig &config);
    core::RunConfig config() const;
    SchemaForm *form() const { return m_form; }

    /// Loads YAML into the form. Problems of the text (unknown keys, bad values) come back in
    /// `report` (one per line); the form takes every value that could be read. Returns false
    /// only for text that is not YAML at all.
    bool importYamlText(const QString &text, const QString &source, QString *report);
    bool importYamlFile(const QString &path, QString *report);
    /// Writes the form as a commented YAML file that `genrec train` runs unchanged.
    bool exportYamlFile(const QString &path, QString *error) const;
    /// The YAML the form describes (every key).
    QString yamlText() const;

    /// The exact command Launch runs.
    QString previewCommand() const;
    /// Where Launch writes the run's YAML (next to the store; named by content).
    QString launchYamlPath() const;
    /// Problems currently listed ("key: message (hint)").
    QStringList problemTexts() const;
    bool canLaunch() const;
    /// Re-validates now (normally debounced after each edit).
    void validateNow();

public Q_SLOTS:
    void importYaml();
    void exportYaml();
    /// Writes the demo dataset (core::writeSynthDataset) to StudioSettings::demoDatasetDir().
    void generateDemoData();

Q_SIGNALS:
    /// Launch was pressed on a valid form.
    void launchRequested(const QString &yamlText, const QString &yamlPath);

private:
    void onFormChanged();
    void onProblemClicked(QListWidgetItem *item);
    void onModelChosen(int index);
    void refreshModelCombo();
    void updateModelInfo(const QString &model);
    void updateDataset(const QString &dir, const QString &name);
    void probeEstimate();
    void runEstimate();
    void onEstimateFinished();

    SchemaForm *m_form = nullptr;
    QComboBox *m_modelCombo = nullptr;
    QLabel *m_modelInfo = nullptr;
    QLabel *m_datasetInfo = nullptr;
    QPushButton *m_demoDataButton = nullptr;
    QListWidget *m_problems = nullptr;
    QGroupBox *m_estimateBox = nullptr;
    QLabel *m_estimateLabel = nullptr;
    QPlainTextEdit *m_preview = nullptr;
    QPushButton *m_launch = nullptr;
    QTimer *m_validateTimer = nullptr;
    QTimer *m_estimateTimer = nullptr;
    QProcess *m_estimate = nullptr;
    QTemporaryFile *m_estimateYaml = nullptr;
    QString m_storePath;
    QString m_engine;
    QString m_modelError;
    QString m_datasetError;
    QString m_datasetKey;
    QString m_modelShown;
    bool m_estimateAvailable = false;
    int m_datasetGeneration = 0;
};

} // namespace genrec::ui
