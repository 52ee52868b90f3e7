#pragma once
/// @file regex_splitter.h
/// The `Split` pre-tokenizer of HF tokenizers: a PCRE2 regex (UTF + Unicode properties, JIT when
/// available) that cuts text into pieces. Internal to genrec_tokenizer.

#include <string>
#include <string_view>
#include <vector>

namespace genrec::train {

/// A compiled pre-tokenizer regex. Immutable after construction; split() may run concurrently.
class RegexSplitter
{
public:
    /// What happens to the text a match covers (HF SplitDelimiterBehavior).
    enum class Behavior {
        Isolated, ///< matches and the gaps between them each become pieces
        Removed,  ///< only the gaps become pieces
    };

    /// Compiles `pattern` (Oniguruma/PCRE syntax as found in tokenizer.json). Throws core::Error
    /// (BadInput) naming `origin` and the PCRE2 message when it does not compile.
    RegexSplitter(const std::string &pattern, Behavior behavior, const std::string &origin);
    ~RegexSplitter();
    RegexSplitter(const RegexSplitter &) = delete;
    RegexSplitter &operator=(const RegexSplitter &) = delete;

    /// Appends the non-empty pieces of `text` (valid UTF-8) to `out`; they point into `text`.
    void split(std::string_view text, std::vector<std::string_view> &out) const;

    const std::string &pattern() const { return m_pattern; }

private:
    std::string m_pattern;
    Behavior m_behavior;
    void *m_code = nullptr; // pcre2_code_8 *
};

} // namespace genrec::train
