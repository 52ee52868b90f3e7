#include "training/tokenizer/sid_tokens.h"

#include "core/common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace genrec::train {

std::vector<std::string> sidTokensFromIndexJson(const std::string &jsonText,
                                                const std::string &origin)
{
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(jsonText);
    } catch (const nlohmann::json::parse_error &e) {
        core::throwBadInput(origin + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_object())
        core::throwBadInput(origin + ": expected an object {\"item id\": [\"<a_1>\", ...], ...}");
    std::vector<std::string> tokens;
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        if (!it.value().is_array())
            core::throwBadInput(origin + ": item \"" + it.key() + "\" is not an array of tokens");
        for (const auto &t : it.value()) {
            if (!t.is_string() || t.get_ref<const std::string &>().empty())
                core::throwBadInput(origin + ": item \"" + it.key() +
                                    "\" holds a value that is not a non-empty string");
            tokens.push_back(t.get<std::string>());
        }
    }
    // std::string compares like memcmp (unsigned bytes): UTF-8 byte order is code point order.
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
    return tokens;
}

std::vector<std::string> loadSidTokens(const std::string &indexJsonPath)
{
    std::ifstream in(indexJsonPath, std::ios::binary);
    if (!in)
        core::throwBadInput(indexJsonPath + ": cannot read the SID index",
                            "pass the dataset's <category>.index.json");
    std::ostringstream buf;
    buf << in.rdbuf();
    return sidTokensFromIndexJson(buf.str(), indexJsonPath);
}

} // namespace genrec::train
