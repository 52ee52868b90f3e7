#pragma once
/// @file dataset_stats.h
/// The summary `genrec data inspect` prints and the studio shows next to the dataset picker.

#include "core/data/dataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace genrec::core {

struct DatasetStats
{
    std::string name;
    std::string layout;
    int64_t items = 0;
    int64_t users = 0;               ///< distinct user ids over all splits
    int64_t distinctSids = 0;
    int64_t collidedSids = 0;        ///< SIDs shared by more than one item
    int64_t itemsInCollisions = 0;   ///< items whose SID is shared
    int64_t maxItemsPerSid = 0;
    int levels = 0;
    std::vector<int64_t> codesPerLevel;    ///< distinct codes used at each level
    std::vector<int64_t> codebookPerLevel; ///< max code + 1 at each level (the codebook size)
    int64_t sidTokens = 0;                 ///< new tokens the model gets
    std::map<std::string, int64_t> rows;   ///< per split
    std::map<std::string, int64_t> usersPerSplit;
    std::map<int64_t, int64_t> historyLengths; ///< length -> rows (all splits)
    int64_t itemsWithoutTitle = 0;
    int64_t infoLines = 0;                 ///< lines of the info file (0 if absent)
};

DatasetStats computeDatasetStats(const Dataset &ds);
nlohmann::json statsToJson(const DatasetStats &s);
/// Multi-line human summary.
std::string statsToText(const DatasetStats &s);

} // namespace genrec::core
