#pragma once
/// @file sid_trie.h
/// Prefix trie over token-id paths: the allowed-token structure of constrained decoding
/// (minionerec-spec §5.1) and the catalogue's set of valid semantic IDs.
///
/// Layout: nodes are numbered breadth-first, so the children of a node are one contiguous,
/// token-sorted range of an edge array (CSR), and edge `e` leads to node `e + 1`. Looking up a
/// child is a binary search in a few dozen int32s; the whole trie of a 3.5k-item catalogue fits
/// in a few hundred kilobytes.
///
/// The trie holds no decoding state. A beam keeps its own current node (`root()` at the start,
/// `child(node, token)` after each step), so one trie serves any number of concurrent searches
/// (this avoids the shared step counter of the original processor, spec bug B4).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace genrec::core {

/// One catalogue entry for SidTrie::build: an item id and its token path (SID tokens, usually
/// followed by the terminator tokens "\n" and EOS that the caller appends).
using SidTriePath = std::pair<int64_t, std::vector<int32_t>>;

/// Immutable prefix trie over int32 token paths of any length; items sharing a path (SID
/// collisions, spec B9) are all kept at its end node. Cheap to copy and move; thread-safe for
/// concurrent reads.
class SidTrie
{
public:
    /// A complete path and the items that end on it (ascending item ids).
    struct Entry
    {
        std::vector<int32_t> tokens;
        std::vector<int64_t> items;
    };

    /// An empty trie: only the root, no paths.
    SidTrie();

    /// Builds the trie. Paths may have different lengths, and one path may be a strict prefix of
    /// another (its end node is then terminal and has children; with terminator tokens appended
    /// this never happens).
    /// @throws Error(BadInput) for an empty path, a negative token id, or one item id given two
    ///         different paths. The same (item, path) pair given twice is merged.
    static SidTrie build(const std::vector<SidTriePath> &paths);

    /// The node every search starts from. Always 0.
    int32_t root() const { return 0; }

    /// Tokens that may follow @p node, ascending; empty for a leaf. The span stays valid as long
    /// as the trie lives. @p node must be a valid node id (checked only by assert).
    std::span<const int32_t> allowedTokens(int32_t node) const;

    /// Node reached from @p node by @p token, or -1 when @p token is not allowed there (or @p node
    /// is -1, so that a failed walk stays failed).
    int32_t child(int32_t node, int32_t token) const;

    /// Node reached from @p from by the whole @p tokens sequence, or -1 if it leaves the trie.
    int32_t walk(std::span<const int32_t> tokens, int32_t from = 0) const;

    /// The i-th child of @p node, in the order of allowedTokens(node).
    int32_t childAt(int32_t node, std::size_t i) const;

    /// True when @p node has no children (the end of a path).
    bool isLeaf(int32_t node) const;

    /// True when at least one path ends at @p node (leaves always are; inner nodes only when a
    /// path is a prefix of another).
    bool isTerminal(int32_t node) const { return m_nodeTerminal[static_cast<std::size_t>(node)] >= 0; }

    /// Items whose path ends at @p node, ascending; an empty vector for a non-terminal node.
    /// Several items share one list when their SIDs collide.
    const std::vector<int64_t> &itemsAt(int32_t node) const;

    /// Node id of the complete path @p tokens, or -1 if it is not a complete path (unknown, or
    /// only a prefix of one). Use it to check that a prediction is a valid catalogue SID.
    int32_t findPath(std::span<const int32_t> tokens) const;

    /// Depth of @p node: the number of tokens on the way from the root (root = 0).
    int32_t level(int32_t node) const { return m_nodeLevel[static_cast<std::size_t>(node)]; }

    /// Ascending union of the tokens allowed at depth @p level over all nodes of that depth (the
    /// level-`level` vocabulary); empty when @p level >= depth().
    std::span<const int32_t> allowedTokenUnion(int32_t level) const;

    /// Ascending set of every token that appears on any path: the logit rows a decoder has to
    /// keep when it projects onto the catalogue only.
    std::span<const int32_t> allTokens() const { return m_allTokens; }

    /// Number of distinct item ids.
    std::size_t numItems() const { return m_numItems; }
    /// Number of distinct complete paths (terminal nodes).
    std::size_t numPaths() const { return m_terminalItems.size(); }
    /// Number of nodes including the root.
    std::size_t numNodes() const { return m_nodeLevel.size(); }
    /// Length of the longest path (0 for an empty trie).
    int32_t depth() const { return static_cast<int32_t>(m_levelTokenBegin.size()) - 1; }

    /// Calls @p fn for every complete path in lexicographic token order (brute force, depth
    /// first). The span is valid only during the call.
    void forEachPath(
        const std::function<void(std::span<const int32_t> tokens, const std::vector<int64_t> &items)>
            &fn) const;

    /// All complete paths, in lexicographic token order (see forEachPath).
    std::vector<Entry> enumeratePaths() const;

private:
    // CSR: children of node n are edges [m_childBegin[n], m_childBegin[n + 1]); edge e has token
    // m_edgeToken[e] and leads to node e + 1.
    std::vector<int32_t> m_childBegin;
    std::vector<int32_t> m_edgeToken;
    std::vector<int32_t> m_nodeLevel;
    std::vector<int32_t> m_nodeTerminal; // index into m_terminalItems, or -1
    std::vector<std::vector<int64_t>> m_terminalItems;
    // Per-level token unions, concatenated: level l is [m_levelTokenBegin[l], m_levelTokenBegin[l+1]).
    std::vector<int32_t> m_levelTokenBegin;
    std::vector<int32_t> m_levelTokens;
    std::vector<int32_t> m_allTokens;
    std::size_t m_numItems = 0;
};

} // namespace genrec::core
