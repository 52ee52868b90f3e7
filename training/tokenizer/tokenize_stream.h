#pragma once
/// @file tokenize_stream.h
/// Line-oriented encode/decode filter behind `genrec tokenize`.

#include <cstdint>
#include <iosfwd>
#include <string>

namespace genrec::train {

class BpeTokenizer;

/// What tokenizeStream() does with each line.
struct TokenizeStreamOptions
{
    bool decode = false;      ///< false: text → ids; true: ids → text
    bool skipSpecial = false; ///< decode only: drop special tokens
    std::string inputName = "stdin"; ///< names the input in error messages
};

/// Reads `in` line by line ('\n'-separated; the newline is not part of the text). Encode mode
/// writes each line's ids as one JSON array (no special tokens added); decode mode reads each
/// line as a JSON array of ids and writes the text as one JSON string. One output line per input
/// line, flushed as it is written (usable as a co-process). Returns the number of lines.
/// Throws core::Error (BadInput) "<inputName> line N: ..." for invalid UTF-8, a line that is not a
/// JSON array of integers, or an id outside the vocabulary.
int64_t tokenizeStream(const BpeTokenizer &tokenizer, std::istream &in, std::ostream &out,
                       const TokenizeStreamOptions &options = {});

} // namespace genrec::train
