#pragma once
/// @file sft_data.h
/// Tokenisation and label masking of SFT examples (minionerec-spec §4.3). No Torch.
///
/// ids = encode(preamble) ++ encode(user) ++ encode(response) ++ [EOS]; labels are -100
/// (kIgnoreLabel) on every prompt token and equal to the ids on the response (target, "\n",
/// EOS). Sequences longer than cutoffLen keep their LAST cutoffLen tokens (left truncation,
/// labels alike). Batches are left-padded with the pad id (= EOS) to a multiple of 8.

#include "training/sft/prompts.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <vector>

namespace genrec::train {

inline constexpr int32_t kIgnoreLabel = -100;

struct TokenizedExample
{
    std::vector<int32_t> inputIds;
    std::vector<int32_t> labels; ///< same length; kIgnoreLabel on the prompt
};

/// Tokenises one example. Throws core::Error(BadInput) when the tokenizer has no EOS.
TokenizedExample tokenizeExample(const BpeTokenizer &tokenizer, const SftExample &example,
                                 int64_t cutoffLen);

/// Tokenises many (in parallel over the hardware threads; the result is in input order).
std::vector<TokenizedExample> tokenizeExamples(const BpeTokenizer &tokenizer,
                                               const std::vector<SftExample> &examples,
                                               int64_t cutoffLen);

} // namespace genrec::train
