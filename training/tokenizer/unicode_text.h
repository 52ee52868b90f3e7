#pragma once
/// @file unicode_text.h
/// UTF-8 helpers of the tokenizer: validation, lossy repair, Unicode normalisation (utf8proc) and
/// the GPT-2 ByteLevel byte↔unicode mapping. Internal to genrec_tokenizer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace genrec::train::text {

/// Unicode normalisation forms a tokenizer.json normalizer may ask for.
enum class NormalForm { None, Nfc, Nfd, Nfkc, Nfkd };

/// True when every byte is < 0x80 (ASCII text is invariant under every normal form).
bool isAscii(std::string_view s);

/// Offset of the first byte that starts an ill-formed UTF-8 sequence; npos when `s` is valid.
std::size_t firstInvalidUtf8(std::string_view s);

/// `bytes` with every maximal ill-formed subsequence replaced by U+FFFD, the policy of Rust's
/// String::from_utf8_lossy and of WHATWG TextDecoder (so decode() matches HF).
std::string toValidUtf8Lossy(std::string_view bytes);

/// True when `s` (valid UTF-8) is certainly in NFC: every character comes from a set of ranges
/// that never change or combine under NFC (ASCII, Latin-1, CJK, Hangul syllables, kana, emoji...).
/// False means "maybe not": normalize() then runs the full algorithm.
bool isNfcQuick(std::string_view s);

/// Normalises valid UTF-8 text. Throws core::Error (Runtime) if utf8proc fails.
std::string normalize(std::string_view s, NormalForm form);

/// Decodes the code point at `s[i]` (valid UTF-8 assumed) and advances `i` past it.
char32_t nextCodePoint(std::string_view s, std::size_t &i);

/// Appends the UTF-8 encoding of `cp`.
void appendUtf8(std::string &out, char32_t cp);

/// Unicode White_Space property (what Rust's char::is_whitespace tests).
bool isWhiteSpace(char32_t cp);

/// ByteLevel: the printable character (as UTF-8) that stands for byte `b` in vocab strings.
const std::string &byteToUnicode(uint8_t b);

/// ByteLevel: raw bytes → their vocab spelling (e.g. " the" → "Ġthe").
std::string bytesToByteLevel(std::string_view bytes);

/// ByteLevel inverse: vocab spelling → raw bytes. Returns false (and leaves `out` unspecified)
/// when some character of `token` is not one of the 256 byte characters.
bool byteLevelToBytes(std::string_view token, std::string &out);

} // namespace genrec::train::text
