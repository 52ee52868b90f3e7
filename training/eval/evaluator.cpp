// Offline next-item evaluation: prompts, constrained beam search, ranking metrics.
#include "training/eval/evaluator.h"

#include "core/common/error.h"
#include "core/config/run_config.h"
#include "core/eval/ranking_metrics.h"
#include "training/model/qwen2.h"
#include "training/runtime/allocator.h"
#include "training/sft/prompts.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <unordered_set>

namespace genrec::train {

std::pair<std::string, std::string> nextSidPromptParts(const std::vector<std::string> &historySids,
                                                       PromptTemplate tmpl)
{
    // The SFT trainer's next-SID prompt: one wording for SFT, RL and evaluation (spec bug B3).
    SftExample ex = nextSidPrompt(tmpl == PromptTemplate::Compact ? tmpl : PromptTemplate::Fixed, historySids);
    return {std::move(ex.preamble), std::move(ex.user)};
}

std::vector<int32_t> encodeNextSidPrompt(const BpeTokenizer &tokenizer, const std::vector<std::string> &historySids,
                                         PromptTemplate tmpl)
{
    const auto [a, b] = nextSidPromptParts(historySids, tmpl);
    std::vector<int32_t> ids = tokenizer.encode(a);
    const std::vector<int32_t> tail = tokenizer.encode(b);
    ids.insert(ids.end(), tail.begin(), tail.end());
    return ids;
}

std::vector<int32_t> sidTerminator(const BpeTokenizer &tokenizer)
{
    std::vector<int32_t> t = tokenizer.encode("\n");
    const int32_t eos = tokenizer.eosTokenId();
    if (eos < 0)
        core::throwBadInput("tokenizer has no EOS token", "set eos_token in tokenizer_config.json");
    t.push_back(eos);
    return t;
}

namespace {

std::vector<int32_t> sidTokenIds(const core::Item &item, const BpeTokenizer &tokenizer)
{
    std::vector<int32_t> ids;
    for (const std::string &tok : item.sidTokens) {
        const int32_t id = tokenizer.tokenToId(tok);
        if (id < 0)
            core::throwBadInput("item " + std::to_string(item.id) + ": SID token " + tok + " is not in the tokenizer",
                                "add the SID tokens to the tokenizer (genrec tokenize add-sids) first");
        ids.push_back(id);
    }
    return ids;
}

} // namespace

core::SidTrie buildSidTrie(const core::Dataset &dataset, const BpeTokenizer &tokenizer)
{
    const std::vector<int32_t> term = sidTerminator(tokenizer);
    std::vector<core::SidTriePath> paths;
    paths.reserve(dataset.items.size());
    for (const core::Item &item : dataset.items) {
        std::vector<int32_t> ids = sidTokenIds(item, tokenizer);
        if (ids.empty())
            continue;
        ids.insert(ids.end(), term.begin(), term.end());
        paths.emplace_back(item.id, std::move(ids));
    }
    return core::SidTrie::build(paths);
}

EvalOptions evalOptionsFromConfig(const core::EvalConfig &config)
{
    EvalOptions o;
    o.split = config.split;
    o.numBeams = static_cast<int>(config.numBeams);
    o.ks.assign(config.topk.begin(), config.topk.end());
    o.batchSize = static_cast<int>(std::max<int64_t>(1, config.perDeviceEvalBatchSize));
    o.lengthPenalty = config.lengthPenalty;
    o.maxSamples = config.maxSamples;
    return o;
}

std::string EvalReport::metricsJson() const
{
    nlohmann::json j = nlohmann::json::object();
    for (const auto &[k, v] : metrics)
        j[k] = v;
    return j.dump();
}

Evaluator::Evaluator(Qwen2ForCausalLMImpl &model, const BpeTokenizer &tokenizer, const core::Dataset &dataset)
    : m_model(model), m_tokenizer(tokenizer), m_dataset(dataset), m_trie(buildSidTrie(dataset, tokenizer)),
      m_terminator(sidTerminator(tokenizer))
{
}

EvalReport Evaluator::evaluate(const EvalOptions &options, const EvalProgress &progress)
{
    if (options.ks.empty())
        core::throwBadInput("eval: no cut-offs given", "e.g. --k 1,5,10");
    if (options.numBeams < 1)
        core::throwBadInput("eval: num_beams must be >= 1", "e.g. --beams 20");
    const KeepFreedPages keepPages; // batch after batch of the same shapes: reuse, do not fault
    const std::vector<core::Sample> &rows = m_dataset.split(options.split);
    const int64_t total = options.maxSamples >= 0 ? std::min<int64_t>(options.maxSamples, static_cast<int64_t>(rows.size()))
                                                  : static_cast<int64_t>(rows.size());
    const auto start = std::chrono::steady_clock::now();
    const bool wasTraining = m_model.is_training();
    m_model.eval();

    BeamSearchOptions bo;
    bo.numBeams = options.numBeams;
    bo.lengthPenalty = options.lengthPenalty;
    bo.normalisation = options.normalisation;
    bo.padTokenId = std::max(0, m_tokenizer.padTokenId());
    const size_t sidLen = m_terminator.size();

    EvalReport rep;
    std::vector<std::vector<std::string>> predSids; // per row, SID strings of the list
    std::vector<std::vector<int32_t>> top1, targets;
    const int batch = std::max(1, options.batchSize);
    for (int64_t b0 = 0; b0 < total; b0 += batch) {
        const int64_t b1 = std::min<int64_t>(total, b0 + batch);
        std::vector<std::vector<int32_t>> prompts;
        for (int64_t i = b0; i < b1; ++i) {
            std::vector<std::string> hist;
            for (int64_t id : rows[static_cast<size_t>(i)].history)
                if (const core::Item *it = m_dataset.item(id))
                    hist.push_back(it->sid);
            prompts.push_back(encodeNextSidPrompt(m_tokenizer, hist, options.promptTemplate));
        }
        const auto hyps = constrainedBeamSearch(m_model, m_trie, prompts, bo);
        for (int64_t i = b0; i < b1; ++i) {
            const core::Sample &s = rows[static_cast<size_t>(i)];
            const auto &list = hyps[static_cast<size_t>(i - b0)];
            const core::Item *target = m_dataset.item(s.target);
            std::vector<int32_t> targetIds = target ? sidTokenIds(*target, m_tokenizer) : std::vector<int32_t>{};
            int32_t rank = core::kMissRank;
            std::vector<std::string> sids;
            for (size_t k = 0; k < list.size(); ++k) {
                const auto &tk = list[k].tokens;
                const std::vector<int32_t> sidIds(tk.begin(), tk.end() - static_cast<std::ptrdiff_t>(std::min(sidLen, tk.size())));
                if (rank == core::kMissRank && sidIds == targetIds)
                    rank = static_cast<int32_t>(k);
                const core::Item *it = m_dataset.item(list[k].items.front());
                sids.push_back(it ? it->sid : std::string());
                if (k == 0)
                    top1.push_back(sidIds);
            }
            if (list.empty())
                top1.emplace_back();
            targets.push_back(std::move(targetIds));
            predSids.push_back(std::move(sids));
            rep.userIds.push_back(s.userId);
            rep.ranks.push_back(rank);
            if (static_cast<int>(rep.examples.size()) < options.numExamples) {
                EvalExample ex;
                ex.userId = s.userId;
                for (int64_t id : s.history)
                    if (const core::Item *it = m_dataset.item(id))
                        ex.historyTitles.push_back(it->title);
                ex.targetSid = target ? target->sid : std::string();
                ex.targetTitle = target ? target->title : std::string();
                ex.rank = rank;
                for (size_t k = 0; k < list.size() && static_cast<int>(k) < options.exampleTopN; ++k)
                    ex.top.push_back({predSids.back()[k], m_dataset.titlesOf(list[k].items), list[k].score});
                rep.examples.push_back(std::move(ex));
            }
        }
        if (progress && !progress(b1, total)) {
            rep.cancelled = true;
            break;
        }
    }
    m_model.train(wasTraining);

    rep.numRows = static_cast<int64_t>(rep.ranks.size());
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const core::RankingReport rr = core::computeRankingMetrics(rep.ranks, options.ks, options.numBeams, 0);
    for (const core::MetricAtK &m : rr.atK) {
        rep.metrics["hr@" + std::to_string(m.k)] = m.hr;
        rep.metrics["ndcg@" + std::to_string(m.k)] = m.ndcg;
    }
    std::unordered_set<std::string> catalogue;
    for (const core::Item &it : m_dataset.items)
        catalogue.insert(it.sid);
    for (int k : options.ks)
        if (k <= options.numBeams)
            rep.metrics["coverage@" + std::to_string(k)] = core::catalogueCoverage(predSids, k, catalogue);
    const core::LevelAccuracy la = core::levelAccuracy(top1, targets);
    for (size_t l = 0; l < la.accuracy.size(); ++l)
        rep.metrics["level_acc@" + std::to_string(l + 1)] = la.accuracy[l];
    rep.metrics["invalid"] = 0.0;
    rep.metrics["rows"] = static_cast<double>(rep.numRows);
    rep.metrics["users_per_s"] = rep.seconds > 0 ? static_cast<double>(rep.numRows) / rep.seconds : 0.0;
    return rep;
}

} // namespace genrec::train
