#pragma once
/// @file evaluator.h
/// Offline next-item evaluation (minionerec-spec §7): prompts from a split's histories,
/// trie-constrained beam search, HR@K / NDCG@K with calc.py semantics (items sharing a SID
/// share credit; invalid = miss), catalogue coverage, per-SID-level accuracy, throughput.
/// No Torch in this header: the SFT trainer and the CLI include it cheaply.

#include "core/data/dataset.h"
#include "core/eval/sid_trie.h"
#include "training/decode/beam_search.h"
#include "training/sft/prompts.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace genrec::core {
struct EvalConfig;
}

namespace genrec::train {

class Qwen2ForCausalLMImpl;

/// The next-SID prompt text for a history of SID strings, taken from the SFT prompt builder
/// (training/sft/prompts.h nextSidPrompt, `fixed` template: SFT task-1 envelope and wording, so
/// SFT, RL and evaluation share one prompt). Returned as {preamble, user block}, which the spec
/// tokenises separately and concatenates; the user block ends with "### Response:\n".
/// `compact` (prompt_template) gives the envelope-free form `sid_seq2sid: <SIDs>\n` instead.
std::pair<std::string, std::string> nextSidPromptParts(const std::vector<std::string> &historySids,
                                                       PromptTemplate tmpl = PromptTemplate::Fixed);

/// Token ids of the next-SID prompt (parts tokenised separately, then concatenated).
std::vector<int32_t> encodeNextSidPrompt(const BpeTokenizer &tokenizer,
                                         const std::vector<std::string> &historySids,
                                         PromptTemplate tmpl = PromptTemplate::Fixed);

/// The terminator appended to every SID in the trie: the ids of "\n", then EOS.
std::vector<int32_t> sidTerminator(const BpeTokenizer &tokenizer);

/// Builds the decoding trie of @p dataset's catalogue: per item, the ids of its SID tokens
/// (added tokens of @p tokenizer) followed by sidTerminator(). Items sharing a SID share a path.
/// Throws core::Error(BadInput) naming the item when a SID token is not in the tokenizer.
core::SidTrie buildSidTrie(const core::Dataset &dataset, const BpeTokenizer &tokenizer);

/// Settings of an evaluation.
struct EvalOptions
{
    std::string split = "test";
    int numBeams = 50;
    std::vector<int> ks = {1, 3, 5, 10, 20, 50}; ///< k > numBeams are dropped (as calc.py does)
    int batchSize = 8;              ///< prompts per beam-search batch
    double lengthPenalty = 0.0;
    int64_t maxSamples = -1;        ///< -1 = every row of the split (else the first N)
    Normalisation normalisation = Normalisation::FullVocab;
    int numExamples = 3;            ///< sample predictions kept for display
    int exampleTopN = 5;            ///< predictions shown per sample
    /// The run's prompt_template (the prompt must be the one the model was trained with).
    PromptTemplate promptTemplate = PromptTemplate::Fixed;
};

/// EvalOptions from a run config's `eval:` section.
EvalOptions evalOptionsFromConfig(const core::EvalConfig &config);

/// One displayed prediction.
struct EvalExample
{
    std::string userId;
    std::vector<std::string> historyTitles;
    std::string targetSid;
    std::string targetTitle;
    int32_t rank = -1;
    struct Prediction
    {
        std::string sid;
        std::string title; ///< titles of the items on the SID, joined by " | "
        double score = 0.0;
    };
    std::vector<Prediction> top;
};

/// Result of Evaluator::evaluate().
struct EvalReport
{
    /// "hr@K", "ndcg@K" per K, "coverage@K" (share of catalogue SIDs in some top-K list),
    /// "level_acc@L" (1-based SID level, top-1 prefix accuracy), "invalid" (always 0 here),
    /// "users_per_s", "rows".
    std::map<std::string, double> metrics;
    std::vector<std::string> userIds; ///< per evaluated row (for RunStore::addEvalResult)
    std::vector<int32_t> ranks;       ///< per row: 0-based rank of the target SID, -1 = miss
    std::vector<EvalExample> examples;
    int64_t numRows = 0;
    double seconds = 0.0;
    bool cancelled = false;           ///< the progress callback returned false; metrics cover the rows done
    /// metrics as a JSON object text ({"hr@10": 0.1, ...}) for EvalResult::metricsJson.
    std::string metricsJson() const;
};

/// Progress: rows done / total; return false to cancel.
using EvalProgress = std::function<bool(int64_t done, int64_t total)>;

/// Evaluates a model on a dataset split. Builds the trie once; evaluate() may be called many
/// times (periodic validation). Holds references: model, tokenizer and dataset must outlive it.
class Evaluator
{
public:
    Evaluator(Qwen2ForCausalLMImpl &model, const BpeTokenizer &tokenizer, const core::Dataset &dataset);

    /// Runs the evaluation (no grad; puts the model in eval mode and restores training mode).
    /// Throws core::Error(BadInput) for an unknown split or empty ks.
    EvalReport evaluate(const EvalOptions &options, const EvalProgress &progress = {});

    const core::SidTrie &trie() const { return m_trie; }

private:
    Qwen2ForCausalLMImpl &m_model;
    const BpeTokenizer &m_tokenizer;
    const core::Dataset &m_dataset;
    core::SidTrie m_trie;
    std::vector<int32_t> m_terminator;
};

} // namespace genrec::train
