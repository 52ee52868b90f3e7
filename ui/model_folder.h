#pragma once
/// @file model_folder.h
/// What the New-run form shows about a base model: a Hugging Face folder's config.json
/// (architecture, sizes, parameter estimate, files present) or a built-in preset.

#include <QString>

#include <cstdint>

namespace genrec::ui {

struct ModelFolderInfo
{
    bool ok = false;
    QString error;          ///< why the folder cannot be used (translated), when !ok
    QString architecture;   ///< e.g. Qwen2ForCausalLM
    QString modelType;      ///< e.g. qwen2
    int64_t hiddenSize = 0;
    int64_t layers = 0;
    int64_t heads = 0;
    int64_t kvHeads = 0;
    int64_t intermediateSize = 0;
    int64_t vocabSize = 0;
    bool tiedEmbeddings = false;
    double parameters = 0;  ///< estimate from the sizes (decoder + embeddings)
    bool hasWeights = false;
    bool hasTokenizer = false;
};

/// Reads `<dir>/config.json` (never throws; problems land in `error`).
ModelFolderInfo inspectModelFolder(const QString &dir);
/// One-line summary ("Qwen2ForCausalLM · 24 layers · hidden 896 · ~494 M parameters").
QString modelSummary(const ModelFolderInfo &info);
/// "1.2 M", "494 M", "1.5 B".
QString formatCount(double n);

} // namespace genrec::ui
