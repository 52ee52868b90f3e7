#pragma once
/// @file bpe_trainer.h
/// A small byte-level BPE trainer (the algorithm of HF's BpeTrainer without its options): counts
/// adjacent symbol pairs over pre-tokenized words and repeatedly merges the most frequent one.
/// Internal to genrec_tokenizer; BpeTokenizer::trainCompact is the public entry point.

#include "training/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genrec::train {

/// What training learned. Token i is `tokens[i]` as raw bytes: the first 256 are the single bytes
/// (token b = byte b); each merge (a, b) created, or re-used, the token tokens[a] + tokens[b].
struct LearnedMerges
{
    std::vector<std::string> tokens;
    std::vector<std::pair<int32_t, int32_t>> merges; ///< in rank order (first = applied first)
};

/// Learns at most `numMerges` merges from `words` (raw-byte pre-tokens with their counts; pass them
/// in a fixed order for reproducible ids). Stops early when no pair occurs at least twice or when
/// `progress(mergesDone, numMerges)` returns false. Ties between equally frequent pairs go to the
/// smaller (left id, right id).
LearnedMerges learnByteLevelMerges(const std::vector<std::pair<std::string, int64_t>> &words,
                                   int numMerges, const TokenizerProgress &progress);

} // namespace genrec::train
