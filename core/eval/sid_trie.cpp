#include "core/eval/sid_trie.h"

#include "core/common/error.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <string>
#include <unordered_map>

namespace genrec::core {

namespace {

std::string pathText(const std::vector<int32_t> &tokens)
{
    std::string s = "[";
    for (std::size_t i = 0; i < tokens.size(); ++i)
        s += (i ? " " : "") + std::to_string(tokens[i]);
    return s + "]";
}

const std::vector<int64_t> kNoItems;

} // namespace

SidTrie::SidTrie()
    : m_childBegin{0, 0}, m_nodeLevel{0}, m_nodeTerminal{-1}, m_levelTokenBegin{0}
{
}

SidTrie SidTrie::build(const std::vector<SidTriePath> &paths)
{
    // Validate, and drop exact duplicates of (item, path).
    std::unordered_map<int64_t, std::size_t> firstOfItem;
    std::vector<std::size_t> order;
    order.reserve(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        const auto &[item, tokens] = paths[i];
        if (tokens.empty())
            throwBadInput("SID trie: item " + std::to_string(item) + " has an empty token path");
        for (int32_t t : tokens) {
            if (t < 0)
                throwBadInput("SID trie: item " + std::to_string(item) + " has negative token id "
                              + std::to_string(t) + " in " + pathText(tokens));
        }
        auto [it, fresh] = firstOfItem.emplace(item, i);
        if (!fresh) {
            if (paths[it->second].second != tokens)
                throwBadInput("SID trie: item " + std::to_string(item) + " has two paths, "
                                  + pathText(paths[it->second].second) + " and " + pathText(tokens),
                              "every item needs exactly one SID");
            continue;
        }
        order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (paths[a].second != paths[b].second)
            return paths[a].second < paths[b].second;
        return paths[a].first < paths[b].first;
    });

    SidTrie trie;
    trie.m_numItems = order.size();
    trie.m_childBegin.clear();
    trie.m_nodeLevel.clear();
    trie.m_nodeTerminal.clear();
    std::vector<std::vector<int32_t>> levelTokens;

    // Breadth-first over ranges of the sorted paths that share a prefix of length `level`. Nodes
    // are numbered in the order they are queued, which is also the order of their incoming edges.
    struct Pending
    {
        std::size_t lo, hi;
        int32_t level;
    };
    std::deque<Pending> queue{{0, order.size(), 0}};
    while (!queue.empty()) {
        const auto [lo, hi, level] = queue.front();
        queue.pop_front();
        trie.m_childBegin.push_back(static_cast<int32_t>(trie.m_edgeToken.size()));
        trie.m_nodeLevel.push_back(level);

        // Paths that end here sort first within the range (a prefix precedes its extensions).
        std::size_t i = lo;
        const auto lvl = static_cast<std::size_t>(level);
        if (i < hi && paths[order[i]].second.size() == lvl) {
            std::vector<int64_t> items;
            for (; i < hi && paths[order[i]].second.size() == lvl; ++i)
                items.push_back(paths[order[i]].first);
            trie.m_nodeTerminal.push_back(static_cast<int32_t>(trie.m_terminalItems.size()));
            trie.m_terminalItems.push_back(std::move(items));
        } else {
            trie.m_nodeTerminal.push_back(-1);
        }

        while (i < hi) {
            const int32_t token = paths[order[i]].second[lvl];
            std::size_t j = i + 1;
            while (j < hi && paths[order[j]].second[lvl] == token)
                ++j;
            trie.m_edgeToken.push_back(token);
            if (levelTokens.size() <= lvl)
                levelTokens.resize(lvl + 1);
            levelTokens[lvl].push_back(token);
            queue.push_back({i, j, level + 1});
            i = j;
        }
    }
    trie.m_childBegin.push_back(static_cast<int32_t>(trie.m_edgeToken.size()));

    trie.m_levelTokenBegin = {0};
    for (auto &tokens : levelTokens) {
        std::sort(tokens.begin(), tokens.end());
        tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
        trie.m_levelTokens.insert(trie.m_levelTokens.end(), tokens.begin(), tokens.end());
        trie.m_levelTokenBegin.push_back(static_cast<int32_t>(trie.m_levelTokens.size()));
    }
    trie.m_allTokens = trie.m_levelTokens;
    std::sort(trie.m_allTokens.begin(), trie.m_allTokens.end());
    trie.m_allTokens.erase(std::unique(trie.m_allTokens.begin(), trie.m_allTokens.end()),
                           trie.m_allTokens.end());
    return trie;
}

std::span<const int32_t> SidTrie::allowedTokens(int32_t node) const
{
    assert(node >= 0 && static_cast<std::size_t>(node) < numNodes());
    const auto n = static_cast<std::size_t>(node);
    const auto begin = static_cast<std::size_t>(m_childBegin[n]);
    const auto end = static_cast<std::size_t>(m_childBegin[n + 1]);
    return std::span<const int32_t>(m_edgeToken).subspan(begin, end - begin);
}

int32_t SidTrie::child(int32_t node, int32_t token) const
{
    if (node < 0)
        return -1;
    const auto tokens = allowedTokens(node);
    const auto it = std::lower_bound(tokens.begin(), tokens.end(), token);
    if (it == tokens.end() || *it != token)
        return -1;
    return m_childBegin[static_cast<std::size_t>(node)] + static_cast<int32_t>(it - tokens.begin())
           + 1;
}

int32_t SidTrie::walk(std::span<const int32_t> tokens, int32_t from) const
{
    int32_t node = from;
    for (int32_t t : tokens) {
        node = child(node, t);
        if (node < 0)
            return -1;
    }
    return node;
}

int32_t SidTrie::childAt(int32_t node, std::size_t i) const
{
    assert(i < allowedTokens(node).size());
    return m_childBegin[static_cast<std::size_t>(node)] + static_cast<int32_t>(i) + 1;
}

bool SidTrie::isLeaf(int32_t node) const
{
    const auto n = static_cast<std::size_t>(node);
    return m_childBegin[n] == m_childBegin[n + 1];
}

const std::vector<int64_t> &SidTrie::itemsAt(int32_t node) const
{
    const int32_t t = m_nodeTerminal[static_cast<std::size_t>(node)];
    return t < 0 ? kNoItems : m_terminalItems[static_cast<std::size_t>(t)];
}

int32_t SidTrie::findPath(std::span<const int32_t> tokens) const
{
    const int32_t node = walk(tokens);
    return node >= 0 && isTerminal(node) ? node : -1;
}

std::span<const int32_t> SidTrie::allowedTokenUnion(int32_t level) const
{
    if (level < 0 || level >= depth())
        return {};
    const auto l = static_cast<std::size_t>(level);
    const auto begin = static_cast<std::size_t>(m_levelTokenBegin[l]);
    const auto end = static_cast<std::size_t>(m_levelTokenBegin[l + 1]);
    return std::span<const int32_t>(m_levelTokens).subspan(begin, end - begin);
}

void SidTrie::forEachPath(
    const std::function<void(std::span<const int32_t>, const std::vector<int64_t> &)> &fn) const
{
    // Iterative depth-first walk; `stack` holds (node, index of the next child to visit).
    std::vector<int32_t> prefix;
    std::vector<std::pair<int32_t, std::size_t>> stack{{root(), 0}};
    if (isTerminal(root()))
        fn(prefix, itemsAt(root()));
    while (!stack.empty()) {
        auto &[node, next] = stack.back();
        const auto tokens = allowedTokens(node);
        if (next == tokens.size()) {
            stack.pop_back();
            if (!prefix.empty())
                prefix.pop_back();
            continue;
        }
        const int32_t c = childAt(node, next);
        prefix.push_back(tokens[next]);
        ++next;
        if (isTerminal(c))
            fn(prefix, itemsAt(c));
        stack.emplace_back(c, 0);
    }
}

std::vector<SidTrie::Entry> SidTrie::enumeratePaths() const
{
    std::vector<Entry> out;
    out.reserve(numPaths());
    forEachPath([&](std::span<const int32_t> tokens, const std::vector<int64_t> &items) {
        out.push_back({std::vector<int32_t>(tokens.begin(), tokens.end()), items});
    });
    return out;
}

} // namespace genrec::core
