#pragma once
/// @file ranking_metrics.h
/// Offline ranking metrics with the semantics of MiniOneRec's calc.py (minionerec-spec §7.3):
/// one relevant item per row, rank = index of the first prediction equal to the target SID,
/// HR@K = mean(rank < K), NDCG@K = mean(1/log2(rank + 2) for rank < K) (IDCG = 1).
///
/// Items are compared by SID, never by item id: items that share a SID (collisions, spec B9) are
/// indistinguishable, so predicting the shared SID is a hit for any of them. Predictions outside
/// the catalogue's SID set are counted and are misses.
///
/// The functions work on per-row ranks (-1 = miss) so a caller can store ranks per user and
/// recompute any cut-off, slice or comparison later without the prediction lists.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace genrec::core {

/// A rank meaning "target not in the list".
inline constexpr int32_t kMissRank = -1;

/// calc.py's normalisation of a decoded prediction or target: strips surrounding whitespace
/// and double quotes.
std::string normalizeSid(std::string_view sid);

/// Index of the first entry of @p predictions equal to @p target, or kMissRank.
int32_t rankOfTarget(std::span<const std::string> predictions, std::string_view target);
/// Same for token-id SIDs.
int32_t rankOfTarget(std::span<const std::vector<int32_t>> predictions,
                     std::span<const int32_t> target);

/// One row scored against the catalogue.
struct RowScore
{
    int32_t rank = kMissRank; ///< first valid prediction equal to the target, or kMissRank
    int32_t numInvalid = 0;   ///< predictions not in the catalogue (calc.py's `CC`)
};

/// Scores one row: predictions not in @p catalogue are counted and never match, even if they
/// equal the target. Strings are compared as given (normalise them first).
RowScore scoreRow(std::span<const std::string> predictions, std::string_view target,
                  const std::unordered_set<std::string> &catalogue);

/// HR and NDCG at one cut-off.
struct MetricAtK
{
    int k = 0;
    double hr = 0.0;
    double ndcg = 0.0;
};

/// Metrics of one evaluation run.
struct RankingReport
{
    int64_t numRows = 0;
    int64_t numInvalid = 0;  ///< invalid predictions over all rows (as passed in)
    int listLength = 0;      ///< predictions per row (beams)
    std::vector<MetricAtK> atK; ///< ascending k; only k <= listLength

    /// The entry for @p k, or nullptr if it was not computed.
    const MetricAtK *find(int k) const;
};

/// HR@K and NDCG@K over @p ranks for each k in @p ks that is <= @p listLength (larger k are
/// dropped, as calc.py does; duplicates are merged). Empty @p ranks gives zeros.
/// @throws Error(BadInput) if a rank is < -1 or >= listLength, or a k is < 1.
RankingReport computeRankingMetrics(std::span<const int32_t> ranks, std::span<const int> ks,
                                    int listLength, int64_t numInvalid = 0);

/// NDCG@k contribution of one row: 1/log2(rank + 2) if 0 <= rank < k, else 0.
double ndcgAt(int32_t rank, int k);

/// Share of the catalogue that appears in the top-@p k of at least one row. Keys are SID strings,
/// so coverage counts SIDs (a shared SID counts once); entries not in @p catalogue are ignored.
/// The denominator is catalogue.size(); returns 0 for an empty catalogue.
double catalogueCoverage(std::span<const std::vector<std::string>> predictions, int k,
                         const std::unordered_set<std::string> &catalogue);
/// Same over item ids in [0, catalogueSize); ids outside that range (e.g. -1 for invalid) are
/// ignored.
double catalogueCoverage(std::span<const std::vector<int64_t>> predictions, int k,
                         int64_t catalogueSize);

/// Per-level accuracy of the top-1 predictions.
struct LevelAccuracy
{
    /// accuracy[l]: share of rows whose top-1 prediction equals the target on levels 0..l
    /// (matching prefix of at least l + 1 tokens). Rows whose target has <= l levels are left
    /// out of level l. For fixed-length SIDs accuracy.back() equals HR@1.
    std::vector<double> accuracy;
    /// rows[l]: the rows that level l was measured on.
    std::vector<int64_t> rows;
};

/// Level accuracy from the top-1 prediction of each row (empty = no prediction, a miss on every
/// level) and the target SIDs, as token ids. The number of levels is the longest target.
/// @throws Error(BadInput) if the two spans differ in length.
LevelAccuracy levelAccuracy(std::span<const std::vector<int32_t>> top1,
                            std::span<const std::vector<int32_t>> targets);
/// Same with SID strings, split into tokens at each `>` (`<a_1><b_2><c_3>` has 3 levels).
LevelAccuracy levelAccuracy(std::span<const std::string> top1,
                            std::span<const std::string> targets);

/// Splits a SID string into its `<…>` tokens: "<a_1><b_2>" → {"<a_1>", "<b_2>"}. Text after
/// the last `>` becomes one more token.
std::vector<std::string> splitSid(std::string_view sid);

/// A paired bootstrap estimate of the difference of two runs' means over the same rows.
struct BootstrapResult
{
    double meanDiff = 0.0; ///< observed mean(a) - mean(b) over all rows
    double ciLow = 0.0;    ///< lower percentile bound of the resampled mean difference
    double ciHigh = 0.0;   ///< upper percentile bound
    int resamples = 0;
    double confidence = 0.0;
};

/// Paired bootstrap over rows: draws @p resamples sets of n row indices with replacement, takes
/// the mean of (a[i] - b[i]) over each, and returns the central @p confidence percentile
/// interval (linear interpolation between order statistics). Deterministic for a given @p seed
/// on every platform (own PRNG use, no std distributions).
/// @throws Error(BadInput) if the spans differ in length or are empty, resamples < 1, or
///         confidence is not in (0, 1).
BootstrapResult pairedBootstrapMeanDiff(std::span<const double> a, std::span<const double> b,
                                        int resamples = 1000, uint64_t seed = 0,
                                        double confidence = 0.95);

/// NDCG@k difference (run a - run b) of two runs over the same rows, from their per-row ranks;
/// see pairedBootstrapMeanDiff. The studio's run comparison uses it.
BootstrapResult pairedBootstrapNdcgDiff(std::span<const int32_t> ranksA,
                                        std::span<const int32_t> ranksB, int k,
                                        int resamples = 1000, uint64_t seed = 0,
                                        double confidence = 0.95);

} // namespace genrec::core
