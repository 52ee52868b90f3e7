#include "core/eval/ranking_metrics.h"

#include "core/common/error.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace genrec::core {

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// Uniform index in [0, n) from the raw 64-bit stream, unbiased by rejection. std::mt19937_64's
// output sequence is fixed by the standard; std::uniform_int_distribution's mapping is not.
uint64_t uniformIndex(std::mt19937_64 &rng, uint64_t n)
{
    const uint64_t threshold = (0 - n) % n; // 2^64 mod n
    uint64_t r;
    do {
        r = rng();
    } while (r < threshold);
    return r % n;
}

// numpy.percentile's default ("linear") on sorted values, q in [0, 1].
double percentileSorted(const std::vector<double> &sorted, double q)
{
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, sorted.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

template<typename Sid>
LevelAccuracy levelAccuracyImpl(std::span<const Sid> top1, std::span<const Sid> targets)
{
    if (top1.size() != targets.size())
        throwBadInput("level accuracy: " + std::to_string(top1.size()) + " predictions for "
                      + std::to_string(targets.size()) + " targets");
    std::size_t levels = 0;
    for (const auto &t : targets)
        levels = std::max(levels, t.size());
    LevelAccuracy out;
    std::vector<int64_t> hits(levels, 0);
    out.rows.assign(levels, 0);
    for (std::size_t r = 0; r < targets.size(); ++r) {
        const auto &target = targets[r];
        const auto &pred = top1[r];
        std::size_t match = 0;
        while (match < target.size() && match < pred.size() && pred[match] == target[match])
            ++match;
        for (std::size_t l = 0; l < target.size(); ++l) {
            ++out.rows[l];
            if (match > l)
                ++hits[l];
        }
    }
    out.accuracy.resize(levels);
    for (std::size_t l = 0; l < levels; ++l)
        out.accuracy[l] = out.rows[l] ? static_cast<double>(hits[l]) / out.rows[l] : 0.0;
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Ranks
// ---------------------------------------------------------------------------------------------

std::string normalizeSid(std::string_view sid)
{
    const auto keep = [](char c) { return c != '"' && c != ' ' && c != '\n' && c != '\t' && c != '\r'; };
    std::size_t b = 0, e = sid.size();
    while (b < e && !keep(sid[b]))
        ++b;
    while (e > b && !keep(sid[e - 1]))
        --e;
    return std::string(sid.substr(b, e - b));
}

int32_t rankOfTarget(std::span<const std::string> predictions, std::string_view target)
{
    for (std::size_t i = 0; i < predictions.size(); ++i) {
        if (predictions[i] == target)
            return static_cast<int32_t>(i);
    }
    return kMissRank;
}

int32_t rankOfTarget(std::span<const std::vector<int32_t>> predictions,
                     std::span<const int32_t> target)
{
    for (std::size_t i = 0; i < predictions.size(); ++i) {
        if (std::ranges::equal(predictions[i], target))
            return static_cast<int32_t>(i);
    }
    return kMissRank;
}

RowScore scoreRow(std::span<const std::string> predictions, std::string_view target,
                  const std::unordered_set<std::string> &catalogue)
{
    RowScore score;
    for (std::size_t i = 0; i < predictions.size(); ++i) {
        if (!catalogue.contains(predictions[i])) {
            ++score.numInvalid;
            continue;
        }
        if (score.rank == kMissRank && predictions[i] == target)
            score.rank = static_cast<int32_t>(i);
    }
    return score;
}

// ---------------------------------------------------------------------------------------------
// HR / NDCG
// ---------------------------------------------------------------------------------------------

double ndcgAt(int32_t rank, int k)
{
    if (rank < 0 || rank >= k)
        return 0.0;
    return 1.0 / std::log2(static_cast<double>(rank) + 2.0);
}

const MetricAtK *RankingReport::find(int k) const
{
    for (const auto &m : atK) {
        if (m.k == k)
            return &m;
    }
    return nullptr;
}

RankingReport computeRankingMetrics(std::span<const int32_t> ranks, std::span<const int> ks,
                                    int listLength, int64_t numInvalid)
{
    RankingReport report;
    report.numRows = static_cast<int64_t>(ranks.size());
    report.numInvalid = numInvalid;
    report.listLength = listLength;

    std::vector<int> cuts;
    for (int k : ks) {
        if (k < 1)
            throwBadInput("ranking metrics: cut-off k = " + std::to_string(k) + " (must be >= 1)");
        if (k <= listLength)
            cuts.push_back(k);
    }
    std::ranges::sort(cuts);
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    std::vector<int64_t> hits(cuts.size(), 0);
    std::vector<double> gain(cuts.size(), 0.0);
    for (std::size_t r = 0; r < ranks.size(); ++r) {
        const int32_t rank = ranks[r];
        if (rank < kMissRank || rank >= listLength)
            throwBadInput("ranking metrics: row " + std::to_string(r) + " has rank "
                          + std::to_string(rank) + " outside [-1, "
                          + std::to_string(listLength) + ")");
        for (std::size_t c = 0; c < cuts.size(); ++c) {
            if (rank >= 0 && rank < cuts[c]) {
                ++hits[c];
                gain[c] += ndcgAt(rank, cuts[c]);
            }
        }
    }
    const double n = ranks.empty() ? 1.0 : static_cast<double>(ranks.size());
    for (std::size_t c = 0; c < cuts.size(); ++c)
        report.atK.push_back({cuts[c], static_cast<double>(hits[c]) / n, gain[c] / n});
    return report;
}

// ---------------------------------------------------------------------------------------------
// Coverage and level accuracy
// ---------------------------------------------------------------------------------------------

double catalogueCoverage(std::span<const std::vector<std::string>> predictions, int k,
                         const std::unordered_set<std::string> &catalogue)
{
    if (catalogue.empty())
        return 0.0;
    std::unordered_set<std::string_view> seen;
    for (const auto &row : predictions) {
        const std::size_t n = std::min(row.size(), static_cast<std::size_t>(std::max(k, 0)));
        for (std::size_t i = 0; i < n; ++i) {
            if (catalogue.contains(row[i]))
                seen.insert(row[i]);
        }
    }
    return static_cast<double>(seen.size()) / static_cast<double>(catalogue.size());
}

double catalogueCoverage(std::span<const std::vector<int64_t>> predictions, int k,
                         int64_t catalogueSize)
{
    if (catalogueSize <= 0)
        return 0.0;
    std::vector<char> seen(static_cast<std::size_t>(catalogueSize), 0);
    int64_t distinct = 0;
    for (const auto &row : predictions) {
        const std::size_t n = std::min(row.size(), static_cast<std::size_t>(std::max(k, 0)));
        for (std::size_t i = 0; i < n; ++i) {
            const int64_t id = row[i];
            if (id < 0 || id >= catalogueSize || seen[static_cast<std::size_t>(id)])
                continue;
            seen[static_cast<std::size_t>(id)] = 1;
            ++distinct;
        }
    }
    return static_cast<double>(distinct) / static_cast<double>(catalogueSize);
}

std::vector<std::string> splitSid(std::string_view sid)
{
    std::vector<std::string> tokens;
    std::size_t start = 0;
    for (std::size_t i = 0; i < sid.size(); ++i) {
        if (sid[i] == '>') {
            tokens.emplace_back(sid.substr(start, i + 1 - start));
            start = i + 1;
        }
    }
    if (start < sid.size())
        tokens.emplace_back(sid.substr(start));
    return tokens;
}

LevelAccuracy levelAccuracy(std::span<const std::vector<int32_t>> top1,
                            std::span<const std::vector<int32_t>> targets)
{
    return levelAccuracyImpl(top1, targets);
}

LevelAccuracy levelAccuracy(std::span<const std::string> top1,
                            std::span<const std::string> targets)
{
    std::vector<std::vector<std::string>> p, t;
    p.reserve(top1.size());
    t.reserve(targets.size());
    for (const auto &s : top1)
        p.push_back(splitSid(s));
    for (const auto &s : targets)
        t.push_back(splitSid(s));
    return levelAccuracyImpl(std::span<const std::vector<std::string>>(p),
                             std::span<const std::vector<std::string>>(t));
}

// ---------------------------------------------------------------------------------------------
// Paired bootstrap
// ---------------------------------------------------------------------------------------------

BootstrapResult pairedBootstrapMeanDiff(std::span<const double> a, std::span<const double> b,
                                        int resamples, uint64_t seed, double confidence)
{
    if (a.size() != b.size() || a.empty())
        throwBadInput("paired bootstrap: runs have " + std::to_string(a.size()) + " and "
                          + std::to_string(b.size()) + " rows",
                      "both runs must be scored on the same, non-empty set of rows");
    if (resamples < 1)
        throwBadInput("paired bootstrap: resamples = " + std::to_string(resamples));
    if (!(confidence > 0.0 && confidence < 1.0))
        throwBadInput("paired bootstrap: confidence " + std::to_string(confidence)
                      + " is not in (0, 1)");

    const std::size_t n = a.size();
    std::vector<double> diff(n);
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        diff[i] = a[i] - b[i];
        total += diff[i];
    }

    std::mt19937_64 rng(seed);
    std::vector<double> means(static_cast<std::size_t>(resamples));
    for (auto &m : means) {
        double sum = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            sum += diff[uniformIndex(rng, n)];
        m = sum / static_cast<double>(n);
    }
    std::ranges::sort(means);

    BootstrapResult result;
    result.meanDiff = total / static_cast<double>(n);
    result.ciLow = percentileSorted(means, (1.0 - confidence) / 2.0);
    result.ciHigh = percentileSorted(means, 1.0 - (1.0 - confidence) / 2.0);
    result.resamples = resamples;
    result.confidence = confidence;
    return result;
}

BootstrapResult pairedBootstrapNdcgDiff(std::span<const int32_t> ranksA,
                                        std::span<const int32_t> ranksB, int k, int resamples,
                                        uint64_t seed, double confidence)
{
    std::vector<double> a(ranksA.size()), b(ranksB.size());
    std::ranges::transform(ranksA, a.begin(), [k](int32_t r) { return ndcgAt(r, k); });
    std::ranges::transform(ranksB, b.begin(), [k](int32_t r) { return ndcgAt(r, k); });
    return pairedBootstrapMeanDiff(a, b, resamples, seed, confidence);
}

} // namespace genrec::core
