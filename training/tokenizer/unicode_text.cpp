#include "training/tokenizer/unicode_text.h"

#include "core/common/error.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>

namespace genrec::train::text {

namespace {

/// Length of the well-formed UTF-8 sequence that starts at s[i], or 0 when the bytes there are
/// ill-formed; `bad` then receives the length of the maximal ill-formed subpart (>= 1).
std::size_t wellFormedLength(std::string_view s, std::size_t i, std::size_t &bad)
{
    const auto byte = [&](std::size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t b0 = byte(i);
    bad = 1;
    if (b0 < 0x80)
        return 1;
    // Unicode Table 3-7: the allowed range of the second byte depends on the first.
    uint8_t lo = 0x80, hi = 0xBF;
    std::size_t len = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0)
            lo = 0xA0;
        if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0)
            lo = 0x90;
        if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (std::size_t k = 1; k < len; ++k) {
        if (i + k >= s.size())
            return 0;
        const uint8_t b = byte(i + k);
        const uint8_t min = k == 1 ? lo : 0x80;
        const uint8_t max = k == 1 ? hi : 0xBF;
        if (b < min || b > max)
            return 0;
        bad = k + 1;
    }
    return len;
}

struct ByteTables
{
    std::array<std::string, 256> byteToChar;
    std::array<int16_t, 324> charToByte{}; // indexed by code point; -1 = not a byte character
};

const ByteTables &byteTables()
{
    static const ByteTables tables = [] {
        ByteTables t;
        t.charToByte.fill(-1);
        const auto printable = [](int b) {
            return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            const char32_t cp = printable(b) ? char32_t(b) : char32_t(256 + extra++);
            appendUtf8(t.byteToChar[b], cp);
            t.charToByte[cp] = int16_t(b);
        }
        return t;
    }();
    return tables;
}

} // namespace

bool isAscii(std::string_view s)
{
    for (const char c : s) {
        if (static_cast<uint8_t>(c) >= 0x80)
            return false;
    }
    return true;
}

std::size_t firstInvalidUtf8(std::string_view s)
{
    std::size_t i = 0;
    while (i < s.size()) {
        if (static_cast<uint8_t>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        std::size_t bad = 0;
        const std::size_t len = wellFormedLength(s, i, bad);
        if (len == 0)
            return i;
        i += len;
    }
    return std::string_view::npos;
}

std::string toValidUtf8Lossy(std::string_view bytes)
{
    if (firstInvalidUtf8(bytes) == std::string_view::npos)
        return std::string(bytes);
    std::string out;
    out.reserve(bytes.size() + 8);
    std::size_t i = 0;
    while (i < bytes.size()) {
        std::size_t bad = 0;
        const std::size_t len = wellFormedLength(bytes, i, bad);
        if (len > 0) {
            out.append(bytes.substr(i, len));
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            i += bad;
        }
    }
    return out;
}

bool isNfcQuick(std::string_view s)
{
    // Ranges whose characters are NFC, have combining class 0 and are never the second element
    // of a canonical composition (checked with Python's unicodedata 14.0 for every code point).
    // A string made only of them is in NFC; anything else goes through utf8proc.
    std::size_t i = 0;
    while (i < s.size()) {
        if (static_cast<uint8_t>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const char32_t cp = nextCodePoint(s, i);
        const bool safe = cp < 0x300 || (cp >= 0x4E00 && cp <= 0x9FFF) ||
                          (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x3001 && cp <= 0x3029) ||
                          (cp >= 0x3040 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA) ||
                          (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0xFF01 && cp <= 0xFF5E) ||
                          (cp >= 0x1F300 && cp <= 0x1FAFF);
        if (!safe)
            return false;
    }
    return true;
}

std::string normalize(std::string_view s, NormalForm form)
{
    if (form == NormalForm::None || (form == NormalForm::Nfc ? isNfcQuick(s) : isAscii(s)))
        return std::string(s);
    int options = UTF8PROC_STABLE;
    switch (form) {
    case NormalForm::Nfc:
        options |= UTF8PROC_COMPOSE;
        break;
    case NormalForm::Nfd:
        options |= UTF8PROC_DECOMPOSE;
        break;
    case NormalForm::Nfkc:
        options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    case NormalForm::Nfkd:
        options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    case NormalForm::None:
        break;
    }
    utf8proc_uint8_t *mapped = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(s.data()),
                     static_cast<utf8proc_ssize_t>(s.size()), &mapped,
                     static_cast<utf8proc_option_t>(options));
    if (n < 0)
        core::throwRuntime(std::string("Unicode normalisation failed: ") + utf8proc_errmsg(n));
    std::string out(reinterpret_cast<const char *>(mapped), static_cast<std::size_t>(n));
    std::free(mapped);
    return out;
}

char32_t nextCodePoint(std::string_view s, std::size_t &i)
{
    const auto b = [&](std::size_t k) { return char32_t(static_cast<uint8_t>(s[k])); };
    const char32_t b0 = b(i);
    if (b0 < 0x80) {
        i += 1;
        return b0;
    }
    if (b0 < 0xE0) {
        const char32_t cp = ((b0 & 0x1F) << 6) | (b(i + 1) & 0x3F);
        i += 2;
        return cp;
    }
    if (b0 < 0xF0) {
        const char32_t cp = ((b0 & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
        i += 3;
        return cp;
    }
    const char32_t cp = ((b0 & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) |
                        ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
    i += 4;
    return cp;
}

void appendUtf8(std::string &out, char32_t cp)
{
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

bool isWhiteSpace(char32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

const std::string &byteToUnicode(uint8_t b)
{
    return byteTables().byteToChar[b];
}

std::string bytesToByteLevel(std::string_view bytes)
{
    const ByteTables &t = byteTables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes)
        out += t.byteToChar[static_cast<uint8_t>(c)];
    return out;
}

bool byteLevelToBytes(std::string_view token, std::string &out)
{
    const ByteTables &t = byteTables();
    out.clear();
    std::size_t i = 0;
    while (i < token.size()) {
        std::size_t bad = 0;
        if (wellFormedLength(token, i, bad) == 0)
            return false;
        const char32_t cp = nextCodePoint(token, i);
        if (cp >= t.charToByte.size() || t.charToByte[cp] < 0)
            return false;
        out += char(t.charToByte[cp]);
    }
    return true;
}

} // namespace genrec::train::text
