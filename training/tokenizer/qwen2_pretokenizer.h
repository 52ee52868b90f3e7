#pragma once
/// @file qwen2_pretokenizer.h
/// A hand-written scanner for the Qwen2 pre-tokenizer regex (kQwen2PreTokenizerRegex), several
/// times faster than running the regex. Internal to genrec_tokenizer.

#include <string_view>
#include <vector>

namespace genrec::train {

/// Appends the pieces that HF's `Split(kQwen2PreTokenizerRegex, Isolated)` cuts `text` (valid
/// UTF-8) into, with Oniguruma's semantics: \s is the Unicode White_Space property, \p{L} and
/// \p{N} are utf8proc's general categories, and the contractions match case-insensitively
/// (including 'ſ' for 's'). Pieces point into `text`.
void splitQwen2(std::string_view text, std::vector<std::string_view> &out);

} // namespace genrec::train
