#pragma once
/// @file sid_tokens.h
/// The semantic-ID (SID) tokens MiniOneRec adds to the tokenizer, in MiniOneRec's order.

#include <string>
#include <vector>

namespace genrec::train {

/// The set of every token string in an `index.json` document ({"0": ["<a_1>", "<b_2>", ...], ...}),
/// sorted as Python sorts strings (by code point = byte-wise for UTF-8). '>' sorts after the
/// digits, so the order is <a_0>, <a_100>, ..., <a_109>, <a_10>, <a_110>, ..., <a_19>, <a_1>,
/// <a_200>, ... (not numeric). This is the order `tokenizer.add_tokens(sorted(set(...)))` gives
/// them ids in, so a port must keep it to stay checkpoint-compatible (spec §3). Throws
/// core::Error (BadInput) naming `origin` and the item key when the document is not an object of
/// string arrays.
std::vector<std::string> sidTokensFromIndexJson(const std::string &jsonText,
                                                const std::string &origin);

/// Reads `indexJsonPath` and returns sidTokensFromIndexJson() of it. Throws core::Error (BadInput)
/// when the file cannot be read.
std::vector<std::string> loadSidTokens(const std::string &indexJsonPath);

} // namespace genrec::train
