#pragma once
/// @file compare_logic.h
/// The numbers behind the Compare view, free of widgets so tests can check them: config diff rows
/// (from the schema, over the runs' resolved configs), final metrics, and the paired bootstrap CI
/// of the NDCG@K difference of two runs evaluated on the same rows.

#include "core/config/run_config.h"
#include "core/eval/ranking_metrics.h"
#include "core/store/run_store.h"

#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>
#include <vector>

namespace genrec::ui {

/// One schema key across the compared runs.
struct ConfigDiffRow
{
    QString key;
    QString group;
    QStringList values; ///< one per run, as written in YAML
    bool differs = false;
};

/// Rows in schema order; with differencesOnly, only keys whose values are not all equal.
QVector<ConfigDiffRow> configDiffRows(const std::vector<core::RunConfig> &configs, bool differencesOnly);

/// A run's resolved config (its stored resolved YAML; the plain YAML when that is empty).
core::RunConfig storedConfig(const core::RunInfo &run);

/// The latest evaluation of a run on a split that carries per-row ranks, if any.
std::optional<core::EvalResult> latestEvalWithRanks(core::RunStore &store, qint64 runId,
                                                    const QString &split = QString());

/// Outcome of comparing two runs' NDCG@K user by user.
struct PairedNdcgComparison
{
    bool ok = false;
    QString reason;     ///< why not, when !ok (translated)
    int k = 10;
    qsizetype rows = 0;
    double ndcgA = 0;   ///< mean NDCG@K of A over the paired rows
    double ndcgB = 0;
    core::BootstrapResult diff; ///< B - A
    QString text;       ///< "B beats A by 0.012, 95 % CI [0.004, 0.020]"
};

/// Pairs rows by user id (in A's order) and bootstraps mean NDCG@K(B) - NDCG@K(A).
/// Fails (ok = false) when the splits differ, or the user lists do not match one to one.
PairedNdcgComparison comparePairedNdcg(const core::EvalResult &a, const core::EvalResult &b,
                                       const QString &nameA, const QString &nameB, int k = 10,
                                       int resamples = 1000, uint64_t seed = 0);

/// A metric value from an evaluation's metrics JSON (NaN when absent).
double evalMetric(const core::EvalResult &result, const std::string &key);

} // namespace genrec::ui
