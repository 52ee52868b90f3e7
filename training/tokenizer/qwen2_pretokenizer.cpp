#include "training/tokenizer/qwen2_pretokenizer.h"

#include "training/tokenizer/unicode_text.h"

#include <utf8proc.h>

#include <array>
#include <cstdint>

namespace genrec::train {

namespace {

enum CharClass : uint8_t {
    kLetter = 1,
    kNumber = 2,
    kSpace = 4, ///< White_Space
    kCrLf = 8,  ///< '\r' or '\n' (also kSpace)
};

uint8_t classify(char32_t cp)
{
    static const std::array<uint8_t, 128> ascii = [] {
        std::array<uint8_t, 128> t{};
        for (int c = 0; c < 128; ++c) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                t[c] = kLetter;
            else if (c >= '0' && c <= '9')
                t[c] = kNumber;
            else if (c == ' ' || (c >= '\t' && c <= '\r'))
                t[c] = kSpace;
        }
        t['\r'] |= kCrLf;
        t['\n'] |= kCrLf;
        return t;
    }();
    if (cp < 128)
        return ascii[cp];
    if (text::isWhiteSpace(cp))
        return kSpace;
    switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return kNumber;
    default:
        return 0;
    }
}

/// Case folding for the contraction letters: ASCII lower case, and U+017F LONG S folds to 's'.
char32_t fold(char32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    return cp == 0x17F ? char32_t('s') : cp;
}

struct Char
{
    uint32_t offset;
    uint8_t cls;
    char32_t cp;
};

} // namespace

void splitQwen2(std::string_view text, std::vector<std::string_view> &out)
{
    thread_local std::vector<Char> chars;
    chars.clear();
    for (std::size_t p = 0; p < text.size();) {
        const auto offset = uint32_t(p);
        const char32_t cp = text::nextCodePoint(text, p);
        chars.push_back({offset, classify(cp), cp});
    }
    const std::size_t n = chars.size();
    chars.push_back({uint32_t(text.size()), 0, 0}); // sentinel: no class
    const auto has = [&](std::size_t k, uint8_t cls) { return (chars[k].cls & cls) != 0; };
    const auto isOther = [&](std::size_t k) {
        return k < n && (chars[k].cls & (kLetter | kNumber | kSpace)) == 0;
    };

    // The alternatives in the regex's order; each returns the end of its match, or 0.
    const auto match = [&](std::size_t i) -> std::size_t {
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (chars[i].cp == '\'' && i + 1 < n) {
            const char32_t a = fold(chars[i + 1].cp);
            if (a == 's' || a == 't' || a == 'm' || a == 'd')
                return i + 2;
            if (i + 2 < n) {
                const char32_t b = fold(chars[i + 2].cp);
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                    return i + 3;
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        std::size_t j = i;
        if (!has(i, kCrLf | kLetter | kNumber) && has(i + 1, kLetter))
            j = i + 1;
        if (has(j, kLetter)) {
            while (has(j, kLetter))
                ++j;
            return j;
        }
        // \p{N}
        if (has(i, kNumber))
            return i + 1;
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        j = chars[i].cp == ' ' && isOther(i + 1) ? i + 1 : i;
        if (isOther(j)) {
            while (isOther(j))
                ++j;
            while (has(j, kCrLf))
                ++j;
            return j;
        }
        // Only whitespace is left; e = end of the whitespace run.
        std::size_t e = i;
        while (has(e, kSpace))
            ++e;
        // \s*[\r\n]+ : up to the last line break of the run
        for (std::size_t k = e; k > i; --k) {
            if (has(k - 1, kCrLf))
                return k;
        }
        // \s+(?!\S) : the whole run at the end of the text, else all but its last character
        if (e == n || e - i >= 2)
            return e == n ? e : e - 1;
        // \s+
        return e;
    };

    std::size_t i = 0;
    while (i < n) {
        const std::size_t j = match(i);
        out.push_back(text.substr(chars[i].offset, chars[j].offset - chars[i].offset));
        i = j;
    }
}

} // namespace genrec::train
