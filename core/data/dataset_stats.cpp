#include "core/data/dataset_stats.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace genrec::core {

DatasetStats computeDatasetStats(const Dataset &ds)
{
    DatasetStats s;
    s.name = ds.name;
    s.layout = ds.files.layout;
    s.items = static_cast<int64_t>(ds.items.size());
    s.levels = ds.levels();
    s.sidTokens = static_cast<int64_t>(ds.sidVocabulary().size());
    std::vector<std::set<std::string>> codes(static_cast<size_t>(s.levels));
    s.codebookPerLevel.assign(static_cast<size_t>(s.levels), 0);
    for (const Item &i : ds.items) {
        if (i.title.empty())
            ++s.itemsWithoutTitle;
        for (size_t l = 0; l < i.sidTokens.size(); ++l) {
            const std::string &t = i.sidTokens[l];
            codes[l].insert(t);
            // Tokens look like <a_123>: the code is the number after the last '_'.
            const auto us = t.rfind('_');
            if (us != std::string::npos) {
                try {
                    s.codebookPerLevel[l] = std::max<int64_t>(s.codebookPerLevel[l], std::stoll(t.substr(us + 1)) + 1);
                } catch (const std::exception &) {
                }
            }
        }
    }
    for (const auto &c : codes)
        s.codesPerLevel.push_back(static_cast<int64_t>(c.size()));
    const auto bySid = ds.itemsBySid();
    s.distinctSids = static_cast<int64_t>(bySid.size());
    for (const auto &[sid, ids] : bySid) {
        s.maxItemsPerSid = std::max<int64_t>(s.maxItemsPerSid, static_cast<int64_t>(ids.size()));
        if (ids.size() > 1) {
            ++s.collidedSids;
            s.itemsInCollisions += static_cast<int64_t>(ids.size());
        }
    }
    std::set<std::string> users;
    for (const char *name : {"train", "valid", "test"}) {
        const auto &rows = ds.split(name);
        std::set<std::string> splitUsers;
        for (const Sample &r : rows) {
            users.insert(r.userId);
            splitUsers.insert(r.userId);
            ++s.historyLengths[static_cast<int64_t>(r.history.size())];
        }
        s.rows[name] = static_cast<int64_t>(rows.size());
        s.usersPerSplit[name] = static_cast<int64_t>(splitUsers.size());
    }
    s.users = static_cast<int64_t>(users.size());
    if (!ds.files.info.empty()) {
        std::ifstream in(ds.files.info);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty())
                ++s.infoLines;
    }
    return s;
}

nlohmann::json statsToJson(const DatasetStats &s)
{
    nlohmann::json hist = nlohmann::json::object();
    for (const auto &[len, n] : s.historyLengths)
        hist[std::to_string(len)] = n;
    return {{"dataset", s.name},
            {"layout", s.layout},
            {"items", s.items},
            {"users", s.users},
            {"distinct_sids", s.distinctSids},
            {"collided_sids", s.collidedSids},
            {"items_in_collisions", s.itemsInCollisions},
            {"max_items_per_sid", s.maxItemsPerSid},
            {"levels", s.levels},
            {"codes_per_level", s.codesPerLevel},
            {"codebook_per_level", s.codebookPerLevel},
            {"sid_tokens", s.sidTokens},
            {"rows", s.rows},
            {"users_per_split", s.usersPerSplit},
            {"history_length_histogram", hist},
            {"items_without_title", s.itemsWithoutTitle},
            {"info_lines", s.infoLines}};
}

std::string statsToText(const DatasetStats &s)
{
    std::ostringstream o;
    o << "dataset            " << s.name << " (" << s.layout << " layout)\n";
    o << "items              " << s.items << "\n";
    o << "users              " << s.users << "\n";
    o << "distinct SIDs      " << s.distinctSids << " (" << s.collidedSids << " shared by "
      << s.itemsInCollisions << " items, at most " << s.maxItemsPerSid << " per SID)\n";
    o << "SID levels         " << s.levels << "; codes used per level:";
    for (auto c : s.codesPerLevel)
        o << " " << c;
    o << "; codebook sizes:";
    for (auto c : s.codebookPerLevel)
        o << " " << c;
    o << "\n";
    o << "new SID tokens     " << s.sidTokens << "\n";
    o << "rows               train " << s.rows.at("train") << ", valid " << s.rows.at("valid") << ", test "
      << s.rows.at("test") << "\n";
    o << "users per split    train " << s.usersPerSplit.at("train") << ", valid " << s.usersPerSplit.at("valid")
      << ", test " << s.usersPerSplit.at("test") << "\n";
    if (s.itemsWithoutTitle)
        o << "items w/o title    " << s.itemsWithoutTitle << "\n";
    if (s.infoLines)
        o << "info file lines    " << s.infoLines << "\n";
    o << "history length     rows\n";
    int64_t maxN = 1;
    for (const auto &[len, n] : s.historyLengths)
        maxN = std::max(maxN, n);
    for (const auto &[len, n] : s.historyLengths) {
        const auto bar = static_cast<size_t>(std::max<int64_t>(1, 40 * n / maxN));
        o << "  " << (len < 10 ? " " : "") << len << std::string(14, ' ') << n << "  " << std::string(bar, '#') << "\n";
    }
    return o.str();
}

} // namespace genrec::core
