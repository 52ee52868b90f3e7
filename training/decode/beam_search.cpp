// Trie-constrained beam search, sampling and teacher-forced log-probs.
#include "training/decode/beam_search.h"

#include "core/common/error.h"
#include "training/model/qwen2.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace genrec::train {

namespace {

/// Left-pads prompts to one length: ids [P, T] int64, mask [P, T] int64 (CPU).
std::pair<torch::Tensor, torch::Tensor> leftPad(const std::vector<std::vector<int32_t>> &prompts, int padId)
{
    int64_t t = 0;
    for (const auto &p : prompts) {
        if (p.empty())
            core::throwBadInput("constrained decoding: empty prompt", "every prompt needs at least one token");
        t = std::max<int64_t>(t, static_cast<int64_t>(p.size()));
    }
    const auto n = static_cast<int64_t>(prompts.size());
    torch::Tensor ids = torch::full({n, t}, static_cast<int64_t>(padId), torch::kLong);
    torch::Tensor mask = torch::zeros({n, t}, torch::kLong);
    auto ia = ids.accessor<int64_t, 2>();
    auto ma = mask.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
        const auto &p = prompts[static_cast<size_t>(i)];
        const int64_t off = t - static_cast<int64_t>(p.size());
        for (size_t j = 0; j < p.size(); ++j) {
            ia[i][off + static_cast<int64_t>(j)] = p[j];
            ma[i][off + static_cast<int64_t>(j)] = 1;
        }
    }
    return {ids, mask};
}

/// The trie state of one row being decoded.
struct Row
{
    int prompt = 0;
    int32_t node = 0;
    double logProb = 0.0;
    std::vector<int32_t> tokens;
};

/// Per-row log-probs of every token the trie allows at the row's node: out[r][i] belongs to
/// allowedTokens(rows[r].node)[i]. hidden [N, C]. Also returns the raw logits of those tokens
/// (for sampling) in `rawLogits` when non-null.
std::vector<std::vector<double>> allowedLogProbs(Qwen2ForCausalLMImpl &model, const core::SidTrie &trie,
                                                 const std::vector<Row> &rows, const torch::Tensor &hidden,
                                                 Normalisation norm,
                                                 std::vector<std::vector<double>> *rawLogits = nullptr)
{
    const size_t n = rows.size();
    std::vector<std::vector<double>> out(n);
    if (rawLogits)
        rawLogits->assign(n, {});
    // The union of the allowed rows (sorted); every candidate's column in it.
    std::vector<int32_t> uni;
    for (const Row &r : rows) {
        const auto a = trie.allowedTokens(r.node);
        uni.insert(uni.end(), a.begin(), a.end());
    }
    std::sort(uni.begin(), uni.end());
    uni.erase(std::unique(uni.begin(), uni.end()), uni.end());
    auto column = [&](int32_t tok) {
        return static_cast<int64_t>(std::lower_bound(uni.begin(), uni.end(), tok) - uni.begin());
    };
    const auto u = static_cast<int64_t>(uni.size());
    torch::Tensor sel; // [N, U] fp32 CPU: logits (FullVocab: log-probs) of the union rows
    if (norm == Normalisation::FullVocab) {
        torch::Tensor logits = model.logits(hidden).to(torch::kFloat); // [N, V]
        torch::Tensor lse = torch::logsumexp(logits, -1, true);          // [N, 1]
        torch::Tensor cols = torch::from_blob(uni.data(), {u}, torch::kInt).to(torch::kLong).to(logits.device());
        torch::Tensor picked = logits.index_select(1, cols);              // [N, U]
        sel = torch::cat({picked - lse, picked}, 1).to(torch::kCPU).contiguous(); // [N, 2U]
    } else {
        torch::Tensor cols = torch::from_blob(uni.data(), {u}, torch::kInt).to(torch::kLong).to(hidden.device());
        torch::Tensor picked = model.logitsForRows(hidden, cols).to(torch::kFloat); // [N, U]
        sel = picked.to(torch::kCPU).contiguous();
    }
    const float *data = sel.data_ptr<float>();
    const int64_t stride = sel.size(1);
    for (size_t r = 0; r < n; ++r) {
        const auto a = trie.allowedTokens(rows[r].node);
        const float *row = data + static_cast<int64_t>(r) * stride;
        auto &o = out[r];
        o.resize(a.size());
        std::vector<double> raw(a.size());
        for (size_t i = 0; i < a.size(); ++i) {
            const int64_t c = column(a[i]);
            if (norm == Normalisation::FullVocab) {
                o[i] = row[c];
                raw[i] = row[u + c];
            } else {
                raw[i] = row[c];
            }
        }
        if (norm == Normalisation::Constrained) {
            double mx = -std::numeric_limits<double>::infinity();
            for (double v : raw)
                mx = std::max(mx, v);
            double s = 0.0;
            for (double v : raw)
                s += std::exp(v - mx);
            const double lse = mx + std::log(s);
            for (size_t i = 0; i < a.size(); ++i)
                o[i] = raw[i] - lse;
        }
        if (rawLogits)
            (*rawLogits)[r] = std::move(raw);
    }
    return out;
}

bool betterHyp(const Hypothesis &a, const Hypothesis &b)
{
    if (a.score != b.score)
        return a.score > b.score;
    return a.tokens < b.tokens;
}

double penalised(double logProb, size_t len, double lp)
{
    return lp == 0.0 ? logProb : logProb / std::pow(static_cast<double>(len), lp);
}

torch::Tensor toLongTensor(const std::vector<int64_t> &v, const torch::Device &dev)
{
    return torch::tensor(v, torch::kLong).to(dev);
}

} // namespace

std::vector<std::vector<Hypothesis>> constrainedBeamSearch(Qwen2ForCausalLMImpl &model,
                                                           const core::SidTrie &trie,
                                                           const std::vector<std::vector<int32_t>> &prompts,
                                                           const BeamSearchOptions &options)
{
    if (options.numBeams < 1)
        core::throwBadInput("beam search: num_beams must be >= 1", "e.g. --beams 20");
    const size_t numReturn = static_cast<size_t>(
        options.numReturn < 0 ? options.numBeams : std::min(options.numReturn, options.numBeams));
    std::vector<std::vector<Hypothesis>> finished(prompts.size());
    if (prompts.empty() || trie.numPaths() == 0)
        return finished;
    torch::NoGradGuard noGrad;
    const torch::Device dev = model.device();
    const double lp = options.lengthPenalty;

    auto [ids, mask] = leftPad(prompts, options.padTokenId);
    KvCache cache;
    const int64_t t = ids.size(1);
    // Prefill once per prompt: hidden [P, C] at the last (real) position.
    torch::Tensor hidden = model.forward(ids.to(dev), mask.to(dev), &cache).select(1, t - 1);

    std::vector<Row> live(prompts.size());
    for (size_t p = 0; p < prompts.size(); ++p)
        live[p].prompt = static_cast<int>(p), live[p].node = trie.root();

    struct Cand
    {
        double logProb;
        int row;
        int idx; // index into allowedTokens(row.node)
    };
    while (!live.empty()) {
        const auto lps = allowedLogProbs(model, trie, live, hidden, options.normalisation);
        // Candidates grouped by prompt (live rows are grouped by prompt, in prompt order).
        std::vector<Row> next;
        std::vector<int64_t> srcRows;
        size_t r0 = 0;
        while (r0 < live.size()) {
            const int p = live[r0].prompt;
            size_t r1 = r0;
            while (r1 < live.size() && live[r1].prompt == p)
                ++r1;
            auto &fin = finished[static_cast<size_t>(p)];
            std::vector<Cand> cands;
            for (size_t r = r0; r < r1; ++r) {
                const Row &row = live[r];
                const auto allowed = trie.allowedTokens(row.node);
                for (size_t i = 0; i < allowed.size(); ++i) {
                    const double lpSum = row.logProb + lps[r][i];
                    const int32_t child = trie.childAt(row.node, i);
                    if (trie.isTerminal(child)) {
                        Hypothesis h;
                        h.tokens = row.tokens;
                        h.tokens.push_back(allowed[i]);
                        h.items = trie.itemsAt(child);
                        h.logProb = lpSum;
                        h.score = penalised(lpSum, h.tokens.size(), lp);
                        fin.push_back(std::move(h));
                    }
                    if (!trie.isLeaf(child))
                        cands.push_back({lpSum, static_cast<int>(r), static_cast<int>(i)});
                }
            }
            // Keep the best numReturn finished hypotheses.
            if (fin.size() > numReturn) {
                std::partial_sort(fin.begin(), fin.begin() + static_cast<std::ptrdiff_t>(numReturn), fin.end(), betterHyp);
                fin.resize(numReturn);
            }
            // The best numBeams live candidates by cumulative log-prob (ties: row, then token).
            const size_t keep = std::min(cands.size(), static_cast<size_t>(options.numBeams));
            std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(keep), cands.end(),
                              [](const Cand &a, const Cand &b) {
                                  if (a.logProb != b.logProb)
                                      return a.logProb > b.logProb;
                                  return a.row != b.row ? a.row < b.row : a.idx < b.idx;
                              });
            cands.resize(keep);
            // Early stop: with lengthPenalty <= 0 a path's score never rises, so once numReturn
            // paths are finished and no live beam beats the worst of them, the prompt is done.
            bool done = cands.empty();
            if (!done && lp <= 0.0 && fin.size() >= numReturn) {
                double worst = std::numeric_limits<double>::infinity();
                for (const auto &h : fin)
                    worst = std::min(worst, h.score);
                const Row &best = live[static_cast<size_t>(cands.front().row)];
                done = penalised(cands.front().logProb, best.tokens.size() + 1, lp) < worst;
            }
            if (!done) {
                for (const Cand &c : cands) {
                    const Row &src = live[static_cast<size_t>(c.row)];
                    Row nr;
                    nr.prompt = p;
                    nr.node = trie.childAt(src.node, static_cast<size_t>(c.idx));
                    nr.logProb = c.logProb;
                    nr.tokens = src.tokens;
                    nr.tokens.push_back(trie.allowedTokens(src.node)[static_cast<size_t>(c.idx)]);
                    next.push_back(std::move(nr));
                    srcRows.push_back(c.row);
                }
            }
            r0 = r1;
        }
        live = std::move(next);
        if (live.empty())
            break;
        cache.reorderRows(toLongTensor(srcRows, dev));
        std::vector<int64_t> tok(live.size());
        for (size_t r = 0; r < live.size(); ++r)
            tok[r] = live[r].tokens.back();
        const auto n = static_cast<int64_t>(live.size());
        torch::Tensor stepIds = toLongTensor(tok, dev).view({n, 1});
        torch::Tensor stepMask = torch::ones({n, 1}, torch::TensorOptions().dtype(torch::kLong).device(dev));
        hidden = model.forward(stepIds, stepMask, &cache).select(1, 0);
    }
    for (auto &fin : finished)
        std::sort(fin.begin(), fin.end(), betterHyp);
    return finished;
}

std::vector<std::vector<Hypothesis>> constrainedSample(Qwen2ForCausalLMImpl &model,
                                                       const core::SidTrie &trie,
                                                       const std::vector<std::vector<int32_t>> &prompts,
                                                       const SampleOptions &options)
{
    if (!(options.temperature > 0.0))
        core::throwBadInput("sampling: temperature must be > 0", "e.g. temperature: 1.0");
    if (options.numSamples < 1)
        core::throwBadInput("sampling: num_samples must be >= 1", "e.g. num_generations: 16");
    std::vector<std::vector<Hypothesis>> out(prompts.size());
    if (prompts.empty() || trie.numPaths() == 0)
        return out;
    torch::NoGradGuard noGrad;
    const torch::Device dev = model.device();
    const int g = options.numSamples;
    std::mt19937_64 rng(options.seed);
    auto uniform = [&rng]() { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); };

    auto [ids, mask] = leftPad(prompts, options.padTokenId);
    KvCache cache;
    const int64_t t = ids.size(1);
    torch::Tensor hidden = model.forward(ids.to(dev), mask.to(dev), &cache).select(1, t - 1);
    cache.expandRows(g);
    hidden = hidden.repeat_interleave(g, 0);
    std::vector<Row> live(prompts.size() * static_cast<size_t>(g));
    for (size_t i = 0; i < live.size(); ++i)
        live[i].prompt = static_cast<int>(i / static_cast<size_t>(g)), live[i].node = trie.root();

    while (!live.empty()) {
        std::vector<std::vector<double>> raw;
        const auto lps = allowedLogProbs(model, trie, live, hidden, options.normalisation, &raw);
        std::vector<Row> next;
        std::vector<int64_t> srcRows;
        for (size_t r = 0; r < live.size(); ++r) {
            const Row &row = live[r];
            const auto allowed = trie.allowedTokens(row.node);
            std::vector<size_t> order(allowed.size());
            std::iota(order.begin(), order.end(), size_t{0});
            if (options.topK > 0 && static_cast<size_t>(options.topK) < order.size()) {
                std::partial_sort(order.begin(), order.begin() + options.topK, order.end(),
                                  [&](size_t a, size_t b) { return raw[r][a] > raw[r][b]; });
                order.resize(static_cast<size_t>(options.topK));
            }
            double mx = -std::numeric_limits<double>::infinity();
            for (size_t i : order)
                mx = std::max(mx, raw[r][i] / options.temperature);
            std::vector<double> w(order.size());
            double total = 0.0;
            for (size_t k = 0; k < order.size(); ++k)
                total += (w[k] = std::exp(raw[r][order[k]] / options.temperature - mx));
            double x = uniform() * total;
            size_t pick = order.back();
            for (size_t k = 0; k < order.size(); ++k) {
                if (x < w[k]) {
                    pick = order[k];
                    break;
                }
                x -= w[k];
            }
            Row nr = row;
            nr.node = trie.childAt(row.node, pick);
            nr.logProb += lps[r][pick];
            nr.tokens.push_back(allowed[pick]);
            if (trie.isLeaf(nr.node)) {
                Hypothesis h;
                h.tokens = std::move(nr.tokens);
                h.items = trie.itemsAt(nr.node);
                h.logProb = h.score = nr.logProb;
                out[static_cast<size_t>(nr.prompt)].push_back(std::move(h));
            } else {
                next.push_back(std::move(nr));
                srcRows.push_back(static_cast<int64_t>(r));
            }
        }
        live = std::move(next);
        if (live.empty())
            break;
        cache.reorderRows(toLongTensor(srcRows, dev));
        std::vector<int64_t> tok(live.size());
        for (size_t r = 0; r < live.size(); ++r)
            tok[r] = live[r].tokens.back();
        const auto n = static_cast<int64_t>(live.size());
        hidden = model.forward(toLongTensor(tok, dev).view({n, 1}),
                               torch::ones({n, 1}, torch::TensorOptions().dtype(torch::kLong).device(dev)), &cache)
                     .select(1, 0);
    }
    return out;
}

std::vector<std::vector<double>> teacherForcedLogProbs(Qwen2ForCausalLMImpl &model,
                                                       const std::vector<std::vector<int32_t>> &prompts,
                                                       const std::vector<std::vector<int32_t>> &completions,
                                                       Normalisation normalisation, const core::SidTrie *trie,
                                                       int padTokenId)
{
    if (prompts.size() != completions.size())
        core::throwBadInput("teacher forcing: prompts and completions differ in number", "pass one completion per prompt");
    if (normalisation == Normalisation::Constrained && !trie)
        core::throwBadInput("teacher forcing: constrained normalisation needs a trie", "pass the SID trie");
    std::vector<std::vector<double>> out(prompts.size());
    if (prompts.empty())
        return out;
    torch::NoGradGuard noGrad;
    const torch::Device dev = model.device();
    const auto n = static_cast<int64_t>(prompts.size());
    int64_t t = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        if (prompts[i].empty())
            core::throwBadInput("teacher forcing: empty prompt", "every prompt needs at least one token");
        t = std::max<int64_t>(t, static_cast<int64_t>(prompts[i].size() + completions[i].size()));
    }
    // Right padding: positions come from the mask, so real tokens keep their positions.
    torch::Tensor ids = torch::full({n, t}, static_cast<int64_t>(padTokenId), torch::kLong);
    torch::Tensor mask = torch::zeros({n, t}, torch::kLong);
    std::vector<int64_t> flat;
    std::vector<int64_t> tokens;
    {
        auto ia = ids.accessor<int64_t, 2>();
        auto ma = mask.accessor<int64_t, 2>();
        for (int64_t i = 0; i < n; ++i) {
            const auto &p = prompts[static_cast<size_t>(i)];
            const auto &c = completions[static_cast<size_t>(i)];
            int64_t j = 0;
            for (int32_t v : p)
                ia[i][j] = v, ma[i][j++] = 1;
            for (int32_t v : c) {
                flat.push_back(i * t + j - 1);
                tokens.push_back(v);
                ia[i][j] = v, ma[i][j++] = 1;
            }
        }
    }
    if (flat.empty())
        return out;
    torch::Tensor hidden = model.forward(ids.to(dev), mask.to(dev));
    torch::Tensor logits = model.logitsAt(hidden, toLongTensor(flat, dev)).to(torch::kFloat); // [N, V]
    torch::Tensor logp;
    if (normalisation == Normalisation::FullVocab) {
        logp = torch::log_softmax(logits, -1).gather(1, toLongTensor(tokens, dev).view({-1, 1})).view({-1});
        logp = logp.to(torch::kCPU).to(torch::kDouble);
        const double *d = logp.data_ptr<double>();
        size_t k = 0;
        for (size_t i = 0; i < completions.size(); ++i)
            for (size_t j = 0; j < completions[i].size(); ++j)
                out[i].push_back(d[k++]);
        return out;
    }
    torch::Tensor cpu = logits.to(torch::kCPU).contiguous();
    const float *d = cpu.data_ptr<float>();
    const int64_t v = cpu.size(1);
    size_t k = 0;
    for (size_t i = 0; i < completions.size(); ++i) {
        int32_t node = trie->root();
        for (size_t j = 0; j < completions[i].size(); ++j, ++k) {
            const int32_t tok = completions[i][j];
            const int32_t child = trie->child(node, tok);
            if (child < 0)
                core::throwBadInput("teacher forcing: completion " + std::to_string(i) + " leaves the trie at token " +
                                        std::to_string(j),
                                    "constrained log-probs need trie paths");
            const float *row = d + static_cast<int64_t>(k) * v;
            double mx = -std::numeric_limits<double>::infinity();
            for (int32_t a : trie->allowedTokens(node))
                mx = std::max(mx, static_cast<double>(row[a]));
            double s = 0.0;
            for (int32_t a : trie->allowedTokens(node))
                s += std::exp(row[a] - mx);
            out[i].push_back(row[tok] - mx - std::log(s));
            node = child;
        }
    }
    return out;
}

} // namespace genrec::train
