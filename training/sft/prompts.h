#pragma once
/// @file prompts.h
/// SFT prompts (minionerec-spec §4.2): the MiniOneRec envelope and its six tasks, as text.
/// Plain C++ (no Torch): the studio can preview prompts and the tests can golden them.
///
/// Envelope: a "preamble" part (`Below is an instruction … request. \n\n### Instruction:\n
/// <instruction>\n\n`) and a "user" part (`### User Input: \n<input>\n\n### Response:\n`), which
/// are tokenised separately and concatenated, then the response (tokenised separately too).
/// Response = target + "\n" (+ EOS, added at tokenisation). Only response tokens are supervised.
///
/// Two templates (`prompt_template`):
///  - `compat`: MiniOneRec's texts exactly, typos included ("palyed", "{category}s", "recetenly"),
///    and its bug B2: the title2sid / sid2title user part continues after "### Response:\n" with
///    the answer and "\n", so the model only learns to copy it. title_seq2title picks one of the
///    11 instruction sentences per sample with our own seeded RNG (Python's `random` sequence is
///    not reproduced) and ends the instruction with "\n \n" as data.py does.
///  - `fixed` (default): the same texts with B2 removed (every prompt ends at "### Response:\n")
///    and "palyed" spelled "played". Bug B3: the next-SID task has ONE wording — the SFT task-1
///    envelope (preamble + "The user has interacted with items … may expect?") — that SFT,
///    RL and evaluation all take from nextSidPrompt(), instead of MiniOneRec's three variants.
///  - `compact`: no envelope, for models trained from scratch (presets), where the envelope's
///    ~60 tokens per sample are pure cost: preamble "", user `<task>: <input>\n`, response
///    `<target>\n`; SID sequences are concatenated (`<a_1><b_2><c_3><a_4>…`), title lists are
///    joined with " | ". 3–4× fewer tokens per next-SID sample than `fixed`.

#include "core/data/dataset.h"

#include <cstdint>
#include <string>
#include <vector>

namespace genrec::train {

enum class PromptTemplate { Fixed, Compat, Compact };

/// "fixed" | "compat" | "compact"; throws core::Error(BadInput) for anything else.
PromptTemplate parsePromptTemplate(const std::string &name);

/// One SFT example as text.
struct SftExample
{
    std::string task;     ///< sid_seq2sid, title2sid, ...
    std::string preamble; ///< envelope up to and including the instruction block
    std::string user;     ///< "### User Input: \n…### Response:\n" (+ leaked answer in compat B2)
    std::string response; ///< target + "\n" (EOS is appended by the tokeniser)
};

/// The SFT task names, in MiniOneRec order.
const std::vector<std::string> &sftTaskNames();

/// The next-SID prompt shared by SFT, RL and evaluation (response = target SID + "\n").
SftExample nextSidPrompt(PromptTemplate tmpl, const std::vector<std::string> &historySids,
                         const std::string &targetSid = {});

/// Builds the examples of `tasks` from `split` ("train" for the mixture, "valid" gives the
/// next-SID validation set). `category` is the prompt phrase (e.g. "office products").
/// `maxSamples` > 0 keeps the first N rows of each task after a seeded shuffle of that task.
/// The result is in task order; shuffle it with shuffleIndices(). Throws core::Error(BadInput)
/// for an unknown task name.
std::vector<SftExample> buildSftExamples(const core::Dataset &dataset, const std::string &split,
                                         const std::vector<std::string> &tasks, PromptTemplate tmpl,
                                         const std::string &category, uint64_t seed,
                                         int64_t maxSamples = -1);

/// A deterministic permutation of [0, n) from `seed` (splitmix64 + Fisher-Yates: the same on
/// every platform).
std::vector<int64_t> shuffleIndices(int64_t n, uint64_t seed);

/// splitmix64 step: the engine's own portable PRNG.
uint64_t splitmix64(uint64_t &state);

} // namespace genrec::train
