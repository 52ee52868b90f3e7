#include "ui/compare_logic.h"

#include "core/config/run_config_schema.h"
#include "core/config/run_config_yaml.h"

#include <QCoreApplication>
#include <QHash>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace genrec::ui {

namespace {

QString tr(const char *s)
{
    return QCoreApplication::translate("genrec::ui::Compare", s);
}

double ndcgOfRank(int32_t rank, int k)
{
    return rank >= 0 && rank < k ? 1.0 / std::log2(double(rank) + 2.0) : 0.0;
}

} // namespace

QVector<ConfigDiffRow> configDiffRows(const std::vector<core::RunConfig> &configs, bool differencesOnly)
{
    QVector<ConfigDiffRow> rows;
    for (const core::FieldSpec &f : core::runConfigSchema()) {
        ConfigDiffRow row;
        row.key = QString::fromStdString(f.key);
        row.group = QString::fromStdString(f.group);
        for (const core::RunConfig &c : configs) {
            const QString v = QString::fromStdString(core::formatFieldValue(f.get(c)));
            if (!row.values.isEmpty() && v != row.values.first())
                row.differs = true;
            row.values << v;
        }
        if (!differencesOnly || row.differs)
            rows.push_back(row);
    }
    return rows;
}

core::RunConfig storedConfig(const core::RunInfo &run)
{
    const std::string &yaml = run.resolvedYaml.empty() ? run.configYaml : run.resolvedYaml;
    return core::parseRunConfigYaml(yaml, "run " + std::to_string(run.id)).config;
}

std::optional<core::EvalResult> latestEvalWithRanks(core::RunStore &store, qint64 runId, const QString &split)
{
    std::optional<core::EvalResult> best;
    for (core::EvalResult &r : store.evalResults(runId, true)) {
        if (r.ranks.empty())
            continue;
        if (!split.isEmpty() && QString::fromStdString(r.split) != split)
            continue;
        if (!best || r.createdAt >= best->createdAt)
            best = std::move(r);
    }
    return best;
}

double evalMetric(const core::EvalResult &result, const std::string &key)
{
    const nlohmann::json j = nlohmann::json::parse(result.metricsJson, nullptr, false);
    if (j.is_object()) {
        auto it = j.find(key);
        if (it != j.end() && it->is_number())
            return it->get<double>();
    }
    return std::numeric_limits<double>::quiet_NaN();
}

PairedNdcgComparison comparePairedNdcg(const core::EvalResult &a, const core::EvalResult &b,
                                       const QString &nameA, const QString &nameB, int k,
                                       int resamples, uint64_t seed)
{
    PairedNdcgComparison out;
    out.k = k;
    if (a.split != b.split) {
        out.reason = tr("The runs were evaluated on different splits (%1 vs %2).")
                         .arg(QString::fromStdString(a.split), QString::fromStdString(b.split));
        return out;
    }
    if (a.ranks.empty() || b.ranks.empty() || a.ranks.size() != b.ranks.size()) {
        out.reason = tr("The evaluations do not cover the same rows (%1 vs %2).")
                         .arg(a.ranks.size())
                         .arg(b.ranks.size());
        return out;
    }
    // Pair by user id when both carry them (engines may order rows differently).
    std::vector<int32_t> ranksA = a.ranks, ranksB;
    ranksB.reserve(b.ranks.size());
    const bool haveIds = a.userIds.size() == a.ranks.size() && b.userIds.size() == b.ranks.size();
    if (haveIds && a.userIds != b.userIds) {
        QHash<QString, qsizetype> indexB;
        for (size_t i = 0; i < b.userIds.size(); ++i)
            indexB.insert(QString::fromStdString(b.userIds[i]), qsizetype(i));
        if (indexB.size() != qsizetype(b.userIds.size())) {
            out.reason = tr("User ids repeat within an evaluation; rows cannot be paired.");
            return out;
        }
        for (const std::string &u : a.userIds) {
            auto it = indexB.find(QString::fromStdString(u));
            if (it == indexB.end()) {
                out.reason = tr("The evaluations cover different users.");
                return out;
            }
            ranksB.push_back(b.ranks[size_t(it.value())]);
        }
    } else {
        ranksB = b.ranks;
    }
    out.rows = qsizetype(ranksA.size());
    double sa = 0, sb = 0;
    for (size_t i = 0; i < ranksA.size(); ++i) {
        sa += ndcgOfRank(ranksA[i], k);
        sb += ndcgOfRank(ranksB[i], k);
    }
    out.ndcgA = sa / double(out.rows);
    out.ndcgB = sb / double(out.rows);
    try {
        out.diff = core::pairedBootstrapNdcgDiff(ranksB, ranksA, k, resamples, seed);
    } catch (const std::exception &e) {
        out.reason = QString::fromStdString(e.what());
        return out;
    }
    out.ok = true;
    const auto num = [](double v) { return QString::number(v, 'f', 3); };
    // Stated for the winner, so the difference and its interval read as positive numbers.
    const bool bWins = out.diff.meanDiff >= 0;
    const double lo = bWins ? out.diff.ciLow : -out.diff.ciHigh;
    const double hi = bWins ? out.diff.ciHigh : -out.diff.ciLow;
    const QString ci = tr("%1 % CI [%2, %3]")
                           .arg(QString::number(out.diff.confidence * 100, 'f', 0), num(lo), num(hi));
    out.text = tr("%1 beats %2 by %3 NDCG@%4, %5")
                   .arg(bWins ? nameB : nameA, bWins ? nameA : nameB, num(std::abs(out.diff.meanDiff)))
                   .arg(k)
                   .arg(ci);
    if (out.diff.ciLow <= 0 && out.diff.ciHigh >= 0)
        out.text += tr(" (not significant: the interval contains 0)");
    return out;
}

} // namespace genrec::ui
