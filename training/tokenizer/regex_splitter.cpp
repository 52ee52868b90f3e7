#include "training/tokenizer/regex_splitter.h"

#include "core/common/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>

namespace genrec::train {

namespace {

struct MatchDataDeleter
{
    void operator()(pcre2_match_data *md) const { pcre2_match_data_free(md); }
};

/// The Unicode White_Space characters, as a character-class body: what Oniguruma (and so HF
/// tokenizers) means by \s. PCRE2's \s with UCP also matches U+180E; this keeps both engines
/// in agreement.
constexpr const char *kWhiteSpaceClass =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

/// Rewrites \s and \S (outside character classes) and \s (inside them) to kWhiteSpaceClass.
std::string withOnigWhiteSpace(const std::string &pattern)
{
    std::string out;
    bool inClass = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char e = pattern[++i];
            if (e == 's')
                out += inClass ? std::string(kWhiteSpaceClass)
                               : "[" + std::string(kWhiteSpaceClass) + "]";
            else if (e == 'S' && !inClass)
                out += "[^" + std::string(kWhiteSpaceClass) + "]";
            else
                out.append({c, e});
            continue;
        }
        out += c;
        if (!inClass && c == '[') {
            inClass = true;
            // A ']' right after '[' or '[^' is a literal member.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^')
                out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']')
                out += pattern[++i];
        } else if (inClass && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
            const std::size_t end = pattern.find(":]", i + 2); // POSIX [:name:]
            if (end != std::string::npos) {
                out.append(pattern, i + 1, end + 2 - (i + 1));
                i = end + 1;
            }
        } else if (inClass && c == ']') {
            inClass = false;
        }
    }
    return out;
}

std::size_t utf8Length(uint8_t lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

} // namespace

RegexSplitter::RegexSplitter(const std::string &pattern, Behavior behavior,
                             const std::string &origin)
    : m_pattern(pattern), m_behavior(behavior)
{
    int errorCode = 0;
    PCRE2_SIZE errorOffset = 0;
    const std::string compiled = withOnigWhiteSpace(pattern);
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()),
                                     compiled.size(), PCRE2_UTF | PCRE2_UCP, &errorCode,
                                     &errorOffset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(errorCode, message, sizeof message);
        core::throwBadInput(origin + ": pre-tokenizer regex does not compile: " +
                                reinterpret_cast<const char *>(message),
                            "the pattern must be valid PCRE2 syntax");
    }
    // JIT makes matching several times faster; without it pcre2_match interprets.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    m_code = code;
}

RegexSplitter::~RegexSplitter()
{
    pcre2_code_free(static_cast<pcre2_code *>(m_code));
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view> &out) const
{
    auto *code = static_cast<pcre2_code *>(m_code);
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(code, nullptr));
    const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t gapStart = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(),
                                   nullptr);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            core::throwRuntime("pre-tokenizer regex failed with PCRE2 error " + std::to_string(rc));
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md.get());
        const std::size_t begin = ov[0];
        const std::size_t end = ov[1];
        if (begin == end) { // an empty match cuts nothing; step over one character
            if (begin >= text.size())
                break;
            pos = begin + utf8Length(static_cast<uint8_t>(text[begin]));
            continue;
        }
        if (begin > gapStart)
            out.push_back(text.substr(gapStart, begin - gapStart));
        if (m_behavior == Behavior::Isolated)
            out.push_back(text.substr(begin, end - begin));
        gapStart = pos = end;
    }
    if (gapStart < text.size())
        out.push_back(text.substr(gapStart));
}

} // namespace genrec::train
