#pragma once
/// @file beam_search.h
/// Trie-constrained decoding of semantic IDs (minionerec-spec §5): batched beam search with a
/// shared-prompt KV cache, constrained sampling for RL rollouts, and teacher-forced per-token
/// log-probs of given completions.
///
/// Every decoded sequence is a complete trie path (SID tokens + terminator), so invalid outputs
/// are impossible by construction, and beams are distinct paths, so the returned list of one
/// prompt never holds the same path twice. Each beam carries its own trie node (no shared step
/// counter, spec bug B4); one trie may serve any number of concurrent searches.
///
/// Scoring. MiniOneRec's processor adds a mask to `log_softmax` over the FULL vocabulary, so a
/// path's score is Σ log p_full(token). Reproducing that needs the full-vocabulary normaliser
/// (logsumexp over all V logits), i.e. the full [rows, V] projection at every step:
/// - Normalisation::FullVocab (default, faithful): project onto all V rows, logsumexp, then read
///   only the allowed tokens' log-probs.
/// - Normalisation::Constrained (fast): project onto the union of the allowed rows only
///   (logitsForRows) and log_softmax over each beam's own allowed set, i.e. the distribution of
///   the constrained model. Rankings can differ from FullVocab because the mass the model puts
///   outside the trie is not charged to the prefix.

#include "core/eval/sid_trie.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace genrec::train {

class Qwen2ForCausalLMImpl;

/// How per-step log-probs are normalised (see the file comment).
enum class Normalisation { FullVocab, Constrained };

/// Settings of constrainedBeamSearch().
struct BeamSearchOptions
{
    int numBeams = 50;          ///< live beams kept per prompt (and the most results returned)
    int numReturn = -1;         ///< results per prompt; -1 = numBeams
    double lengthPenalty = 0.0; ///< final score = sum log p / len^lengthPenalty (len = generated tokens incl. terminator)
    Normalisation normalisation = Normalisation::FullVocab;
    int padTokenId = 0;         ///< left padding of prompts of different lengths
};

/// One decoded path.
struct Hypothesis
{
    std::vector<int32_t> tokens; ///< the whole trie path (SID tokens + terminator)
    std::vector<int64_t> items;  ///< items ending on the path (several on a SID collision)
    double logProb = 0.0;        ///< Σ per-token log-probs
    double score = 0.0;          ///< logProb / len^lengthPenalty (the sort key)
};

/// Beam search constrained to @p trie, for a batch of prompts (token ids, any lengths; the
/// prompt must end where the trie starts, e.g. after "### Response:\n"). The prompts are
/// encoded once (one KV-cache row each) and the cache rows are then expanded/reordered to the
/// live beams; a beam whose path reaches a leaf is finished. Per prompt, returns up to numReturn
/// finished hypotheses, best score first (ties: lexicographic token order), all distinct valid
/// paths. Fewer than numReturn only when the trie has fewer paths.
/// Unlike HF's BeamScorer, every finished candidate is considered (not only those among the
/// top numBeams of the step), so the result is at least as good as HF's.
/// Runs under torch::NoGradGuard on the model's device.
std::vector<std::vector<Hypothesis>> constrainedBeamSearch(Qwen2ForCausalLMImpl &model,
                                                           const core::SidTrie &trie,
                                                           const std::vector<std::vector<int32_t>> &prompts,
                                                           const BeamSearchOptions &options);

/// Settings of constrainedSample().
struct SampleOptions
{
    int numSamples = 16;        ///< independent samples per prompt (duplicates possible)
    double temperature = 1.0;   ///< > 0
    int topK = 0;               ///< keep the k most likely allowed tokens per step; 0 = all allowed
    Normalisation normalisation = Normalisation::FullVocab; ///< for the returned logProb only
    uint64_t seed = 0;
    int padTokenId = 0;
};

/// Constrained ancestral sampling (RL rollouts, mode B of spec §6.3): at each step a token is
/// drawn from softmax(logits / temperature) restricted to the trie's allowed tokens (optionally
/// the top-k of them). Result [prompt][sample]; each is a valid complete path; logProb is the
/// untempered log-prob of the path under @p options.normalisation. Deterministic for a seed.
std::vector<std::vector<Hypothesis>> constrainedSample(Qwen2ForCausalLMImpl &model,
                                                       const core::SidTrie &trie,
                                                       const std::vector<std::vector<int32_t>> &prompts,
                                                       const SampleOptions &options);

/// Teacher-forced per-token log-probs: result[i][j] = log p(completions[i][j] | prompts[i],
/// completions[i][<j]) under the full-vocabulary softmax, or, with Normalisation::Constrained
/// and a @p trie, the softmax over the tokens the trie allows at that point (the completion
/// must then be a trie path prefix). One batched forward pass without a cache.
std::vector<std::vector<double>> teacherForcedLogProbs(Qwen2ForCausalLMImpl &model,
                                                       const std::vector<std::vector<int32_t>> &prompts,
                                                       const std::vector<std::vector<int32_t>> &completions,
                                                       Normalisation normalisation = Normalisation::FullVocab,
                                                       const core::SidTrie *trie = nullptr,
                                                       int padTokenId = 0);

} // namespace genrec::train
