#include "training/sft/prompts.h"

#include "core/common/error.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace genrec::train {

namespace {

const char *const kPreambleHead =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request. \n\n### Instruction:\n";

const char *const kNextSidInstruction = "Can you predict the next possible item that the user may expect?";

std::string preamble(const std::string &instruction) { return kPreambleHead + instruction + "\n\n"; }

std::string userBlock(const std::string &input) { return "### User Input: \n" + input + "\n\n### Response:\n"; }

std::string joined(const std::vector<std::string> &parts, const std::string &sep, const std::string &quote = {})
{
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += sep;
        out += quote + parts[i] + quote;
    }
    return out;
}

/// data.py SFTData's 11 instruction sentences (typos verbatim).
std::vector<std::string> titleSeqInstructions(const std::string &c)
{
    return {
        "Given a list of " + c + " the user recetenly enjoy, please write a new " + c + " that the user may bought",
        "Considering the " + c + " that has recently captured the user's interest, kindly create a compilation of other " + c + " that the user might have played prior to this.",
        "Based on the user's current gaming preference, please draft a list of potential " + c + " they may have experienced beforehand.",
        "Reflecting on the " + c + " the user has taken pleasure in recently, we request that you formulate a list of " + c + " that may have preceded the user's current enjoyment.",
        "In light of the recent gaming enjoyment expressed by the user, please assemble a list of " + c + " that could potentially include past titles the user has engaged with.",
        "Taking into account the " + c + " that has lately provided enjoyment to the user, please put together an inventory of " + c + " the user might have explored previously.",
        "Given the user's newfound enjoyment of a particular " + c + ", would you kindly generate a roster of other " + c + " that might resonate with their past gaming experiences?",
        "In response to the user's recent fondness for a specific " + c + ", we seek your assistance in listing possible " + c + " the user may have delighted in earlier.",
        "With respect to the " + c + " currently enjoyed by the user, please compile a suggestive list of " + c + " they may have played in the past.",
        "Bearing in mind the " + c + " that the user has recently been enthralled by, please construct a catalog of other " + c + " that the user potentially partook in beforehand.",
        "In relation to the user's recent entertainment with a given " + c + ", it would be appreciated if you could curate a list of " + c + " that might form part of the user's previous gaming history.",
    };
}

struct History
{
    std::vector<std::string> sids, titles;
    const core::Item *target = nullptr;
};

History historyOf(const core::Dataset &ds, const core::Sample &s)
{
    History h;
    for (int64_t id : s.history) {
        const core::Item *it = ds.item(id);
        if (!it)
            core::throwBadInput("sample line " + std::to_string(s.line) + ": unknown item " + std::to_string(id));
        h.sids.push_back(it->sid);
        h.titles.push_back(it->title);
    }
    h.target = ds.item(s.target);
    if (!h.target)
        core::throwBadInput("sample line " + std::to_string(s.line) + ": unknown target " + std::to_string(s.target));
    return h;
}

} // namespace

PromptTemplate parsePromptTemplate(const std::string &name)
{
    if (name == "fixed")
        return PromptTemplate::Fixed;
    if (name == "compat")
        return PromptTemplate::Compat;
    if (name == "compact")
        return PromptTemplate::Compact;
    core::throwBadInput("prompt_template: unknown template '" + name + "'", "use fixed, compat or compact");
}

static SftExample compactExample(const std::string &task, const std::string &input, const std::string &target)
{
    SftExample ex;
    ex.task = task;
    ex.user = task + ": " + input + "\n";
    ex.response = target + "\n";
    return ex;
}

const std::vector<std::string> &sftTaskNames()
{
    static const std::vector<std::string> names = {"sid_seq2sid", "title2sid", "sid2title",
                                                   "sid_seq2title", "title_seq2title", "title_seq2sid"};
    return names;
}

uint64_t splitmix64(uint64_t &state)
{
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::vector<int64_t> shuffleIndices(int64_t n, uint64_t seed)
{
    std::vector<int64_t> idx(static_cast<size_t>(std::max<int64_t>(n, 0)));
    for (int64_t i = 0; i < n; ++i)
        idx[static_cast<size_t>(i)] = i;
    uint64_t state = seed;
    for (int64_t i = n - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(i + 1));
        std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
    }
    return idx;
}

SftExample nextSidPrompt(PromptTemplate tmpl, const std::vector<std::string> &historySids,
                         const std::string &targetSid)
{
    if (tmpl == PromptTemplate::Compact)
        return compactExample("sid_seq2sid", joined(historySids, ""), targetSid);
    // fixed and compat both use SFT task 1's wording here (one wording everywhere, bug B3)
    SftExample ex;
    ex.task = "sid_seq2sid";
    ex.preamble = preamble(kNextSidInstruction);
    ex.user = userBlock("The user has interacted with items " + joined(historySids, ", ") +
                        " in chronological order. Can you predict the next possible item that the user may expect?");
    ex.response = targetSid + "\n";
    return ex;
}

std::vector<SftExample> buildSftExamples(const core::Dataset &dataset, const std::string &split,
                                         const std::vector<std::string> &tasks, PromptTemplate tmpl,
                                         const std::string &category, uint64_t seed, int64_t maxSamples)
{
    const bool compat = tmpl == PromptTemplate::Compat;
    const bool compact = tmpl == PromptTemplate::Compact;
    const auto &rows = dataset.split(split);
    std::vector<SftExample> all;
    for (size_t t = 0; t < tasks.size(); ++t) {
        const std::string &task = tasks[t];
        std::vector<SftExample> out;
        if (task == "sid_seq2sid") {
            for (const auto &s : rows) {
                History h = historyOf(dataset, s);
                out.push_back(nextSidPrompt(tmpl, h.sids, h.target->sid));
            }
        } else if (task == "title2sid" || task == "sid2title") {
            // dicts keyed by title / SID: first occurrence fixes the order, the last item wins.
            const bool toSid = task == "title2sid";
            std::vector<std::string> order;
            std::unordered_map<std::string, std::string> value;
            for (const auto &it : dataset.items) {
                const std::string key = toSid ? it.title : it.sid;
                if (!value.count(key))
                    order.push_back(key);
                value[key] = toSid ? it.sid : it.title;
            }
            for (const auto &key : order) {
                if (compact) {
                    out.push_back(compactExample(task, key, value[key]));
                    continue;
                }
                SftExample ex;
                ex.task = task;
                ex.preamble = preamble("Answer the question about item identification.");
                ex.user = userBlock(toSid ? "Which item has the title: " + key + "?"
                                          : "What is the title of item \"" + key + "\"?");
                ex.response = value[key] + "\n";
                if (compat)
                    ex.user += ex.response; // bug B2, reproduced on purpose
                out.push_back(std::move(ex));
            }
        } else if (task == "sid_seq2title") {
            for (const auto &s : rows) {
                History h = historyOf(dataset, s);
                if (compact) {
                    out.push_back(compactExample(task, joined(h.sids, ""), h.target->title));
                    continue;
                }
                SftExample ex;
                ex.task = task;
                ex.preamble = preamble("Can you recommend the next item for the user based on their interaction history?");
                ex.user = userBlock("The user has sequentially interacted with items " + joined(h.sids, ", ") +
                                    ". Can you recommend the next item for him? Tell me the title of the item");
                ex.response = h.target->title + "\n";
                out.push_back(std::move(ex));
            }
        } else if (task == "title_seq2title") {
            const auto instructions = titleSeqInstructions(category);
            uint64_t rng = seed ^ 0x5F7A11E5ull;
            for (const auto &s : rows) {
                History h = historyOf(dataset, s);
                if (compact) {
                    out.push_back(compactExample(task, joined(h.titles, " | "), h.target->title));
                    continue;
                }
                SftExample ex;
                ex.task = task;
                ex.preamble = std::string(kPreambleHead) + instructions[splitmix64(rng) % instructions.size()] + "\n \n";
                ex.user = userBlock(std::string(compat ? "The user has palyed" : "The user has played") +
                                    " the following " + category + "s before: " + joined(h.titles, ",\t", "\""));
                ex.response = "\"" + h.target->title + "\"\n";
                out.push_back(std::move(ex));
            }
        } else if (task == "title_seq2sid") {
            for (const auto &s : rows) {
                History h = historyOf(dataset, s);
                if (compact) {
                    out.push_back(compactExample(task, joined(h.titles, " | "), h.target->sid));
                    continue;
                }
                SftExample ex;
                ex.task = task;
                ex.preamble = preamble("Based on the user's historical interaction with item titles, predict the semantic ID of the next item they may expect.");
                ex.user = userBlock("The user has interacted with the following " + category +
                                    " items in chronological order: " + joined(h.titles, ", ", "\"") +
                                    ". Can you predict the next item the user may expect?");
                ex.response = h.target->sid + "\n";
                out.push_back(std::move(ex));
            }
        } else {
            core::throwBadInput("sft.tasks: unknown task '" + task + "'",
                                "use sid_seq2sid, title2sid, sid2title, sid_seq2title, title_seq2title or title_seq2sid");
        }
        if (maxSamples > 0 && static_cast<int64_t>(out.size()) > maxSamples) {
            const auto perm = shuffleIndices(static_cast<int64_t>(out.size()), seed + 1000 * (t + 1));
            std::vector<int64_t> keep(perm.begin(), perm.begin() + maxSamples);
            std::sort(keep.begin(), keep.end());
            std::vector<SftExample> sub;
            for (int64_t i : keep)
                sub.push_back(std::move(out[static_cast<size_t>(i)]));
            out = std::move(sub);
        }
        for (auto &ex : out)
            all.push_back(std::move(ex));
    }
    return all;
}

} // namespace genrec::train
