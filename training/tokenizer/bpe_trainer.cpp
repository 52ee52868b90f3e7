#include "training/tokenizer/bpe_trainer.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace genrec::train {

namespace {

uint64_t pairKey(int32_t a, int32_t b)
{
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

struct Candidate
{
    int64_t count;
    uint64_t key;
};

/// Max-heap order: higher count first, then the smaller pair key (left id, then right id).
struct CandidateLess
{
    bool operator()(const Candidate &x, const Candidate &y) const
    {
        return x.count != y.count ? x.count < y.count : x.key > y.key;
    }
};

struct Word
{
    std::vector<int32_t> symbols;
    int64_t count;
};

} // namespace

LearnedMerges learnByteLevelMerges(const std::vector<std::pair<std::string, int64_t>> &words,
                                   int numMerges, const TokenizerProgress &progress)
{
    LearnedMerges result;
    std::unordered_map<std::string, int32_t> idOf;
    for (int b = 0; b < 256; ++b) {
        result.tokens.emplace_back(1, char(b));
        idOf.emplace(result.tokens.back(), b);
    }

    std::vector<Word> ws;
    ws.reserve(words.size());
    for (const auto &[bytes, count] : words) {
        if (bytes.size() < 2 || count <= 0)
            continue; // a single byte has no pair to merge
        Word w{{}, count};
        for (const char c : bytes)
            w.symbols.push_back(static_cast<uint8_t>(c));
        ws.push_back(std::move(w));
    }

    // pair → total count over all words, and pair → words that (may) contain it.
    std::unordered_map<uint64_t, int64_t> pairCount;
    std::unordered_map<uint64_t, std::vector<int32_t>> where;
    const auto addOccurrence = [&](uint64_t key, int64_t count, int32_t wordIndex) {
        pairCount[key] += count;
        auto &list = where[key];
        if (list.empty() || list.back() != wordIndex)
            list.push_back(wordIndex);
    };
    for (int32_t wi = 0; wi < int32_t(ws.size()); ++wi) {
        const auto &s = ws[wi].symbols;
        for (std::size_t i = 0; i + 1 < s.size(); ++i)
            addOccurrence(pairKey(s[i], s[i + 1]), ws[wi].count, wi);
    }
    std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> heap;
    for (const auto &[key, count] : pairCount)
        heap.push({count, key});

    std::vector<int32_t> lastVisit(ws.size(), -1);
    std::unordered_set<uint64_t> touched;
    while (int(result.merges.size()) < numMerges && !heap.empty()) {
        const Candidate top = heap.top();
        heap.pop();
        const auto it = pairCount.find(top.key);
        if (it == pairCount.end() || it->second != top.count)
            continue; // stale heap entry; the current count was pushed when it changed
        if (top.count < 2)
            break;
        const int32_t a = int32_t(top.key >> 32);
        const int32_t b = int32_t(top.key & 0xffffffffu);
        std::string merged = result.tokens[a] + result.tokens[b];
        int32_t newId;
        if (const auto found = idOf.find(merged); found != idOf.end()) {
            newId = found->second;
        } else {
            newId = int32_t(result.tokens.size());
            idOf.emplace(merged, newId);
            result.tokens.push_back(std::move(merged));
        }
        const int32_t mergeIndex = int32_t(result.merges.size());
        result.merges.emplace_back(a, b);

        touched.clear();
        const std::vector<int32_t> candidates = std::move(where[top.key]);
        where.erase(top.key);
        pairCount.erase(top.key);
        const auto dec = [&](uint64_t key, int64_t count) {
            if (key == top.key)
                return;
            pairCount[key] -= count;
            touched.insert(key);
        };
        const auto inc = [&](uint64_t key, int64_t count, int32_t wi) {
            addOccurrence(key, count, wi);
            touched.insert(key);
        };
        for (const int32_t wi : candidates) {
            if (lastVisit[wi] == mergeIndex)
                continue;
            lastVisit[wi] = mergeIndex;
            auto &s = ws[wi].symbols;
            const int64_t c = ws[wi].count;
            // Left to right, non-overlapping: "aaa" with (a,a) becomes "aa a".
            for (std::size_t i = 0; i + 1 < s.size(); ++i) {
                if (s[i] != a || s[i + 1] != b)
                    continue;
                if (i > 0) {
                    dec(pairKey(s[i - 1], a), c);
                    inc(pairKey(s[i - 1], newId), c, wi);
                }
                if (i + 2 < s.size()) {
                    dec(pairKey(b, s[i + 2]), c);
                    inc(pairKey(newId, s[i + 2]), c, wi);
                }
                s[i] = newId;
                s.erase(s.begin() + std::ptrdiff_t(i) + 1);
            }
        }
        for (const uint64_t key : touched) {
            const auto t = pairCount.find(key);
            if (t == pairCount.end())
                continue;
            if (t->second <= 0)
                pairCount.erase(t);
            else
                heap.push({t->second, key});
        }
        if (progress && !progress(int64_t(result.merges.size()), numMerges))
            break;
    }
    return result;
}

} // namespace genrec::train
