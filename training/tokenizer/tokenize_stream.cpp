#include "training/tokenizer/tokenize_stream.h"

#include "core/common/error.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <istream>
#include <limits>
#include <ostream>

namespace genrec::train {

namespace {

std::vector<int32_t> parseIds(const std::string &line, const std::string &where)
{
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error &) {
        core::throwBadInput(where + ": not JSON; expected an array of token ids like [9707, 11]");
    }
    if (!doc.is_array())
        core::throwBadInput(where + ": expected a JSON array of token ids like [9707, 11]");
    std::vector<int32_t> ids;
    ids.reserve(doc.size());
    for (const auto &v : doc) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
            v.get<int64_t>() > std::numeric_limits<int32_t>::max())
            core::throwBadInput(where + ": " + v.dump() + " is not a token id");
        ids.push_back(v.get<int32_t>());
    }
    return ids;
}

} // namespace

int64_t tokenizeStream(const BpeTokenizer &tokenizer, std::istream &in, std::ostream &out,
                       const TokenizeStreamOptions &options)
{
    std::string line;
    std::string buffer;
    int64_t lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        const std::string where = options.inputName + " line " + std::to_string(lineNo);
        buffer.clear();
        try {
            if (options.decode) {
                const std::string text = tokenizer.decode(parseIds(line, where),
                                                          options.skipSpecial);
                buffer = nlohmann::json(text).dump();
            } else {
                const std::vector<int32_t> ids = tokenizer.encode(line);
                buffer += '[';
                for (std::size_t i = 0; i < ids.size(); ++i) {
                    if (i)
                        buffer += ',';
                    buffer += std::to_string(ids[i]);
                }
                buffer += ']';
            }
        } catch (const core::Error &e) {
            const std::string msg = e.what();
            if (msg.rfind(where, 0) == 0)
                throw;
            throw core::Error(e.kind(), where + ": " + msg, e.hint());
        }
        buffer += '\n';
        out << buffer << std::flush;
    }
    return lineNo;
}

} // namespace genrec::train
