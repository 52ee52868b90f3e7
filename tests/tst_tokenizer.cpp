#include "core/common/error.h"
#include "training/tokenizer/bpe_tokenizer.h"
#include "training/tokenizer/qwen2_pretokenizer.h"
#include "training/tokenizer/regex_splitter.h"
#include "training/tokenizer/sid_tokens.h"
#include "training/tokenizer/tokenize_stream.h"

#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <random>
#include <sstream>

using genrec::core::Error;
using genrec::core::ErrorKind;
using genrec::train::BpeTokenizer;
using Ids = std::vector<int32_t>;
using nlohmann::json;

namespace {

std::string fixturePath(const std::string &rel)
{
    return qEnvironmentVariable("GENREC_FIXTURES").toStdString() + "/tokenizer/" + rel;
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

void writeFile(const std::string &path, const std::string &content)
{
    std::ofstream out(path, std::ios::binary);
    out << content;
}

std::string show(const Ids &ids)
{
    return json(ids).dump();
}

/// One line of qwen_goldens.jsonl (written by fixtures/tokenizer/make_goldens.mjs).
struct Golden
{
    std::string text;
    Ids ids;
    bool sid = false;
    bool title = false;         ///< an item title (else the hand-written corpus)
    std::string expectedDecode; ///< NFC(text)
};

struct Goldens
{
    int32_t baseSize = 0;
    std::vector<std::string> sidTokens;
    std::vector<Golden> lines;
};

Goldens loadGoldens()
{
    Goldens g;
    std::ifstream in(fixturePath("qwen_goldens.jsonl"));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        const json j = json::parse(line);
        if (first) {
            g.baseSize = j["meta"]["base_size"].get<int32_t>();
            g.sidTokens = j["meta"]["sid_tokens"].get<std::vector<std::string>>();
            first = false;
            continue;
        }
        Golden r;
        r.text = j["text"].get<std::string>();
        r.ids = j["ids"].get<Ids>();
        r.sid = j["sid"].get<bool>();
        r.title = j["title"].get<bool>();
        r.expectedDecode = j.contains("nfc") ? j["nfc"].get<std::string>() : r.text;
        g.lines.push_back(std::move(r));
    }
    return g;
}

template<typename F>
Error expectBadInput(F &&f)
{
    try {
        f();
    } catch (const Error &e) {
        if (e.kind() != ErrorKind::BadInput)
            qWarning("unexpected error kind for: %s", e.what());
        return e;
    }
    QTest::qFail("expected genrec::core::Error (BadInput)", __FILE__, __LINE__);
    return Error(ErrorKind::Runtime, "no error thrown");
}

/// A small, mixed corpus for compact-tokenizer tests (item titles + prompts).
std::vector<std::string> compactCorpus(const Goldens &g)
{
    std::vector<std::string> corpus;
    for (const Golden &r : g.lines) {
        if (!r.sid)
            corpus.push_back(r.text);
    }
    return corpus;
}

} // namespace

class TestTokenizer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void qwenVocabulary();
    void goldensParity();
    void whitespaceEdgeCases();
    void qwen2ScannerMatchesRegex();
    void decodeRoundTrip();
    void decodeSpecialAndPartial();
    void invalidUtf8Input();
    void sidOrdering();
    void sidOrderingFromIndex();
    void addedTokensMatchAtomically();
    void addedTokensLongestMatchFirst();
    void compactTrainSaveReload();
    void compactIsDeterministic();
    void mergesStringForm();
    void qwenSaveReload();
    void malformed_data();
    void malformed();
    void missingTokenizerFile();
    void tokenizeStream();
    void tokenizeStreamErrors();
    void throughput();

private:
    Goldens m_goldens;
    std::unique_ptr<BpeTokenizer> m_qwen;    ///< as shipped
    std::unique_ptr<BpeTokenizer> m_qwenSid; ///< + the Office SID tokens
    std::unique_ptr<BpeTokenizer> m_compact; ///< trained on the golden corpus
};

void TestTokenizer::initTestCase()
{
    m_goldens = loadGoldens();
    QVERIFY2(m_goldens.lines.size() > 3000, "qwen_goldens.jsonl missing or truncated");
    m_qwen = std::make_unique<BpeTokenizer>(BpeTokenizer::load(GENREC_QWEN_TOKENIZER_DIR));
    m_qwenSid = std::make_unique<BpeTokenizer>(BpeTokenizer::load(GENREC_QWEN_TOKENIZER_DIR));
    QCOMPARE(m_qwenSid->addTokens(m_goldens.sidTokens), int(m_goldens.sidTokens.size()));
    m_compact = std::make_unique<BpeTokenizer>(
        BpeTokenizer::trainCompact(compactCorpus(m_goldens), 2000));
}

void TestTokenizer::qwenVocabulary()
{
    const BpeTokenizer &t = *m_qwen;
    QCOMPARE(t.size(), m_goldens.baseSize);
    QCOMPARE(t.size(), 151669);
    QCOMPARE(t.modelVocabSize(), 151643);
    QCOMPARE(t.mergeCount(), 151387);
    QCOMPARE(t.tokenToId("<|endoftext|>"), 151643);
    QCOMPARE(t.tokenToId("<|im_end|>"), 151645);
    QCOMPARE(t.tokenToId("\xC4\xA0the"), 279); // "Ġthe"
    QCOMPARE(t.tokenToId("no such token"), -1);
    QCOMPARE(QString::fromStdString(t.idToToken(279)), QStringLiteral("\u0120the"));
    QCOMPARE(t.eosTokenId(), 151645); // tokenizer_config.json: eos_token = <|im_end|>
    QCOMPARE(t.padTokenId(), 151643); // pad_token = <|endoftext|>
    QVERIFY(t.isSpecial(151643));
    QVERIFY(!t.isSpecial(279));
    QCOMPARE(t.modelMaxLength(), int64_t(131072));
    expectBadInput([&] { (void)t.idToToken(t.size()); });
}

void TestTokenizer::goldensParity()
{
    int checked = 0;
    int mismatches = 0;
    for (const Golden &g : m_goldens.lines) {
        const Ids got = (g.sid ? *m_qwenSid : *m_qwen).encode(g.text);
        ++checked;
        if (got != g.ids && ++mismatches <= 5)
            qWarning("sid=%d %s\n  want %s\n  got  %s", int(g.sid), json(g.text).dump().c_str(),
                     show(g.ids).c_str(), show(got).c_str());
    }
    QCOMPARE(checked, int(m_goldens.lines.size()));
    QCOMPARE(mismatches, 0);
}

void TestTokenizer::whitespaceEdgeCases()
{
    // Ids from HF tokenizers 0.23.2 (Rust, Oniguruma): \s is Unicode White_Space, so U+0085 and
    // U+2028 are spaces while U+180E, U+FEFF and U+001C are not; (?i) folds 'ſ' to 's'.
    const std::pair<const char *, Ids> cases[] = {
        {"!\u180E x", {0, 123970, 236, 856}},
        {"!\u0085 x", {0, 126, 227, 856}},
        {"!\uFEFF x", {0, 3225, 856}},
        {"x\u2028 \u3000y", {87, 378, 101, 220, 22441, 88}},
        {"it'\u017Ft", {275, 6, 144815, 83}},
        {"\x0B!\x1C", {199, 0, 216}},
        {"a\u00A0\u00A0\u00A0b", {64, 9238, 4102, 65}},
    };
    for (const auto &[text, want] : cases) {
        const Ids got = m_qwen->encode(text);
        QVERIFY2(got == want, (json(text).dump() + ": got " + show(got)).c_str());
    }
}

void TestTokenizer::qwen2ScannerMatchesRegex()
{
    // The hand-written Qwen2 scanner must cut exactly where PCRE2 running the regex does.
    const genrec::train::RegexSplitter regex(genrec::train::kQwen2PreTokenizerRegex,
                                             genrec::train::RegexSplitter::Behavior::Isolated,
                                             "test");
    const auto agree = [&](const std::string &text) {
        std::vector<std::string_view> a, b;
        genrec::train::splitQwen2(text, a);
        regex.split(text, b);
        return a == b;
    };
    for (const Golden &g : m_goldens.lines)
        QVERIFY2(agree(g.expectedDecode), json(g.text).dump().c_str());

    // Random strings over an alphabet of every character class the regex distinguishes.
    const std::vector<std::string> alphabet = {
        "a", "Z", "s", "S", "t", "r", "e", "v", "m", "l", "L", "d", "D", "'", "\u017F", "0", "7",
        " ", " ", "\t", "\n", "\r", "\x0B", "\x0C", "\x1C", ".", "!", "<", "_", "&", ";", "\u00E9",
        "\u4E2D", "\u0661", "\u2163", "\u00BD", "\u0301", "\u00A0", "\u0085", "\u2028", "\u3000",
        "\u180E", "\u200B", "\uFEFF", "\U0001F600", "\u3002", "\u02B0"};
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 3000; ++iter) {
        std::string text;
        const int len = 1 + int(rng() % 24);
        for (int k = 0; k < len; ++k)
            text += alphabet[rng() % alphabet.size()];
        QVERIFY2(agree(text), json(text).dump().c_str());
    }
}

void TestTokenizer::decodeRoundTrip()
{
    for (const Golden &g : m_goldens.lines) {
        const BpeTokenizer &t = g.sid ? *m_qwenSid : *m_qwen;
        const std::string decoded = t.decode(g.ids);
        QVERIFY2(decoded == g.expectedDecode, json(g.text).dump().c_str());
        QVERIFY2(t.decode(t.encode(g.text)) == g.expectedDecode, json(g.text).dump().c_str());
    }
}

void TestTokenizer::decodeSpecialAndPartial()
{
    const BpeTokenizer &t = *m_qwen;
    const Ids ids = t.encode("<|im_start|>user\nhi<|im_end|>");
    QCOMPARE(ids.front(), 151644);
    QCOMPARE(ids.back(), 151645);
    QCOMPARE(QString::fromStdString(t.decode(ids)),
             QStringLiteral("<|im_start|>user\nhi<|im_end|>"));
    QCOMPARE(QString::fromStdString(t.decode(ids, /*skipSpecial=*/true)),
             QStringLiteral("user\nhi"));

    // A cut multi-byte character decodes to U+FFFD, as HF's from_utf8_lossy does.
    const int32_t leadF0 = t.tokenToId("\xC3\xB0"); // "ð": the byte-level token of byte 0xF0
    QVERIFY(leadF0 >= 0);
    QCOMPARE(QString::fromStdString(t.decode({leadF0})), QStringLiteral("\uFFFD"));
    QCOMPARE(QString::fromStdString(t.decode({leadF0, t.tokenToId("a")})),
             QStringLiteral("\uFFFDa"));
    const Ids rare = t.encode("\xF0\xA0\x80\x8B"); // U+2000B: several byte-level tokens
    QVERIFY(rare.size() > 1);
    QCOMPARE(QString::fromStdString(t.decode({rare.front()})), QStringLiteral("\uFFFD"));
    QCOMPARE(QString::fromStdString(t.decode(rare)), QString::fromUtf8("\xF0\xA0\x80\x8B"));

    const Error e = expectBadInput([&] { (void)t.decode({1, t.size() + 5}); });
    QVERIFY(std::string(e.what()).find(std::to_string(t.size() + 5)) != std::string::npos);
    expectBadInput([&] { (void)t.decode({-1}); });
}

void TestTokenizer::invalidUtf8Input()
{
    const Error e = expectBadInput([&] { (void)m_qwen->encode("ok \xFF\xFE bad"); });
    QVERIFY2(std::string(e.what()).find("byte offset 3") != std::string::npos, e.what());
    expectBadInput([&] { (void)m_qwen->encode("\xE4\xBD"); }); // truncated 3-byte sequence
    expectBadInput([&] { (void)m_qwen->encode("\xED\xA0\x80"); }); // UTF-16 surrogate
}

void TestTokenizer::sidOrdering()
{
    const std::string index = R"({"0": ["<a_10>", "<b_2>", "<c_100>"],
                                  "1": ["<a_1>", "<b_10>", "<c_9>"],
                                  "2": ["<a_100>", "<b_2>", "<c_1>", "<d_0>"],
                                  "3": ["<a_0>", "<b_2>", "<c_100>"]})";
    // Python's sorted(): byte order, and '>' (0x3E) sorts after the digits, so "<a_100>" comes
    // before "<a_10>" and "<a_1>".
    const std::vector<std::string> want = {"<a_0>",  "<a_100>", "<a_10>",  "<a_1>", "<b_10>",
                                           "<b_2>",  "<c_100>", "<c_1>",   "<c_9>", "<d_0>"};
    QVERIFY(genrec::train::sidTokensFromIndexJson(index, "mem") == want);

    expectBadInput([] { genrec::train::sidTokensFromIndexJson(R"({"0": "<a_1>"})", "mem"); });
    expectBadInput([] { genrec::train::sidTokensFromIndexJson(R"({"0": [1, 2]})", "mem"); });
    const Error e = expectBadInput([] { genrec::train::sidTokensFromIndexJson("[1,", "x.json"); });
    QVERIFY(std::string(e.what()).find("x.json") != std::string::npos);
}

void TestTokenizer::sidOrderingFromIndex()
{
    // The order MiniOneRec gives the Office SIDs (computed by the golden generator) = ours.
    const auto tokens = genrec::train::loadSidTokens(fixturePath("office.index.json"));
    QCOMPARE(tokens.size(), std::size_t(600)); // spec §1.3: Office_Products adds 600 tokens
    QVERIFY(tokens == m_goldens.sidTokens);
    QCOMPARE(QString::fromStdString(tokens.front()), QStringLiteral("<a_0>"));

    // Ids are consecutive from len(tokenizer), in that order.
    for (std::size_t i = 0; i < tokens.size(); ++i)
        QCOMPARE(m_qwenSid->tokenToId(tokens[i]), 151669 + int32_t(i));
    QCOMPARE(m_qwenSid->size(), 151669 + 600);
    QVERIFY(!m_qwenSid->isSpecial(151669));
}

void TestTokenizer::addedTokensMatchAtomically()
{
    BpeTokenizer t = BpeTokenizer::trainCompact({"hello world", "hello there"}, 20);
    const int32_t base = t.size();
    QCOMPARE(t.addTokens({"<a_1>", "<b_22>", "<c_3>"}), 3);
    QCOMPARE(t.tokenToId("<a_1>"), base);
    QCOMPARE(t.tokenToId("<c_3>"), base + 2);
    QCOMPARE(t.addTokens({"<a_1>", "<c_3>"}), 0); // already there: skipped
    QCOMPARE(t.size(), base + 3);

    const Ids plain = t.encode("item ");
    const Ids ids = t.encode("item <a_1><b_22><c_3>\n");
    Ids want = plain;
    want.insert(want.end(), {base, base + 1, base + 2});
    const Ids nl = t.encode("\n");
    want.insert(want.end(), nl.begin(), nl.end());
    QVERIFY2(ids == want, (show(ids) + " vs " + show(want)).c_str());
    QCOMPARE(QString::fromStdString(t.decode(ids)), QStringLiteral("item <a_1><b_22><c_3>\n"));
    // Not an added token: "<a_2>" goes through BPE.
    QVERIFY(t.encode("<a_2>").size() > 1);

    // A token already in the model vocabulary keeps its id and becomes atomic.
    const int32_t byteA = t.tokenToId("a");
    QCOMPARE(t.addTokens({"a"}), 0);
    QCOMPARE(t.tokenToId("a"), byteA);
    expectBadInput([&] { t.addTokens({""}); });
    expectBadInput([&] { t.addTokens({"\xC3"}); });
}

void TestTokenizer::addedTokensLongestMatchFirst()
{
    BpeTokenizer t = BpeTokenizer::trainCompact({"abc"}, 0);
    const int32_t base = t.size();
    t.addTokens({"<a_1>", "<a_10>", "<a_100>"});
    QVERIFY(t.encode("<a_100>") == Ids{base + 2});
    QVERIFY(t.encode("<a_10><a_1>") == (Ids{base + 1, base}));
    // Leftmost match wins over a longer one that starts later.
    t.addTokens({"xy", "yzzz"});
    const Ids ids = t.encode("xyzzz");
    QCOMPARE(ids.front(), t.tokenToId("xy"));
    QCOMPARE(ids.size(), std::size_t(4)); // xy + z z z
}

void TestTokenizer::compactTrainSaveReload()
{
    const BpeTokenizer &t = *m_compact;
    QVERIFY(t.mergeCount() > 1000);
    QVERIFY(t.mergeCount() <= 2000);
    QCOMPARE(t.size(), t.modelVocabSize() + 3);
    for (int b = 0; b < 128; ++b) // byte tokens come first, by byte value
        QVERIFY(t.encode(std::string(1, char(b))) == Ids{b});
    QCOMPARE(t.tokenToId("<|endoftext|>"), t.modelVocabSize());
    QCOMPARE(t.eosTokenId(), t.tokenToId("<|endoftext|>"));
    QCOMPARE(t.padTokenId(), t.eosTokenId());
    QCOMPARE(t.tokenToId("<|im_end|>"), t.modelVocabSize() + 2);

    // Titles take clearly fewer tokens than bytes.
    int64_t bytes = 0, tokens = 0;
    for (const Golden &g : m_goldens.lines) {
        if (g.sid)
            continue;
        bytes += int64_t(g.text.size());
        tokens += int64_t(t.encode(g.text).size());
    }
    QVERIFY2(tokens * 2 < bytes, qPrintable(QStringLiteral("%1 tokens for %2 bytes")
                                                .arg(tokens).arg(bytes)));

    // Save with SID tokens on top, reload, and get identical ids and text back.
    BpeTokenizer withSids = BpeTokenizer::trainCompact(compactCorpus(m_goldens), 2000);
    QCOMPARE(withSids.addTokens(m_goldens.sidTokens), 600);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    withSids.save(dir.path().toStdString());
    const BpeTokenizer reloaded = BpeTokenizer::load(dir.path().toStdString());
    QCOMPARE(reloaded.size(), withSids.size());
    QCOMPARE(reloaded.mergeCount(), withSids.mergeCount());
    QCOMPARE(reloaded.eosTokenId(), withSids.eosTokenId());
    for (const Golden &g : m_goldens.lines) {
        const Ids a = withSids.encode(g.text);
        const Ids b = reloaded.encode(g.text);
        QVERIFY2(a == b, json(g.text).dump().c_str());
        QVERIFY2(reloaded.decode(b) == g.expectedDecode, json(g.text).dump().c_str());
    }
    QVERIFY(reloaded.encode("<a_0><b_1>").size() == 2);

    // The saved files have HF's structure.
    const json doc = json::parse(readFile(dir.filePath(QStringLiteral("tokenizer.json"))
                                              .toStdString()));
    QCOMPARE(QString::fromStdString(doc["model"]["type"].get<std::string>()),
             QStringLiteral("BPE"));
    QCOMPARE(QString::fromStdString(doc["normalizer"]["type"].get<std::string>()),
             QStringLiteral("NFC"));
    QCOMPARE(QString::fromStdString(
                 doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].get<std::string>()),
             QString::fromUtf8(genrec::train::kQwen2PreTokenizerRegex));
    QCOMPARE(QString::fromStdString(doc["decoder"]["type"].get<std::string>()),
             QStringLiteral("ByteLevel"));
    QCOMPARE(doc["added_tokens"].size(), std::size_t(603));
    QCOMPARE(doc["model"]["merges"][0].size(), std::size_t(2));
    const json config = json::parse(
        readFile(dir.filePath(QStringLiteral("tokenizer_config.json")).toStdString()));
    QCOMPARE(QString::fromStdString(config["eos_token"].get<std::string>()),
             QStringLiteral("<|endoftext|>"));
    QCOMPARE(config["added_tokens_decoder"].size(), std::size_t(603));
    const json &sid0 = config["added_tokens_decoder"][std::to_string(withSids.tokenToId("<a_0>"))];
    QCOMPARE(QString::fromStdString(sid0["content"].get<std::string>()), QStringLiteral("<a_0>"));
    QCOMPARE(sid0["special"].get<bool>(), false);
}

void TestTokenizer::compactIsDeterministic()
{
    const BpeTokenizer again = BpeTokenizer::trainCompact(compactCorpus(m_goldens), 2000);
    QVERIFY(again.toTokenizerJson() == m_compact->toTokenizerJson());

    // Cancelling through the progress callback keeps the merges learned so far.
    const BpeTokenizer stopped = BpeTokenizer::trainCompact(
        compactCorpus(m_goldens), 2000, [](int64_t done, int64_t) { return done < 10; });
    QCOMPARE(stopped.mergeCount(), 10);
}

void TestTokenizer::mergesStringForm()
{
    // Older tokenizer.json files write merges as "a b" strings; both forms load the same.
    json doc = json::parse(m_compact->toTokenizerJson());
    for (json &m : doc["model"]["merges"])
        m = m[0].get<std::string>() + " " + m[1].get<std::string>();
    const BpeTokenizer legacy = BpeTokenizer::fromJson(doc.dump(), "", "legacy.json");
    QCOMPARE(legacy.mergeCount(), m_compact->mergeCount());
    for (const Golden &g : m_goldens.lines)
        QVERIFY2(legacy.encode(g.text) == m_compact->encode(g.text), json(g.text).dump().c_str());
}

void TestTokenizer::qwenSaveReload()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    m_qwenSid->save(dir.path().toStdString());
    const BpeTokenizer reloaded = BpeTokenizer::load(dir.path().toStdString());
    QCOMPARE(reloaded.size(), m_qwenSid->size());
    QCOMPARE(reloaded.mergeCount(), m_qwenSid->mergeCount());
    QCOMPARE(reloaded.eosTokenId(), 151645);
    QCOMPARE(reloaded.padTokenId(), 151643);
    for (const Golden &g : m_goldens.lines) {
        if (g.sid)
            QVERIFY2(reloaded.encode(g.text) == g.ids, json(g.text).dump().c_str());
    }
    // Unknown config keys (the chat template) survive.
    const json config = json::parse(
        readFile(dir.filePath(QStringLiteral("tokenizer_config.json")).toStdString()));
    QVERIFY(config.contains("chat_template"));
    QCOMPARE(config["model_max_length"].get<int64_t>(), int64_t(131072));
    QCOMPARE(config["added_tokens_decoder"].size(), std::size_t(26 + 600));
}

void TestTokenizer::malformed_data()
{
    QTest::addColumn<QString>("mutation");
    QTest::addColumn<QString>("needle");
    QTest::newRow("not json") << QStringLiteral("notjson") << QStringLiteral("not valid JSON");
    QTest::newRow("no model") << QStringLiteral("nomodel") << QStringLiteral("'model'");
    QTest::newRow("wordpiece") << QStringLiteral("wordpiece") << QStringLiteral("model.type");
    QTest::newRow("unknown merge token") << QStringLiteral("badmergetoken")
                                         << QStringLiteral("model.merges[0]");
    QTest::newRow("merge string") << QStringLiteral("badmergestring")
                                  << QStringLiteral("model.merges[1]");
    QTest::newRow("vocab id") << QStringLiteral("badvocabid") << QStringLiteral("model.vocab");
    QTest::newRow("added token") << QStringLiteral("badadded") << QStringLiteral("added_tokens[0]");
    QTest::newRow("normalizer") << QStringLiteral("lowercase") << QStringLiteral("normalizer");
    QTest::newRow("regex") << QStringLiteral("badregex") << QStringLiteral("does not compile");
    QTest::newRow("decoder") << QStringLiteral("nodecoder") << QStringLiteral("decoder");
    QTest::newRow("config") << QStringLiteral("badconfig")
                            << QStringLiteral("tokenizer_config.json");
}

void TestTokenizer::malformed()
{
    QFETCH(QString, mutation);
    QFETCH(QString, needle);
    json doc = json::parse(BpeTokenizer::trainCompact({"aaa bbb"}, 4).toTokenizerJson());
    std::string text;
    std::string config;
    const std::string m = mutation.toStdString();
    if (m == "nomodel")
        doc.erase("model");
    else if (m == "wordpiece")
        doc["model"]["type"] = "WordPiece";
    else if (m == "badmergetoken")
        doc["model"]["merges"][0] = json::array({"\xC5\x81nope", "a"});
    else if (m == "badmergestring")
        doc["model"]["merges"][1] = "abc";
    else if (m == "badvocabid")
        doc["model"]["vocab"]["a"] = "one";
    else if (m == "badadded")
        doc["added_tokens"][0].erase("id");
    else if (m == "lowercase")
        doc["normalizer"] = {{"type", "Lowercase"}};
    else if (m == "badregex")
        doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
    else if (m == "nodecoder")
        doc["decoder"] = nullptr;
    else if (m == "badconfig")
        config = "{\"eos_token\": ";
    text = m == "notjson" ? std::string("{\"model\": [1, 2") : doc.dump();

    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("tokenizer.json")).toStdString();
    writeFile(path, text);
    if (!config.empty())
        writeFile(dir.filePath(QStringLiteral("tokenizer_config.json")).toStdString(), config);
    const Error e = expectBadInput([&] { BpeTokenizer::load(dir.path().toStdString()); });
    const std::string what = e.what();
    QVERIFY2(what.find(dir.path().toStdString()) != std::string::npos, e.what());
    QVERIFY2(what.find(needle.toStdString()) != std::string::npos, e.what());
}

void TestTokenizer::missingTokenizerFile()
{
    QTemporaryDir dir;
    const Error e = expectBadInput([&] { BpeTokenizer::load(dir.path().toStdString()); });
    QVERIFY2(std::string(e.what()).find("tokenizer.json") != std::string::npos, e.what());
    QVERIFY(!e.hint().empty());
}

void TestTokenizer::tokenizeStream()
{
    const BpeTokenizer &t = *m_qwenSid;
    std::istringstream in("Hello world\n\n<a_0><b_1> 12\n");
    std::ostringstream out;
    QCOMPARE(genrec::train::tokenizeStream(t, in, out), int64_t(3));
    std::istringstream lines(out.str());
    std::string line;
    std::vector<Ids> got;
    while (std::getline(lines, line))
        got.push_back(json::parse(line).get<Ids>());
    QCOMPARE(got.size(), std::size_t(3));
    QVERIFY(got[0] == t.encode("Hello world"));
    QVERIFY(got[1].empty());
    QVERIFY(got[2] == t.encode("<a_0><b_1> 12"));

    std::istringstream idsIn(out.str());
    std::ostringstream textOut;
    genrec::train::TokenizeStreamOptions decode;
    decode.decode = true;
    QCOMPARE(genrec::train::tokenizeStream(t, idsIn, textOut, decode), int64_t(3));
    QCOMPARE(QString::fromStdString(textOut.str()),
             QStringLiteral("\"Hello world\"\n\"\"\n\"<a_0><b_1> 12\"\n"));
}

void TestTokenizer::tokenizeStreamErrors()
{
    genrec::train::TokenizeStreamOptions decode;
    decode.decode = true;
    const auto run = [&](const std::string &input, const genrec::train::TokenizeStreamOptions &o) {
        std::istringstream in(input);
        std::ostringstream out;
        genrec::train::tokenizeStream(*m_qwen, in, out, o);
    };
    Error e = expectBadInput([&] { run("[1, 2]\n[3, \"x\"]\n", decode); });
    QVERIFY2(std::string(e.what()).find("stdin line 2") != std::string::npos, e.what());
    e = expectBadInput([&] { run("[1]\n[2]\nnot json\n", decode); });
    QVERIFY2(std::string(e.what()).find("stdin line 3") != std::string::npos, e.what());
    e = expectBadInput([&] { run("[999999999]\n", decode); });
    QVERIFY2(std::string(e.what()).find("stdin line 1") != std::string::npos, e.what());
    e = expectBadInput([&] { run("fine\nbad \xC0\n", {}); });
    QVERIFY2(std::string(e.what()).find("stdin line 2") != std::string::npos, e.what());
}

void TestTokenizer::throughput()
{
    // Not a speed assertion: checks the benchmark hook measures something and reports it.
    std::string titles;
    for (const Golden &g : m_goldens.lines) {
        if (g.title)
            titles += g.text + "\n";
    }
    const double warm = genrec::train::measureEncodeMBps(*m_qwen, titles, 0.2);
    const double cold = genrec::train::measureEncodeMBps(*m_qwen, titles, 0.2, true);
    qInfo("encode throughput on %zu bytes of item titles: %.1f MB/s warm cache, %.1f MB/s cold "
          "(CPU time)",
          titles.size(), warm, cold);
    QVERIFY(warm > 0.0);
    QVERIFY(cold > 0.0);
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
