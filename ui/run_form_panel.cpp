#include "ui/run_form_panel.h"

#include "core/config/run_config_schema.h"
#include "core/config/run_config_validate.h"
#include "core/config/run_config_yaml.h"
#include "core/data/dataset.h"
#include "core/data/dataset_stats.h"
#include "core/data/synth.h"
#include "ui/engine_protocol.h"
#include "ui/model_folder.h"
#include "ui/schema_form.h"
#include "ui/studio_settings.h"

#include <QComboBox>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPointer>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSplitter>
#include <QTemporaryFile>
#include <QThreadPool>
#include <QTimer>
#include <QVBoxLayout>

namespace genrec::ui {

namespace {

const QString kOpenFolder = QStringLiteral("__open_folder__");

QString problemText(const core::ConfigProblem &p)
{
    QString s = QString::fromStdString(p.path.empty() ? p.message : p.path + ": " + p.message);
    if (!p.hint.empty())
        s += QStringLiteral(" — ") + QString::fromStdString(p.hint);
    return s;
}

QString errorStyle()
{
    return QStringLiteral("color: #d0312d;");
}

} // namespace

RunFormPanel::RunFormPanel(QWidget *parent) : QWidget(parent), m_engine(findEngineExecutable())
{
    m_storePath = StudioSettings::storePath();
    auto *split = new QSplitter(Qt::Horizontal, this);
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(4, 4, 4, 4);
    outer->addWidget(split);

    m_form = new SchemaForm(split);
    m_form->setObjectName(QStringLiteral("schemaForm"));
    split->addWidget(m_form);

    auto *side = new QWidget(split);
    auto *col = new QVBoxLayout(side);
    col->setContentsMargins(0, 0, 0, 0);
    split->addWidget(side);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    auto *modelBox = new QGroupBox(tr("Base model"), side);
    auto *modelCol = new QVBoxLayout(modelBox);
    m_modelCombo = new QComboBox(modelBox);
    m_modelCombo->setObjectName(QStringLiteral("modelPicker"));
    m_modelInfo = new QLabel(modelBox);
    m_modelInfo->setObjectName(QStringLiteral("modelInfo"));
    m_modelInfo->setWordWrap(true);
    modelCol->addWidget(m_modelCombo);
    modelCol->addWidget(m_modelInfo);
    col->addWidget(modelBox);

    auto *dataBox = new QGroupBox(tr("Dataset"), side);
    auto *dataCol = new QVBoxLayout(dataBox);
    auto *dataRow = new QHBoxLayout;
    auto *chooseData = new QPushButton(tr("Choose dataset folder…"), dataBox);
    m_demoDataButton = new QPushButton(tr("Generate demo dataset"), dataBox);
    m_demoDataButton->setVisible(false);
    dataRow->addWidget(chooseData);
    dataRow->addWidget(m_demoDataButton);
    dataRow->addStretch(1);
    m_datasetInfo = new QLabel(dataBox);
    m_datasetInfo->setObjectName(QStringLiteral("datasetInfo"));
    m_datasetInfo->setWordWrap(true);
    m_datasetInfo->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_datasetInfo->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    dataCol->addLayout(dataRow);
    dataCol->addWidget(m_datasetInfo);
    col->addWidget(dataBox);

    auto *problemBox = new QGroupBox(tr("Problems"), side);
    auto *problemCol = new QVBoxLayout(problemBox);
    m_problems = new QListWidget(problemBox);
    m_problems->setObjectName(QStringLiteral("problems"));
    m_problems->setWordWrap(true);
    problemCol->addWidget(m_problems);
    col->addWidget(problemBox, 1);

    m_estimateBox = new QGroupBox(tr("Memory estimate"), side);
    m_estimateBox->setObjectName(QStringLiteral("estimatePanel"));
    auto *estCol = new QVBoxLayout(m_estimateBox);
    m_estimateLabel = new QLabel(m_estimateBox);
    m_estimateLabel->setWordWrap(true);
    estCol->addWidget(m_estimateLabel);
    m_estimateBox->setVisible(false);
    col->addWidget(m_estimateBox);

    auto *cmdBox = new QGroupBox(tr("Command"), side);
    auto *cmdCol = new QVBoxLayout(cmdBox);
    m_preview = new QPlainTextEdit(cmdBox);
    m_preview->setObjectName(QStringLiteral("previewCommand"));
    m_preview->setReadOnly(true);
    m_preview->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_preview->setMaximumHeight(m_preview->fontMetrics().height() * 4 + 12);
    cmdCol->addWidget(m_preview);
    auto *buttons = new QHBoxLayout;
    auto *importButton = new QPushButton(tr("Import YAML…"), cmdBox);
    auto *exportButton = new QPushButton(tr("Export YAML…"), cmdBox);
    m_launch = new QPushButton(tr("Launch"), cmdBox);
    m_launch->setObjectName(QStringLiteral("launchButton"));
    m_launch->setDefault(true);
    buttons->addWidget(importButton);
    buttons->addWidget(exportButton);
    buttons->addStretch(1);
    buttons->addWidget(m_launch);
    cmdCol->addLayout(buttons);
    col->addWidget(cmdBox);

    m_validateTimer = new QTimer(this);
    m_validateTimer->setSingleShot(true);
    m_validateTimer->setInterval(150);
    m_estimateTimer = new QTimer(this);
    m_estimateTimer->setSingleShot(true);
    m_estimateTimer->setInterval(600);

    connect(m_form, &SchemaForm::changed, this, &RunFormPanel::onFormChanged);
    connect(m_validateTimer, &QTimer::timeout, this, &RunFormPanel::validateNow);
    connect(m_estimateTimer, &QTimer::timeout, this, &RunFormPanel::runEstimate);
    connect(m_problems, &QListWidget::itemClicked, this, &RunFormPanel::onProblemClicked);
    connect(m_problems, &QListWidget::itemActivated, this, &RunFormPanel::onProblemClicked);
    connect(m_modelCombo, &QComboBox::activated, this, &RunFormPanel::onModelChosen);
    connect(importButton, &QPushButton::clicked, this, &RunFormPanel::importYaml);
    connect(exportButton, &QPushButton::clicked, this, &RunFormPanel::exportYaml);
    connect(m_demoDataButton, &QPushButton::clicked, this, &RunFormPanel::generateDemoData);
    connect(chooseData, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Dataset folder"),
                                                              StudioSettings::recentDataFolders().value(0));
        if (dir.isEmpty())
            return;
        StudioSettings::addRecentDataFolder(dir);
        m_form->setFieldText(QStringLiteral("dataset_dir"), dir);
    });
    connect(m_launch, &QPushButton::clicked, this, [this] {
        validateNow();
        if (canLaunch())
            Q_EMIT launchRequested(yamlText(), launchYamlPath());
    });

    refreshModelCombo();
    validateNow();
    probeEstimate();
}

RunFormPanel::~RunFormPanel()
{
    if (m_estimate) {
        m_estimate->disconnect(this);
        m_estimate->kill();
        m_estimate->waitForFinished(1000);
    }
}

void RunFormPanel::setStorePath(const QString &path)
{
    m_storePath = path;
    validateNow();
}

void RunFormPanel::setEngine(const QString &path)
{
    m_engine = path;
    validateNow();
    probeEstimate();
}

void RunFormPanel::setConfig(const core::RunConfig &config)
{
    m_form->setConfig(config);
    validateNow();
}

core::RunConfig RunFormPanel::config() const
{
    return m_form->config();
}

QString RunFormPanel::yamlText() const
{
    return QString::fromStdString(core::runConfigToYaml(m_form->config(), true));
}

bool RunFormPanel::importYamlText(const QString &text, const QString &source, QString *report)
{
    const core::ConfigParseResult r = core::parseRunConfigYaml(text.toStdString(), source.toStdString());
    QStringList lines;
    bool syntax = false;
    for (const auto &p : r.problems) {
        lines << QString::fromStdString(p.toString());
        syntax = syntax || p.path.empty();
    }
    if (report)
        *report = lines.join(QLatin1Char('\n'));
    if (syntax && r.problems.size() == 1 && text.trimmed().size() > 0 && r.problems.front().line > 0 &&
        r.problems.front().message.find("syntax") != std::string::npos)
        return false;
    setConfig(r.config);
    return true;
}

bool RunFormPanel::importYamlFile(const QString &path, QString *report)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        if (report)
            *report = tr("Cannot read %1: %2").arg(path, f.errorString());
        return false;
    }
    return importYamlText(QString::fromUtf8(f.readAll()), path, report);
}

bool RunFormPanel::exportYamlFile(const QString &path, QString *error) const
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(yamlText().toUtf8()) < 0) {
        if (error)
            *error = tr("Cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    return true;
}

void RunFormPanel::importYaml()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Import run config"), QString(),
                                                      tr("YAML files (*.yaml *.yml);;All files (*)"));
    if (path.isEmpty())
        return;
    QString report;
    const bool ok = importYamlFile(path, &report);
    if (!ok)
        QMessageBox::warning(this, tr("Import YAML"), report);
    else if (!report.isEmpty())
        QMessageBox::information(this, tr("Import YAML"),
                                 tr("Imported with these problems (the rest of the file was read):\n\n%1").arg(report));
}

void RunFormPanel::exportYaml()
{
    const QString name = QString::fromStdString(config().runName);
    const QString path = QFileDialog::getSaveFileName(this, tr("Export run config"),
                                                      (name.isEmpty() ? QStringLiteral("run") : name) + QStringLiteral(".yaml"),
                                                      tr("YAML files (*.yaml *.yml)"));
    if (path.isEmpty())
        return;
    QString error;
    if (!exportYamlFile(path, &error))
        QMessageBox::warning(this, tr("Export YAML"), error);
}

QString RunFormPanel::launchYamlPath() const
{
    const QString yaml = yamlText();
    const QString hash = QString::fromLatin1(
        QCryptographicHash::hash(yaml.toUtf8(), QCryptographicHash::Sha1).toHex().left(10));
    QString name = QString::fromStdString(config().runName);
    name.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9_.-]")), QStringLiteral("_"));
    if (name.isEmpty())
        name = QStringLiteral("run");
    return QFileInfo(m_storePath).absoluteDir().filePath(QStringLiteral("launch/%1-%2.yaml").arg(name, hash));
}

QString RunFormPanel::previewCommand() const
{
    return shellCommandLine(m_engine.isEmpty() ? QStringLiteral("genrec") : m_engine,
                            trainArguments(launchYamlPath(), m_storePath));
}

QStringList RunFormPanel::problemTexts() const
{
    QStringList out;
    for (int i = 0; i < m_problems->count(); ++i)
        out << m_problems->item(i)->text();
    return out;
}

bool RunFormPanel::canLaunch() const
{
    return m_launch->isEnabled();
}

void RunFormPanel::onFormChanged()
{
    m_validateTimer->start();
}

void RunFormPanel::validateNow()
{
    m_validateTimer->stop();
    const core::RunConfig c = m_form->config();
    std::vector<core::ConfigProblem> problems;
    for (const QString &key : m_form->invalidFields()) {
        const core::FieldSpec *spec = core::findField(key.toStdString());
        std::string range;
        if (spec && (spec->min || spec->max))
            range = "a number in [" + (spec->min ? core::formatFieldValue(*spec->min) : std::string("-inf")) + ", " +
                    (spec->max ? core::formatFieldValue(*spec->max) : std::string("inf")) + "]";
        problems.push_back({key.toStdString(), tr("not a valid value").toStdString(),
                            range.empty() ? std::string() : tr("enter %1").arg(QString::fromStdString(range)).toStdString(), {}, 0});
    }
    for (auto &p : core::validateRunConfig(c))
        problems.push_back(std::move(p));

    updateModelInfo(QString::fromStdString(c.modelNameOrPath));
    if (!m_modelError.isEmpty())
        problems.push_back({"model_name_or_path", m_modelError.toStdString(), "", {}, 0});
    updateDataset(QString::fromStdString(c.datasetDir), QString::fromStdString(c.dataset));
    if (!m_datasetError.isEmpty())
        problems.push_back({"dataset_dir", m_datasetError.toStdString(), "", {}, 0});
    if (m_engine.isEmpty())
        problems.push_back({"", tr("The genrec engine was not found.").toStdString(),
                            tr("install genrec next to genrec-studio or set GENREC_ENGINE").toStdString(), {}, 0});

    m_problems->clear();
    QHash<QString, QString> byField;
    for (const auto &p : problems) {
        auto *item = new QListWidgetItem(problemText(p), m_problems);
        item->setData(Qt::UserRole, QString::fromStdString(p.path));
        item->setForeground(QColor(0xd0, 0x31, 0x2d));
        const QString key = QString::fromStdString(p.path);
        if (!key.isEmpty() && !byField.contains(key))
            byField.insert(key, QString::fromStdString(p.message));
    }
    if (problems.empty()) {
        auto *ok = new QListWidgetItem(tr("No problems: ready to launch."), m_problems);
        ok->setFlags(Qt::ItemIsEnabled);
    }
    m_form->setFieldProblems(byField);
    m_launch->setEnabled(problems.empty());
    m_launch->setToolTip(problems.empty() ? tr("Start the run as a separate genrec process")
                                          : tr("Fix the listed problems first"));
    m_preview->setPlainText(previewCommand());
    if (m_estimateAvailable)
        m_estimateTimer->start();
}

void RunFormPanel::onProblemClicked(QListWidgetItem *item)
{
    const QString key = item->data(Qt::UserRole).toString();
    if (!key.isEmpty())
        m_form->focusField(key);
}

void RunFormPanel::refreshModelCombo()
{
    QSignalBlocker block(m_modelCombo);
    m_modelCombo->clear();
    for (const auto &p : core::modelPresetNames())
        m_modelCombo->addItem(tr("Preset: %1 (from scratch)").arg(QString::fromStdString(p)),
                              QStringLiteral("preset:") + QString::fromStdString(p));
    const QStringList recent = StudioSettings::recentModelFolders();
    if (!recent.isEmpty())
        m_modelCombo->insertSeparator(m_modelCombo->count());
    for (const QString &dir : recent)
        m_modelCombo->addItem(dir, dir);
    m_modelCombo->insertSeparator(m_modelCombo->count());
    m_modelCombo->addItem(tr("Open model folder…"), kOpenFolder);
}

void RunFormPanel::onModelChosen(int index)
{
    QString value = m_modelCombo->itemData(index).toString();
    if (value == kOpenFolder) {
        value = QFileDialog::getExistingDirectory(this, tr("Hugging Face model folder"),
                                                  StudioSettings::recentModelFolders().value(0));
        if (value.isEmpty()) {
            m_modelShown.clear();
            updateModelInfo(QString::fromStdString(config().modelNameOrPath));
            return;
        }
        StudioSettings::addRecentModelFolder(value);
        refreshModelCombo();
    }
    m_form->setFieldText(QStringLiteral("model_name_or_path"), value);
}

void RunFormPanel::updateModelInfo(const QString &model)
{
    if (model == m_modelShown)
        return;
    m_modelShown = model;
    m_modelError.clear();
    const int idx = m_modelCombo->findData(model);
    {
        QSignalBlocker block(m_modelCombo);
        if (idx >= 0) {
            m_modelCombo->setCurrentIndex(idx);
        } else if (!model.isEmpty()) {
            m_modelCombo->insertItem(0, model, model);
            m_modelCombo->setCurrentIndex(0);
        }
    }
    if (model.startsWith(QLatin1String("preset:"))) {
        m_modelInfo->setStyleSheet(QString());
        m_modelInfo->setText(tr("Built-in %1 architecture, randomly initialised; the tokenizer is built "
                                "from the dataset's titles and SID tokens.")
                                 .arg(model.mid(7)));
        return;
    }
    const ModelFolderInfo info = inspectModelFolder(model);
    if (!info.ok) {
        m_modelError = info.error;
        m_modelInfo->setStyleSheet(errorStyle());
        m_modelInfo->setText(info.error);
        return;
    }
    m_modelInfo->setStyleSheet(QString());
    m_modelInfo->setText(modelSummary(info));
}

void RunFormPanel::updateDataset(const QString &dir, const QString &name)
{
    const QString key = dir + QLatin1Char('\n') + name;
    if (key == m_datasetKey)
        return;
    m_datasetKey = key;
    m_datasetError.clear();
    m_datasetInfo->setStyleSheet(QString());
    const bool isDemo = QDir::cleanPath(dir) == QDir::cleanPath(StudioSettings::demoDatasetDir());
    m_demoDataButton->setVisible(isDemo && !QFileInfo::exists(dir));
    if (dir.isEmpty()) {
        m_datasetInfo->setText(tr("The embedded demo dataset (generated by the engine on first use)."));
        return;
    }
    if (!QFileInfo(dir).isDir()) {
        m_datasetError = isDemo ? tr("The demo dataset is not generated yet: press “Generate demo dataset”.")
                                : tr("Folder not found: %1").arg(dir);
        m_datasetInfo->setStyleSheet(errorStyle());
        m_datasetInfo->setText(m_datasetError);
        return;
    }
    // Loading checks every row; keep it off the GUI thread and drop stale answers.
    m_datasetInfo->setText(tr("Reading %1…").arg(dir));
    const int generation = ++m_datasetGeneration;
    QPointer<RunFormPanel> self(this);
    const std::string d = dir.toStdString(), n = name.toStdString();
    QThreadPool::globalInstance()->start([self, generation, d, n] {
        QString text, error;
        try {
            const core::Dataset ds = core::loadDataset(d, n);
            text = QString::fromStdString(core::statsToText(core::computeDatasetStats(ds)));
        } catch (const std::exception &e) {
            error = QString::fromStdString(e.what());
        }
        if (!self)
            return;
        QMetaObject::invokeMethod(
            self.data(),
            [self, generation, text, error] {
                if (!self || generation != self->m_datasetGeneration)
                    return;
                self->m_datasetError = error;
                self->m_datasetInfo->setStyleSheet(error.isEmpty() ? QString() : errorStyle());
                self->m_datasetInfo->setText(error.isEmpty() ? text : error);
                // Re-list problems with the dataset's verdict (the key is unchanged: no reload).
                self->validateNow();
            },
            Qt::QueuedConnection);
    });
}

void RunFormPanel::generateDemoData()
{
    const QString dir = StudioSettings::demoDatasetDir();
    try {
        core::writeSynthDataset(dir.toStdString(), core::SynthOptions{});
    } catch (const std::exception &e) {
        QMessageBox::warning(this, tr("Demo dataset"), QString::fromStdString(e.what()));
        return;
    }
    m_datasetKey.clear();
    validateNow();
}

void RunFormPanel::probeEstimate()
{
    m_estimateAvailable = false;
    m_estimateBox->setVisible(false);
    if (m_engine.isEmpty())
        return;
    auto *probe = new QProcess(this);
    connect(probe, &QProcess::finished, this, [this, probe](int code, QProcess::ExitStatus st) {
        m_estimateAvailable = st == QProcess::NormalExit && code == 0;
        probe->deleteLater();
        if (m_estimateAvailable)
            m_estimateTimer->start();
    });
    connect(probe, &QProcess::errorOccurred, probe, [probe](QProcess::ProcessError) { probe->deleteLater(); });
    probe->start(m_engine, {QStringLiteral("estimate"), QStringLiteral("--help")});
}

void RunFormPanel::runEstimate()
{
    if (!m_estimateAvailable)
        return;
    if (m_estimate) {
        m_estimate->disconnect(this);
        m_estimate->kill();
        m_estimate->deleteLater();
        m_estimate = nullptr;
    }
    delete m_estimateYaml;
    m_estimateYaml = new QTemporaryFile(QDir::temp().filePath(QStringLiteral("genrec-estimate-XXXXXX.yaml")));
    if (!m_estimateYaml->open())
        return;
    m_estimateYaml->write(yamlText().toUtf8());
    m_estimateYaml->flush();
    m_estimate = new QProcess(this);
    connect(m_estimate, &QProcess::finished, this, &RunFormPanel::onEstimateFinished);
    m_estimate->start(m_engine, estimateArguments(m_estimateYaml->fileName()));
}

void RunFormPanel::onEstimateFinished()
{
    if (!m_estimate)
        return;
    const QByteArray out = m_estimate->readAllStandardOutput();
    const bool ok = m_estimate->exitStatus() == QProcess::NormalExit && m_estimate->exitCode() == 0;
    m_estimate->deleteLater();
    m_estimate = nullptr;
    QJsonObject obj;
    for (const QByteArray &line : out.split('\n')) {
        const QJsonDocument doc = QJsonDocument::fromJson(line.trimmed());
        if (doc.isObject())
            obj = doc.object();
    }
    if (!ok || obj.isEmpty()) {
        m_estimateBox->setVisible(false);
        return;
    }
    QStringList lines;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (it.key() == QLatin1String("event"))
            continue;
        const QJsonValue v = it.value();
        QString text;
        if (v.isDouble())
            text = QString::number(v.toDouble(), 'g', 4);
        else if (v.isString())
            text = v.toString();
        else if (v.isBool())
            text = v.toBool() ? tr("yes") : tr("no");
        else if (v.isObject())
            text = QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact));
        else
            text = QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact));
        lines << QStringLiteral("%1: %2").arg(it.key(), text);
    }
    m_estimateLabel->setText(lines.join(QLatin1Char('\n')));
    m_estimateBox->setVisible(true);
}

} // namespace genrec::ui
