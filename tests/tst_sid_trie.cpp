#include "core/common/error.h"
#include "core/eval/sid_trie.h"

#include <QtTest/QtTest>

#include <map>
#include <random>

using genrec::core::Error;
using genrec::core::ErrorKind;
using genrec::core::SidTrie;
using genrec::core::SidTriePath;

using Tokens = std::vector<int32_t>;
using Items = std::vector<int64_t>;

Q_DECLARE_METATYPE(Tokens)

namespace {

// Three-level SIDs with one collision (items 0 and 4) and two four-token SIDs (5 and 6), listed
// out of order on purpose.
std::vector<SidTriePath> smallCatalogue()
{
    return {
        {6, {12, 22, 32, 41}},
        {0, {10, 20, 30}},
        {1, {10, 20, 31}},
        {2, {10, 21, 30}},
        {3, {11, 20, 30}},
        {4, {10, 20, 30}},
        {5, {12, 22, 32, 40}},
    };
}

Tokens toVector(std::span<const int32_t> s)
{
    return Tokens(s.begin(), s.end());
}

template<typename F>
void expectBadInput(F &&f)
{
    try {
        f();
        QFAIL("expected genrec::core::Error");
    } catch (const Error &e) {
        QCOMPARE(e.kind(), ErrorKind::BadInput);
    }
}

} // namespace

class TestSidTrie : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void counts();
    void allowedTokens_data();
    void allowedTokens();
    void invalidPrefix();
    void sharedLeaf();
    void enumerateEqualsInput();
    void levelUnions();
    void terminatorTokens();
    void pathThatIsPrefixOfAnother();
    void badInput();
    void emptyTrie();
    void interleavedWalksAreIndependent();
    void randomCatalogueMatchesMap();
};

void TestSidTrie::counts()
{
    const SidTrie trie = SidTrie::build(smallCatalogue());
    QCOMPARE(trie.numItems(), std::size_t(7));
    QCOMPARE(trie.numPaths(), std::size_t(6));
    QCOMPARE(trie.depth(), 4);
    // root + {10,11,12} + {10-20,10-21,11-20,12-22} + 5 third-level nodes + {40,41}
    QCOMPARE(trie.numNodes(), std::size_t(1 + 3 + 4 + 5 + 2));
    QCOMPARE(trie.root(), 0);
    QCOMPARE(trie.level(trie.root()), 0);
}

void TestSidTrie::allowedTokens_data()
{
    QTest::addColumn<Tokens>("prefix");
    QTest::addColumn<Tokens>("allowed");
    QTest::newRow("root") << Tokens{} << Tokens{10, 11, 12};
    QTest::newRow("10") << Tokens{10} << Tokens{20, 21};
    QTest::newRow("11") << Tokens{11} << Tokens{20};
    QTest::newRow("10-20") << Tokens{10, 20} << Tokens{30, 31};
    QTest::newRow("12-22") << Tokens{12, 22} << Tokens{32};
    QTest::newRow("12-22-32 (4th level)") << Tokens{12, 22, 32} << Tokens{40, 41};
    QTest::newRow("complete 3-token SID") << Tokens{10, 20, 30} << Tokens{};
    QTest::newRow("complete 4-token SID") << Tokens{12, 22, 32, 41} << Tokens{};
}

void TestSidTrie::allowedTokens()
{
    QFETCH(Tokens, prefix);
    QFETCH(Tokens, allowed);
    const SidTrie trie = SidTrie::build(smallCatalogue());
    const int32_t node = trie.walk(prefix);
    QVERIFY(node >= 0);
    QCOMPARE(trie.level(node), static_cast<int32_t>(prefix.size()));
    QCOMPARE(toVector(trie.allowedTokens(node)), allowed);
    QCOMPARE(trie.isLeaf(node), allowed.empty());
    for (std::size_t i = 0; i < allowed.size(); ++i)
        QCOMPARE(trie.child(node, allowed[i]), trie.childAt(node, i));
}

void TestSidTrie::invalidPrefix()
{
    const SidTrie trie = SidTrie::build(smallCatalogue());
    QCOMPARE(trie.child(trie.root(), 13), -1);
    QCOMPARE(trie.child(trie.root(), 20), -1); // a level-2 token at level 1
    QCOMPARE(trie.walk(Tokens{10, 22}), -1);
    QCOMPARE(trie.walk(Tokens{10, 20, 30, 1}), -1); // past a leaf
    QCOMPARE(trie.child(-1, 10), -1);                // a failed walk stays failed
    QCOMPARE(trie.findPath(Tokens{10, 20}), -1);     // a prefix is not a complete SID
    QCOMPARE(trie.findPath(Tokens{12, 22, 32}), -1);
    QVERIFY(trie.findPath(Tokens{12, 22, 32, 40}) >= 0);
}

void TestSidTrie::sharedLeaf()
{
    const SidTrie trie = SidTrie::build(smallCatalogue());
    const int32_t leaf = trie.findPath(Tokens{10, 20, 30});
    QVERIFY(leaf >= 0);
    QVERIFY(trie.isLeaf(leaf));
    QVERIFY(trie.isTerminal(leaf));
    QCOMPARE(trie.itemsAt(leaf), (Items{0, 4}));
    QCOMPARE(trie.itemsAt(trie.findPath(Tokens{10, 20, 31})), Items{1});
    const int32_t inner = trie.walk(Tokens{10, 20});
    QVERIFY(!trie.isTerminal(inner));
    QVERIFY(trie.itemsAt(inner).empty());
}

void TestSidTrie::enumerateEqualsInput()
{
    const SidTrie trie = SidTrie::build(smallCatalogue());
    std::map<Tokens, Items> expected;
    for (const auto &[item, tokens] : smallCatalogue())
        expected[tokens].push_back(item);
    for (auto &[tokens, items] : expected)
        std::sort(items.begin(), items.end());

    const auto paths = trie.enumeratePaths();
    QCOMPARE(paths.size(), expected.size());
    auto it = expected.begin(); // std::map order is lexicographic, like the enumeration
    for (const auto &entry : paths) {
        QCOMPARE(entry.tokens, it->first);
        QCOMPARE(entry.items, it->second);
        ++it;
    }
}

void TestSidTrie::levelUnions()
{
    const SidTrie trie = SidTrie::build(smallCatalogue());
    QCOMPARE(toVector(trie.allowedTokenUnion(0)), (Tokens{10, 11, 12}));
    QCOMPARE(toVector(trie.allowedTokenUnion(1)), (Tokens{20, 21, 22}));
    QCOMPARE(toVector(trie.allowedTokenUnion(2)), (Tokens{30, 31, 32}));
    QCOMPARE(toVector(trie.allowedTokenUnion(3)), (Tokens{40, 41}));
    QVERIFY(trie.allowedTokenUnion(4).empty());
    QVERIFY(trie.allowedTokenUnion(-1).empty());
    QCOMPARE(toVector(trie.allTokens()), (Tokens{10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41}));
}

void TestSidTrie::terminatorTokens()
{
    // The decoder's layout: SID tokens, then "\n" and EOS.
    constexpr int32_t kNl = 198, kEos = 151645;
    std::vector<SidTriePath> paths = smallCatalogue();
    for (auto &[item, tokens] : paths) {
        tokens.push_back(kNl);
        tokens.push_back(kEos);
    }
    const SidTrie trie = SidTrie::build(paths);
    QCOMPARE(trie.depth(), 6);
    const int32_t afterSid = trie.walk(Tokens{11, 20, 30});
    QCOMPARE(toVector(trie.allowedTokens(afterSid)), Tokens{kNl});
    QVERIFY(!trie.isTerminal(afterSid));
    const int32_t afterNl = trie.child(afterSid, kNl);
    QCOMPARE(toVector(trie.allowedTokens(afterNl)), Tokens{kEos});
    const int32_t end = trie.child(afterNl, kEos);
    QVERIFY(trie.isLeaf(end));
    QCOMPARE(trie.itemsAt(end), Items{3});
    // "\n" follows a 3-token SID at level 3 and a 4-token SID at level 4.
    QCOMPARE(toVector(trie.allowedTokenUnion(3)), (Tokens{40, 41, kNl}));
    QCOMPARE(toVector(trie.allowedTokenUnion(5)), Tokens{kEos});
    QCOMPARE(trie.numPaths(), std::size_t(6));
}

void TestSidTrie::pathThatIsPrefixOfAnother()
{
    const SidTrie trie = SidTrie::build({{1, {5, 6, 7}}, {2, {5, 6}}, {3, {5, 6, 8}}});
    const int32_t mid = trie.walk(Tokens{5, 6});
    QVERIFY(trie.isTerminal(mid));
    QVERIFY(!trie.isLeaf(mid));
    QCOMPARE(trie.itemsAt(mid), Items{2});
    QCOMPARE(toVector(trie.allowedTokens(mid)), (Tokens{7, 8}));
    const auto paths = trie.enumeratePaths();
    QCOMPARE(paths.size(), std::size_t(3));
    QCOMPARE(paths[0].tokens, (Tokens{5, 6}));
    QCOMPARE(paths[1].tokens, (Tokens{5, 6, 7}));
    QCOMPARE(paths[2].tokens, (Tokens{5, 6, 8}));
}

void TestSidTrie::badInput()
{
    expectBadInput([] { SidTrie::build({{1, {}}}); });
    expectBadInput([] { SidTrie::build({{1, {3, -2, 4}}}); });
    expectBadInput([] { SidTrie::build({{1, {3, 4}}, {1, {3, 5}}}); });

    // The same (item, path) twice is merged, not an error.
    const SidTrie trie = SidTrie::build({{1, {3, 4}}, {1, {3, 4}}, {2, {3, 4}}});
    QCOMPARE(trie.numItems(), std::size_t(2));
    QCOMPARE(trie.itemsAt(trie.findPath(Tokens{3, 4})), (Items{1, 2}));
}

void TestSidTrie::emptyTrie()
{
    for (const SidTrie &trie : {SidTrie(), SidTrie::build({})}) {
        QCOMPARE(trie.numNodes(), std::size_t(1));
        QCOMPARE(trie.numPaths(), std::size_t(0));
        QCOMPARE(trie.depth(), 0);
        QVERIFY(trie.allowedTokens(trie.root()).empty());
        QVERIFY(trie.isLeaf(trie.root()));
        QVERIFY(trie.allTokens().empty());
        QVERIFY(trie.enumeratePaths().empty());
        QCOMPARE(trie.child(trie.root(), 0), -1);
    }
}

void TestSidTrie::interleavedWalksAreIndependent()
{
    // Two searches advance one token at a time in alternation; each keeps its own node, so one
    // search's progress cannot change what the other is allowed (spec bug B4).
    const SidTrie trie = SidTrie::build(smallCatalogue());
    const Tokens a{12, 22, 32, 40}, b{10, 21, 30};
    int32_t na = trie.root(), nb = trie.root();
    for (std::size_t step = 0; step < 4; ++step) {
        if (step < a.size())
            na = trie.child(na, a[step]);
        if (step < b.size()) {
            QCOMPARE(trie.allowedTokens(nb).empty(), false);
            nb = trie.child(nb, b[step]);
        }
        QVERIFY(na >= 0 && nb >= 0);
    }
    QCOMPARE(trie.itemsAt(na), Items{5});
    QCOMPARE(trie.itemsAt(nb), Items{2});
}

void TestSidTrie::randomCatalogueMatchesMap()
{
    // Small code books force many shared prefixes and some full collisions.
    std::mt19937 rng(7);
    std::vector<SidTriePath> paths;
    std::map<Tokens, Items> expected;
    for (int64_t item = 0; item < 600; ++item) {
        Tokens t;
        const int len = 3 + static_cast<int>(rng() % 2);
        for (int l = 0; l < len; ++l)
            t.push_back(100 * (l + 1) + static_cast<int32_t>(rng() % (l == 0 ? 4 : 6)));
        expected[t].push_back(item);
        paths.push_back({item, t});
    }
    const SidTrie trie = SidTrie::build(paths);
    QCOMPARE(trie.numItems(), std::size_t(600));
    QCOMPARE(trie.numPaths(), expected.size());

    const auto enumerated = trie.enumeratePaths();
    QCOMPARE(enumerated.size(), expected.size());
    std::size_t i = 0;
    for (const auto &[tokens, items] : expected) {
        QCOMPARE(enumerated[i].tokens, tokens);
        QCOMPARE(enumerated[i].items, items);
        QCOMPARE(trie.itemsAt(trie.findPath(tokens)), items);
        ++i;
    }

    // Structural invariants: sorted children, child() agrees with childAt(), levels increase by 1.
    for (int32_t n = 0; n < static_cast<int32_t>(trie.numNodes()); ++n) {
        const auto allowed = trie.allowedTokens(n);
        QVERIFY(std::is_sorted(allowed.begin(), allowed.end()));
        QVERIFY(std::adjacent_find(allowed.begin(), allowed.end()) == allowed.end());
        for (std::size_t c = 0; c < allowed.size(); ++c) {
            QCOMPARE(trie.child(n, allowed[c]), trie.childAt(n, c));
            QCOMPARE(trie.level(trie.childAt(n, c)), trie.level(n) + 1);
        }
        QVERIFY(!trie.isLeaf(n) || trie.isTerminal(n));
    }
}

QTEST_APPLESS_MAIN(TestSidTrie)
#include "tst_sid_trie.moc"
