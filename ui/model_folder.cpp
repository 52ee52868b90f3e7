#include "ui/model_folder.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>

#include <nlohmann/json.hpp>

namespace genrec::ui {

namespace {

QString tr(const char *s)
{
    return QCoreApplication::translate("genrec::ui::ModelFolder", s);
}

int64_t intOr(const nlohmann::json &j, const char *key, int64_t fallback)
{
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

} // namespace

ModelFolderInfo inspectModelFolder(const QString &dir)
{
    ModelFolderInfo info;
    const QDir d(dir);
    if (dir.isEmpty() || !d.exists()) {
        info.error = tr("Folder not found: %1").arg(dir);
        return info;
    }
    QFile f(d.filePath(QStringLiteral("config.json")));
    if (!f.open(QIODevice::ReadOnly)) {
        info.error = tr("No config.json in %1: not a Hugging Face model folder.").arg(dir);
        return info;
    }
    const nlohmann::json j = nlohmann::json::parse(f.readAll().toStdString(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        info.error = tr("config.json is not valid JSON.");
        return info;
    }
    if (auto a = j.find("architectures"); a != j.end() && a->is_array() && !a->empty() && a->front().is_string())
        info.architecture = QString::fromStdString(a->front().get<std::string>());
    if (auto m = j.find("model_type"); m != j.end() && m->is_string())
        info.modelType = QString::fromStdString(m->get<std::string>());
    info.hiddenSize = intOr(j, "hidden_size", 0);
    info.layers = intOr(j, "num_hidden_layers", 0);
    info.heads = intOr(j, "num_attention_heads", 0);
    info.kvHeads = intOr(j, "num_key_value_heads", info.heads);
    info.intermediateSize = intOr(j, "intermediate_size", 0);
    info.vocabSize = intOr(j, "vocab_size", 0);
    if (auto t = j.find("tie_word_embeddings"); t != j.end() && t->is_boolean())
        info.tiedEmbeddings = t->get<bool>();
    if (info.hiddenSize <= 0 || info.layers <= 0 || info.heads <= 0 || info.vocabSize <= 0) {
        info.error = tr("config.json lacks hidden_size, num_hidden_layers, num_attention_heads or vocab_size.");
        return info;
    }
    const QString type = info.modelType.toLower();
    if (!type.isEmpty() && !type.startsWith(QLatin1String("qwen")) && type != QLatin1String("llama")) {
        info.error = tr("Model type %1 is not supported (Qwen2, Qwen2.5, Qwen3 and Llama are).").arg(info.modelType);
        return info;
    }
    const double h = double(info.hiddenSize);
    const double headDim = h / double(info.heads);
    const double kv = double(info.kvHeads) * headDim;
    const double attn = h * h * 2 + h * kv * 2;          // q, o + k, v
    const double mlp = 3.0 * h * double(info.intermediateSize);
    const double emb = double(info.vocabSize) * h * (info.tiedEmbeddings ? 1.0 : 2.0);
    info.parameters = double(info.layers) * (attn + mlp + 2 * h) + emb + h;
    const QStringList files = d.entryList(QDir::Files);
    for (const QString &name : files) {
        if (name.endsWith(QLatin1String(".safetensors")) || name == QLatin1String("model.safetensors.index.json"))
            info.hasWeights = true;
        if (name == QLatin1String("tokenizer.json"))
            info.hasTokenizer = true;
    }
    if (!info.hasTokenizer) {
        info.error = tr("No tokenizer.json in the folder.");
        return info;
    }
    info.ok = true;
    return info;
}

QString formatCount(double n)
{
    if (n >= 1e9)
        return QString::number(n / 1e9, 'f', 2) + QStringLiteral(" B");
    if (n >= 1e6)
        return QString::number(n / 1e6, 'f', n >= 1e8 ? 0 : 1) + QStringLiteral(" M");
    if (n >= 1e3)
        return QString::number(n / 1e3, 'f', 1) + QStringLiteral(" K");
    return QString::number(n, 'f', 0);
}

QString modelSummary(const ModelFolderInfo &info)
{
    QString s = tr("%1 · %2 layers · hidden %3 · ~%4 parameters")
                    .arg(info.architecture.isEmpty() ? info.modelType : info.architecture)
                    .arg(info.layers)
                    .arg(info.hiddenSize)
                    .arg(formatCount(info.parameters));
    if (!info.hasWeights)
        s += tr(" · no weights (train_from_scratch only)");
    return s;
}

} // namespace genrec::ui
