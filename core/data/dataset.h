#pragma once
/// @file dataset.h
/// A MiniOneRec-format dataset in memory: the item catalogue with semantic IDs and the
/// train/valid/test samples (history -> next item).
///
/// Layouts read (spec §1.2-1.3):
///  - MiniOneRec: `<dir>/{train,valid,test}/<ds>*.csv`, `<dir>/index/<ds>.index.json`,
///    `<dir>/index/<ds>.item.json`, optional `<dir>/info/<ds>*.txt`;
///  - flat: `<dir>/<ds>.{train,valid,test}.csv`, `<dir>/<ds>.index.json`, `<dir>/<ds>.item.json`,
///    optional `<dir>/<ds>.info.txt`.
/// Every problem is a core::Error(BadInput) naming file, line and column.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace genrec::core {

struct Item
{
    int64_t id = 0;
    std::string title;
    std::string description;
    std::vector<std::string> sidTokens; ///< e.g. {"<a_1>", "<b_2>", "<c_3>"}
    std::string sid;                    ///< tokens concatenated: "<a_1><b_2><c_3>"
};

/// One (history -> target) row of a split.
struct Sample
{
    std::string userId;
    std::vector<int64_t> history; ///< item ids, oldest first
    int64_t target = 0;
    int64_t line = 0;             ///< 1-based CSV line, for messages
};

/// Where the files of a dataset are.
struct DatasetFiles
{
    std::string dir;
    std::string name;
    std::string layout; ///< "minionerec" | "flat"
    std::string train, valid, test;
    std::string index, items, info; ///< info may be empty
};

class Dataset
{
public:
    std::string name;
    DatasetFiles files;
    std::vector<Item> items; ///< sorted by id
    std::vector<Sample> train, valid, test;

    /// The item with this id, or nullptr.
    const Item *item(int64_t id) const;
    /// The titles of these items joined by " | " (an unknown id appears as its number).
    std::string titlesOf(const std::vector<int64_t> &ids) const;
    /// Index of the item with this id in `items`, or -1.
    int64_t indexOf(int64_t id) const;
    /// Samples of "train" | "valid" | "test"; throws BadInput for another name.
    const std::vector<Sample> &split(const std::string &name) const;
    /// Every distinct SID token, sorted as Python sorts strings (MiniOneRec's vocabulary order).
    std::vector<std::string> sidVocabulary() const;
    /// Number of SID levels (the longest SID).
    int levels() const;
    /// Item ids grouped by SID string (collisions have several).
    std::unordered_map<std::string, std::vector<int64_t>> itemsBySid() const;
    /// Category phrase for prompts: "office products" for Office_Products.
    std::string categoryPhrase() const;
    /// Content hash of the samples and catalogue (hex), recorded with runs.
    std::string dataHash() const;
    /// Hash of the item -> SID map (hex).
    std::string sidHash() const;

    void buildIndex();

private:
    std::unordered_map<int64_t, int64_t> m_index;
};

/// Finds the files of `name` (or of the only dataset in `dir` when name is empty).
DatasetFiles locateDataset(const std::string &dir, const std::string &name);

/// Progress callback: return false to cancel (the load throws Error(Interrupted)).
using ProgressFn = std::function<bool(int64_t done, int64_t total)>;

/// Loads and cross-checks everything (ids exist, SIDs agree with the index, list columns agree).
Dataset loadDataset(const std::string &dir, const std::string &name, const ProgressFn &progress = {});

/// The canonical CSV header of MiniOneRec's splits.
const std::vector<std::string> &csvColumns();

/// 64-bit FNV-1a, hex: a cheap content fingerprint.
std::string fnv1aHex(const std::string &data, uint64_t seed = 1469598103934665603ull);

} // namespace genrec::core
