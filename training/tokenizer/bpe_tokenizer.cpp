#include "training/tokenizer/bpe_tokenizer.h"

#include "core/common/error.h"
#include "training/tokenizer/bpe_trainer.h"
#include "training/tokenizer/qwen2_pretokenizer.h"
#include "training/tokenizer/regex_splitter.h"
#include "training/tokenizer/unicode_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <queue>
#include <sstream>
#include <unordered_map>

namespace genrec::train {

using nlohmann::json;
namespace fs = std::filesystem;

const char *const kQwen2PreTokenizerRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

/// GPT-2's split, used by a ByteLevel pre-tokenizer with use_regex = true.
const char *const kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

constexpr int64_t kDefaultModelMaxLength = 32768;
constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kCacheCapacity = 1 << 18;

/// Heterogeneous lookup (find by string_view without building a std::string).
struct StringHash
{
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

struct MergeInfo
{
    int32_t rank;
    int32_t newId;
};

uint64_t pairKey(int32_t a, int32_t b)
{
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

/// Open-addressing hash map pair key → MergeInfo: one probe into a flat array per lookup instead
/// of a node walk, which is most of the cost of BPE on a cold cache.
class MergeTable
{
public:
    void reserve(std::size_t n)
    {
        std::size_t capacity = 16;
        while (capacity < 2 * n)
            capacity *= 2;
        if (capacity > m_keys.size())
            rehash(capacity);
    }
    void insert(uint64_t key, MergeInfo value)
    {
        if (2 * (m_size + 1) > m_keys.size())
            rehash(std::max<std::size_t>(16, 2 * m_keys.size()));
        std::size_t i = slot(key);
        while (m_keys[i] != kEmpty && m_keys[i] != key)
            i = (i + 1) & (m_keys.size() - 1);
        if (m_keys[i] == kEmpty)
            ++m_size;
        m_keys[i] = key;
        m_values[i] = value;
    }
    const MergeInfo *find(uint64_t key) const
    {
        if (m_keys.empty())
            return nullptr;
        for (std::size_t i = slot(key);; i = (i + 1) & (m_keys.size() - 1)) {
            if (m_keys[i] == key)
                return &m_values[i];
            if (m_keys[i] == kEmpty)
                return nullptr;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t(0); // pairKey(-1, -1): ids are never negative
    std::size_t slot(uint64_t key) const
    {
        return std::size_t((key * 0x9E3779B97F4A7C15ull) >> 32) & (m_keys.size() - 1);
    }
    void rehash(std::size_t capacity)
    {
        std::vector<uint64_t> keys(capacity, kEmpty);
        std::vector<MergeInfo> values(capacity);
        std::swap(keys, m_keys);
        std::swap(values, m_values);
        m_size = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (keys[i] != kEmpty)
                insert(keys[i], values[i]);
        }
    }
    std::vector<uint64_t> m_keys;
    std::vector<MergeInfo> m_values;
    std::size_t m_size = 0;
};

enum class IdKind : uint8_t { None, Model, Added };

std::string readTextFile(const fs::path &path, const char *what)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        core::throwBadInput(path.string() + ": cannot read " + what,
                            "pass a Hugging Face model folder that contains tokenizer.json");
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

json parseJson(const std::string &text, const std::string &origin)
{
    try {
        return json::parse(text);
    } catch (const json::parse_error &e) {
        core::throwBadInput(origin + ": not valid JSON (" + e.what() + ")",
                            "the file is damaged or truncated; copy it again from the model");
    }
}

/// tokenizer.json after one SAX pass. model.vocab and model.merges stream into flat vectors (a
/// DOM of a 150k-entry vocabulary costs more than all the rest of loading); everything else,
/// including the model's other fields, is an ordinary DOM.
struct RawTokenizerJson
{
    struct Merge
    {
        std::string left, right; ///< the string form "a b" keeps the whole string in `left`
        int parts = 0;           ///< strings seen inside a pair
        bool pairForm = false;
        bool bad = false; ///< an element of the wrong JSON type
    };
    json doc;
    bool hasVocab = false; ///< model.vocab was an object
    bool hasMerges = false; ///< model.merges was an array
    std::vector<std::pair<std::string, int64_t>> vocab; ///< id -1: not a non-negative integer
    std::vector<Merge> merges;
};

class TokenizerSax final : public json::json_sax_t
{
public:
    explicit TokenizerSax(RawTokenizerJson &out) : m_out(out) {}

    std::string error; ///< set when parsing stopped

    bool null() override { return scalar(json(nullptr)); }
    bool boolean(bool v) override { return scalar(json(v)); }
    bool number_integer(number_integer_t v) override
    {
        if (m_mode == Mode::Vocab) {
            m_out.vocab.emplace_back(std::move(m_key), v < 0 ? -1 : v);
            return true;
        }
        return scalar(json(v));
    }
    bool number_unsigned(number_unsigned_t v) override
    {
        if (m_mode == Mode::Vocab) {
            const auto max = uint64_t(std::numeric_limits<int64_t>::max());
            m_out.vocab.emplace_back(std::move(m_key), v > max ? -1 : int64_t(v));
            return true;
        }
        return scalar(json(v));
    }
    bool number_float(number_float_t v, const string_t &) override { return scalar(json(v)); }
    bool binary(binary_t &) override { return scalar(json()); }
    bool string(string_t &v) override
    {
        if (m_mode == Mode::Merges) {
            RawTokenizerJson::Merge m;
            m.left = std::move(v);
            m_out.merges.push_back(std::move(m));
            return true;
        }
        if (m_mode == Mode::MergePair) {
            RawTokenizerJson::Merge &m = m_out.merges.back();
            if (m.parts == 0)
                m.left = std::move(v);
            else if (m.parts == 1)
                m.right = std::move(v);
            ++m.parts;
            return true;
        }
        return scalar(json(std::move(v)));
    }
    bool key(string_t &k) override
    {
        m_key = std::move(k);
        if (m_mode == Mode::Dom && m_modelObject && !m_stack.empty() &&
            m_stack.back() == m_modelObject) {
            m_pendingVocab = m_key == "vocab";
            m_pendingMerges = m_key == "merges";
        }
        return true;
    }
    bool start_object(std::size_t) override
    {
        if (m_mode == Mode::Vocab)
            return fail("model.vocab[\"" + m_key + "\"] is not a valid token id");
        if (m_mode != Mode::Dom)
            return fail(mergeError());
        if (m_pendingVocab) {
            m_pendingVocab = false;
            m_mode = Mode::Vocab;
            m_out.hasVocab = true;
            return true;
        }
        const bool isModel = m_stack.size() == 1 && m_key == "model";
        open(json::object());
        if (isModel)
            m_modelObject = m_stack.back();
        return true;
    }
    bool end_object() override
    {
        if (m_mode == Mode::Vocab)
            m_mode = Mode::Dom;
        else
            m_stack.pop_back();
        return true;
    }
    bool start_array(std::size_t) override
    {
        if (m_mode == Mode::Vocab)
            return fail("model.vocab[\"" + m_key + "\"] is not a valid token id");
        if (m_mode == Mode::MergePair)
            return fail(mergeError());
        if (m_mode == Mode::Merges) {
            RawTokenizerJson::Merge m;
            m.pairForm = true;
            m_out.merges.push_back(std::move(m));
            m_mode = Mode::MergePair;
            return true;
        }
        if (m_pendingMerges) {
            m_pendingMerges = false;
            m_mode = Mode::Merges;
            m_out.hasMerges = true;
            return true;
        }
        open(json::array());
        return true;
    }
    bool end_array() override
    {
        if (m_mode == Mode::MergePair)
            m_mode = Mode::Merges;
        else if (m_mode == Mode::Merges)
            m_mode = Mode::Dom;
        else
            m_stack.pop_back();
        return true;
    }
    bool parse_error(std::size_t, const std::string &,
                     const nlohmann::detail::exception &e) override
    {
        error = std::string("not valid JSON (") + e.what() + ")";
        return false;
    }

private:
    enum class Mode { Dom, Vocab, Merges, MergePair };

    bool fail(std::string message)
    {
        error = std::move(message);
        return false;
    }
    std::string mergeError() const
    {
        const std::size_t index = m_out.merges.size() - (m_mode == Mode::Merges ? 0 : 1);
        return "model.merges[" + std::to_string(index) + "] is neither \"a b\" nor [\"a\", \"b\"]";
    }
    /// Adds `v` to the DOM under the current key (or as the next array element) and returns it.
    json *insert(json &&v)
    {
        if (m_stack.empty()) {
            m_out.doc = std::move(v);
            return &m_out.doc;
        }
        json &parent = *m_stack.back();
        if (parent.is_object())
            return &(parent[m_key] = std::move(v));
        parent.push_back(std::move(v));
        return &parent.back();
    }
    void open(json &&v) { m_stack.push_back(insert(std::move(v))); }
    bool scalar(json &&v)
    {
        if (m_mode == Mode::Vocab) {
            m_out.vocab.emplace_back(std::move(m_key), -1);
            return true;
        }
        if (m_mode == Mode::Merges) {
            RawTokenizerJson::Merge m;
            m.bad = true;
            m_out.merges.push_back(std::move(m));
            return true;
        }
        if (m_mode == Mode::MergePair) {
            m_out.merges.back().bad = true;
            return true;
        }
        m_pendingVocab = m_pendingMerges = false;
        insert(std::move(v));
        return true;
    }

    RawTokenizerJson &m_out;
    std::vector<json *> m_stack;
    json *m_modelObject = nullptr;
    std::string m_key;
    Mode m_mode = Mode::Dom;
    bool m_pendingVocab = false;
    bool m_pendingMerges = false;
};

RawTokenizerJson readTokenizerJson(const std::string &text, const std::string &origin)
{
    RawTokenizerJson raw;
    raw.vocab.reserve(1 << 16);
    raw.merges.reserve(1 << 16);
    TokenizerSax sax(raw);
    if (!json::sax_parse(text, &sax) || !sax.error.empty()) {
        const bool syntax = sax.error.rfind("not valid JSON", 0) == 0;
        core::throwBadInput(origin + ": " + (sax.error.empty() ? "not valid JSON" : sax.error),
                            syntax ? "the file is damaged or truncated; copy it again from the "
                                     "model"
                                   : "");
    }
    return raw;
}

/// A PCRE2 pattern that matches `literal` verbatim.
std::string escapeRegex(const std::string &literal)
{
    std::string out;
    for (const char c : literal) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80 && !std::isalnum(u))
            out += '\\';
        out += c;
    }
    return out;
}

/// The string value of a special-token entry of tokenizer_config.json: "tok" or {"content": "tok"}.
std::string tokenName(const json &v)
{
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return v["content"].get<std::string>();
    return {};
}

void writeFileAtomically(const fs::path &path, const std::string &content)
{
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
        out.flush();
        if (!out)
            core::throwRuntime(tmp.string() + ": cannot write", "check free space and permissions");
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
        core::throwRuntime(path.string() + ": cannot replace (" + ec.message() + ")",
                           "check permissions of the folder");
}

/// Indents every line but the first of a dumped JSON value by `indent` spaces.
std::string indentJson(const std::string &dumped, int indent)
{
    std::string out;
    out.reserve(dumped.size());
    for (const char c : dumped) {
        out += c;
        if (c == '\n')
            out.append(std::size_t(indent), ' ');
    }
    return out;
}

std::string quoted(const std::string &s)
{
    return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

// =================================================================================================
// Impl
// =================================================================================================

/// One step of the pre-tokenizer pipeline.
struct PreTokenizerStep
{
    std::unique_ptr<RegexSplitter> splitter; ///< null: no split
    bool qwen2 = false;                      ///< split with the hand-written Qwen2 scanner
    bool addPrefixSpace = false;             ///< ByteLevel add_prefix_space
};

struct BpeTokenizer::Impl
{
    std::string origin;

    // ---- BPE model
    StringMap<int32_t> vocab;               ///< model vocabulary, byte-level spelling → id
    std::vector<std::string> idToToken;     ///< every id < size(); "" where no token
    std::vector<IdKind> idKind;
    std::vector<std::pair<int32_t, int32_t>> merges; ///< rank order
    MergeTable mergeMap;
    std::array<int32_t, 256> byteId{};
    int32_t unkId = -1;
    bool ignoreMerges = false;
    json modelFields = json::object(); ///< model keys other than vocab/merges, saved back

    // ---- added tokens
    std::vector<AddedToken> added; ///< sorted by id
    StringMap<std::size_t> addedByContent;
    std::vector<std::size_t> addedLengths; ///< distinct content lengths, longest first
    std::bitset<256> addedFirstByte;
    std::vector<bool> specialId;

    // ---- pipeline
    text::NormalForm normalForm = text::NormalForm::None;
    std::vector<PreTokenizerStep> steps;

    // ---- decode
    std::vector<std::string> idBytes; ///< what each id decodes to (ByteLevel decoder rule)

    // ---- saved back verbatim
    json normalizerJson, preTokenizerJson, postProcessorJson, decoderJson;
    json truncationJson, paddingJson;
    json configJson = json::object();
    std::string eosToken, padToken;
    json modelMaxLength = kDefaultModelMaxLength;

    // ---- word cache
    mutable std::mutex cacheMutex;
    mutable StringMap<std::vector<int32_t>> cache;

    void parse(RawTokenizerJson &raw, const json *config);
    void parsePreTokenizer(const json &node, const std::string &where);
    void parseNormalizer(const json &node, const std::string &where);
    void setToken(int32_t id, const std::string &token, IdKind kind);
    void rebuildAddedIndex();
    void refreshIdBytes(int32_t id);

    void encodeText(std::string_view textIn, std::vector<int32_t> &out) const;
    void encodeSegment(std::string_view segment, std::vector<int32_t> &out) const;
    void encodeWord(std::string_view word, std::vector<int32_t> &out) const;
    void mergeSymbols(std::vector<int32_t> &symbols) const;
    const MergeInfo *findMerge(int32_t a, int32_t b) const
    {
        return mergeMap.find(pairKey(a, b));
    }
    int32_t lookup(std::string_view token) const;
};

// ---- loading ------------------------------------------------------------------------------------

void BpeTokenizer::Impl::setToken(int32_t id, const std::string &token, IdKind kind)
{
    if (id >= int32_t(idToToken.size())) {
        idToToken.resize(std::size_t(id) + 1);
        idKind.resize(std::size_t(id) + 1, IdKind::None);
        idBytes.resize(std::size_t(id) + 1);
        specialId.resize(std::size_t(id) + 1, false);
    }
    idToToken[id] = token;
    idKind[id] = kind;
    refreshIdBytes(id);
}

void BpeTokenizer::Impl::refreshIdBytes(int32_t id)
{
    // HF's ByteLevel decoder maps a token char by char; a token with any character outside the
    // 256 byte characters (e.g. an added token with a space) is emitted as its raw UTF-8.
    const std::string &token = idToToken[id];
    if (!text::byteLevelToBytes(token, idBytes[id]))
        idBytes[id] = token;
}

void BpeTokenizer::Impl::parseNormalizer(const json &node, const std::string &where)
{
    if (node.is_null())
        return;
    const std::string type = node.value("type", "");
    if (type == "Sequence") {
        const json &list = node.contains("normalizers") ? node["normalizers"] : json::array();
        for (std::size_t i = 0; i < list.size(); ++i)
            parseNormalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
        return;
    }
    text::NormalForm form = text::NormalForm::None;
    if (type == "NFC")
        form = text::NormalForm::Nfc;
    else if (type == "NFD")
        form = text::NormalForm::Nfd;
    else if (type == "NFKC")
        form = text::NormalForm::Nfkc;
    else if (type == "NFKD")
        form = text::NormalForm::Nfkd;
    else
        core::throwBadInput(origin + ": " + where + ".type '" + type + "' is not supported",
                            "supported normalizers: NFC, NFD, NFKC, NFKD (byte-level BPE models)");
    if (normalForm != text::NormalForm::None && normalForm != form)
        core::throwBadInput(origin + ": " + where + ": two different Unicode normal forms",
                            "use a single NFC/NFD/NFKC/NFKD normalizer");
    normalForm = form;
}

void BpeTokenizer::Impl::parsePreTokenizer(const json &node, const std::string &where)
{
    if (node.is_null())
        return;
    if (!node.is_object())
        core::throwBadInput(origin + ": " + where + " is not an object");
    const std::string type = node.value("type", "");
    if (type == "Sequence") {
        const json &list = node.contains("pretokenizers") ? node["pretokenizers"] : json::array();
        for (std::size_t i = 0; i < list.size(); ++i)
            parsePreTokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]");
        return;
    }
    if (type == "Split") {
        if (node.value("invert", false))
            core::throwBadInput(origin + ": " + where + ".invert = true is not supported");
        const json &pattern = node.contains("pattern") ? node["pattern"] : json();
        std::string regex;
        if (pattern.contains("Regex") && pattern["Regex"].is_string())
            regex = pattern["Regex"].get<std::string>();
        else if (pattern.contains("String") && pattern["String"].is_string())
            regex = escapeRegex(pattern["String"].get<std::string>());
        else
            core::throwBadInput(origin + ": " + where + ".pattern needs a Regex or String");
        const std::string behavior = node.value("behavior", "Isolated");
        RegexSplitter::Behavior b;
        if (behavior == "Isolated")
            b = RegexSplitter::Behavior::Isolated;
        else if (behavior == "Removed")
            b = RegexSplitter::Behavior::Removed;
        else
            core::throwBadInput(origin + ": " + where + ".behavior '" + behavior +
                                    "' is not supported",
                                "supported: Isolated, Removed");
        PreTokenizerStep step;
        if (regex == kQwen2PreTokenizerRegex && b == RegexSplitter::Behavior::Isolated)
            step.qwen2 = true;
        else
            step.splitter = std::make_unique<RegexSplitter>(regex, b, origin + ": " + where);
        steps.push_back(std::move(step));
        return;
    }
    if (type == "ByteLevel") {
        PreTokenizerStep step;
        step.addPrefixSpace = node.value("add_prefix_space", true); // HF's default
        if (node.value("use_regex", true))
            step.splitter = std::make_unique<RegexSplitter>(
                kGpt2Regex, RegexSplitter::Behavior::Isolated, origin + ": " + where);
        if (step.addPrefixSpace || step.splitter)
            steps.push_back(std::move(step));
        return;
    }
    core::throwBadInput(origin + ": " + where + ".type '" + type + "' is not supported",
                        "supported pre-tokenizers: Sequence, Split, ByteLevel");
}

void BpeTokenizer::Impl::parse(RawTokenizerJson &raw, const json *config)
{
    const json &doc = raw.doc;
    if (!doc.is_object())
        core::throwBadInput(origin + ": the top level is not a JSON object");
    if (!doc.contains("model") || !doc["model"].is_object())
        core::throwBadInput(origin + ": missing object field 'model'",
                            "is this a Hugging Face tokenizer.json?");
    const json &model = doc["model"];
    const std::string type = model.value("type", "BPE");
    if (type != "BPE")
        core::throwBadInput(origin + ": model.type is '" + type + "'",
                            "only byte-level BPE tokenizers (GPT-2, Qwen2 family) are supported");
    if (model.contains("dropout") && model["dropout"].is_number() &&
        model["dropout"].get<double>() > 0.0)
        core::throwBadInput(origin + ": model.dropout > 0 is not supported");
    if (model.value("byte_fallback", false))
        core::throwBadInput(origin + ": model.byte_fallback = true is not supported",
                            "only byte-level BPE tokenizers are supported");
    for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
            core::throwBadInput(origin + ": model." + key + " is not supported");
    }
    for (auto it = model.begin(); it != model.end(); ++it) {
        if (it.key() != "vocab" && it.key() != "merges")
            modelFields[it.key()] = it.value();
    }
    ignoreMerges = model.value("ignore_merges", false);

    // Vocabulary.
    if (!raw.hasVocab)
        core::throwBadInput(origin + ": missing object field 'model.vocab'");
    vocab.reserve(raw.vocab.size());
    int64_t maxId = -1;
    for (const auto &[token, id] : raw.vocab) {
        if (id < 0 || id > std::numeric_limits<int32_t>::max() / 2)
            core::throwBadInput(origin + ": model.vocab[\"" + token +
                                "\"] is not a valid token id");
        maxId = std::max(maxId, id);
    }
    idToToken.reserve(std::size_t(maxId + 1));
    for (auto &[token, id64] : raw.vocab) {
        const auto id = int32_t(id64);
        if (id < int32_t(idKind.size()) && idKind[id] != IdKind::None)
            core::throwBadInput(origin + ": model.vocab: id " + std::to_string(id) +
                                " is used by two tokens");
        setToken(id, token, IdKind::Model);
        if (!vocab.emplace(std::move(token), id).second)
            core::throwBadInput(origin + ": model.vocab: a token is listed twice");
    }
    raw.vocab = {};
    for (int b = 0; b < 256; ++b) {
        const auto it = vocab.find(text::byteToUnicode(uint8_t(b)));
        byteId[b] = it == vocab.end() ? -1 : it->second;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        const auto it = vocab.find(model["unk_token"].get<std::string>());
        unkId = it == vocab.end() ? -1 : it->second;
    }

    // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
    if (!raw.hasMerges)
        core::throwBadInput(origin + ": missing array field 'model.merges'");
    merges.reserve(raw.merges.size());
    mergeMap.reserve(raw.merges.size());
    std::string joined;
    for (std::size_t i = 0; i < raw.merges.size(); ++i) {
        RawTokenizerJson::Merge &m = raw.merges[i];
        const auto where = [i] { return "model.merges[" + std::to_string(i) + "]"; };
        if (m.bad || (m.pairForm && m.parts != 2))
            core::throwBadInput(origin + ": " + where() + " is neither \"a b\" nor [\"a\", \"b\"]");
        if (!m.pairForm) {
            const std::size_t space = m.left.find(' ');
            if (space == std::string::npos || m.left.find(' ', space + 1) != std::string::npos)
                core::throwBadInput(origin + ": " + where() + " \"" + m.left +
                                    "\" is not two tokens separated by one space");
            m.right = m.left.substr(space + 1);
            m.left.resize(space);
        }
        const auto a = vocab.find(m.left);
        const auto b = vocab.find(m.right);
        if (a == vocab.end() || b == vocab.end())
            core::throwBadInput(origin + ": " + where() + ": token \"" +
                                (a == vocab.end() ? m.left : m.right) + "\" is not in model.vocab");
        joined.assign(m.left).append(m.right);
        const auto ab = vocab.find(joined);
        if (ab == vocab.end())
            core::throwBadInput(origin + ": " + where() + ": merged token \"" + joined +
                                "\" is not in model.vocab");
        merges.emplace_back(a->second, b->second);
        // A repeated pair keeps its last rank, as HF's HashMap collect does.
        mergeMap.insert(pairKey(a->second, b->second), MergeInfo{int32_t(i), ab->second});
    }
    raw.merges = {};

    // Added tokens.
    if (doc.contains("added_tokens") && !doc["added_tokens"].is_null()) {
        const json &list = doc["added_tokens"];
        if (!list.is_array())
            core::throwBadInput(origin + ": 'added_tokens' is not an array");
        for (std::size_t i = 0; i < list.size(); ++i) {
            const json &t = list[i];
            const std::string where = "added_tokens[" + std::to_string(i) + "]";
            if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
                t["id"].get<int64_t>() < 0 || !t.contains("content") || !t["content"].is_string())
                core::throwBadInput(origin + ": " + where + " needs an integer 'id' >= 0 and a "
                                                            "string 'content'");
            AddedToken a;
            a.id = t["id"].get<int32_t>();
            a.content = t["content"].get<std::string>();
            if (a.content.empty())
                core::throwBadInput(origin + ": " + where + ".content is empty");
            a.special = t.value("special", false);
            a.lstrip = t.value("lstrip", false);
            a.rstrip = t.value("rstrip", false);
            a.normalized = t.value("normalized", !a.special);
            a.singleWord = t.value("single_word", false);
            if (a.id < int32_t(idKind.size()) && idKind[a.id] == IdKind::Model &&
                idToToken[a.id] != a.content)
                core::throwBadInput(origin + ": " + where + ": id " + std::to_string(a.id) +
                                    " is already the vocabulary token \"" + idToToken[a.id] + "\"");
            if (a.id < int32_t(idKind.size()) && idKind[a.id] == IdKind::Added)
                core::throwBadInput(origin + ": " + where + ": id " + std::to_string(a.id) +
                                    " is used by two added tokens");
            if (addedByContent.count(a.content))
                core::throwBadInput(origin + ": " + where + ": \"" + a.content +
                                    "\" is listed twice");
            addedByContent.emplace(a.content, 0);
            if (idKind.size() <= std::size_t(a.id) || idKind[a.id] != IdKind::Model)
                setToken(a.id, a.content, IdKind::Added);
            specialId[a.id] = a.special;
            added.push_back(std::move(a));
        }
    }
    rebuildAddedIndex();

    // Pipeline.
    normalizerJson = doc.contains("normalizer") ? doc["normalizer"] : json();
    preTokenizerJson = doc.contains("pre_tokenizer") ? doc["pre_tokenizer"] : json();
    postProcessorJson = doc.contains("post_processor") ? doc["post_processor"] : json();
    decoderJson = doc.contains("decoder") ? doc["decoder"] : json();
    truncationJson = doc.contains("truncation") ? doc["truncation"] : json();
    paddingJson = doc.contains("padding") ? doc["padding"] : json();
    parseNormalizer(normalizerJson, "normalizer");
    parsePreTokenizer(preTokenizerJson, "pre_tokenizer");
    if (!decoderJson.is_object() || decoderJson.value("type", "") != "ByteLevel")
        core::throwBadInput(origin + ": decoder must be {\"type\": \"ByteLevel\"}",
                            "only byte-level BPE tokenizers (GPT-2, Qwen2 family) are supported");

    // tokenizer_config.json.
    if (config) {
        if (!config->is_object())
            core::throwBadInput(origin + ": tokenizer_config.json is not a JSON object");
        configJson = *config;
        if (configJson.contains("eos_token"))
            eosToken = tokenName(configJson["eos_token"]);
        if (configJson.contains("pad_token"))
            padToken = tokenName(configJson["pad_token"]);
        if (configJson.contains("model_max_length") && configJson["model_max_length"].is_number())
            modelMaxLength = configJson["model_max_length"];
    }
    if (eosToken.empty() && lookup("<|endoftext|>") >= 0)
        eosToken = "<|endoftext|>";
    if (padToken.empty())
        padToken = eosToken;
}

void BpeTokenizer::Impl::rebuildAddedIndex()
{
    std::sort(added.begin(), added.end(),
              [](const AddedToken &x, const AddedToken &y) { return x.id < y.id; });
    addedByContent.clear();
    addedFirstByte.reset();
    addedLengths.clear();
    for (std::size_t i = 0; i < added.size(); ++i) {
        addedByContent[added[i].content] = i;
        addedFirstByte.set(static_cast<uint8_t>(added[i].content[0]));
        addedLengths.push_back(added[i].content.size());
    }
    std::sort(addedLengths.begin(), addedLengths.end(), std::greater<>());
    addedLengths.erase(std::unique(addedLengths.begin(), addedLengths.end()), addedLengths.end());
}

int32_t BpeTokenizer::Impl::lookup(std::string_view token) const
{
    if (const auto it = addedByContent.find(token); it != addedByContent.end())
        return added[it->second].id;
    if (const auto it = vocab.find(token); it != vocab.end())
        return it->second;
    return -1;
}

// ---- encoding -----------------------------------------------------------------------------------

void BpeTokenizer::Impl::encodeText(std::string_view textIn, std::vector<int32_t> &out) const
{
    if (added.empty()) {
        encodeSegment(textIn, out);
        return;
    }
    struct Span
    {
        std::size_t begin, end;
        int64_t addedIndex; // -1: ordinary text
    };
    std::vector<Span> spans;
    const std::size_t n = textIn.size();
    std::size_t segStart = 0;
    std::size_t i = 0;
    // Leftmost-longest matching, as HF's aho-corasick (MatchKind::LeftmostLongest).
    while (i < n) {
        if (!addedFirstByte.test(static_cast<uint8_t>(textIn[i]))) {
            ++i;
            continue;
        }
        int64_t found = -1;
        std::size_t foundLen = 0;
        for (const std::size_t len : addedLengths) {
            if (len > n - i)
                continue;
            const auto it = addedByContent.find(textIn.substr(i, len));
            if (it != addedByContent.end()) {
                found = int64_t(it->second);
                foundLen = len;
                break;
            }
        }
        if (found < 0) {
            ++i;
            continue;
        }
        if (i > segStart)
            spans.push_back({segStart, i, -1});
        spans.push_back({i, i + foundLen, found});
        i += foundLen;
        segStart = i;
    }
    if (segStart < n)
        spans.push_back({segStart, n, -1});

    for (std::size_t k = 0; k < spans.size(); ++k) {
        if (spans[k].addedIndex < 0)
            continue;
        const AddedToken &tok = added[std::size_t(spans[k].addedIndex)];
        if (tok.lstrip && k > 0 && spans[k - 1].addedIndex < 0) {
            Span &prev = spans[k - 1];
            std::size_t p = prev.begin, keep = prev.begin;
            while (p < prev.end) {
                const char32_t cp = text::nextCodePoint(textIn, p);
                if (!text::isWhiteSpace(cp))
                    keep = p;
            }
            prev.end = keep;
        }
        if (tok.rstrip && k + 1 < spans.size() && spans[k + 1].addedIndex < 0) {
            Span &next = spans[k + 1];
            std::size_t p = next.begin;
            while (p < next.end) {
                std::size_t q = p;
                if (!text::isWhiteSpace(text::nextCodePoint(textIn, q)))
                    break;
                p = q;
            }
            next.begin = p;
        }
    }
    for (const Span &s : spans) {
        if (s.addedIndex >= 0)
            out.push_back(added[std::size_t(s.addedIndex)].id);
        else if (s.end > s.begin)
            encodeSegment(textIn.substr(s.begin, s.end - s.begin), out);
    }
}

void BpeTokenizer::Impl::encodeSegment(std::string_view segment, std::vector<int32_t> &out) const
{
    std::string normalized;
    std::string_view s = segment;
    if (normalForm == text::NormalForm::Nfc ? !text::isNfcQuick(segment)
                                            : normalForm != text::NormalForm::None &&
                                                  !text::isAscii(segment)) {
        normalized = text::normalize(segment, normalForm);
        s = normalized;
    }
    std::vector<std::string_view> pieces{s};
    std::vector<std::string_view> next;
    std::deque<std::string> storage; // pieces that add_prefix_space had to copy
    for (const PreTokenizerStep &step : steps) {
        next.clear();
        for (std::string_view piece : pieces) {
            if (step.addPrefixSpace && (piece.empty() || piece.front() != ' ')) {
                storage.push_back(" " + std::string(piece));
                piece = storage.back();
            }
            if (step.qwen2)
                splitQwen2(piece, next);
            else if (step.splitter)
                step.splitter->split(piece, next);
            else
                next.push_back(piece);
        }
        pieces.swap(next);
    }
    for (const std::string_view piece : pieces)
        encodeWord(piece, out);
}

void BpeTokenizer::Impl::encodeWord(std::string_view word, std::vector<int32_t> &out) const
{
    if (word.empty())
        return;
    if (ignoreMerges) {
        const auto it = vocab.find(text::bytesToByteLevel(word));
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = word.size() > 1 && word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cacheMutex);
        const auto it = cache.find(word);
        if (it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> symbols;
    symbols.reserve(word.size());
    for (const char c : word) {
        const int32_t id = byteId[static_cast<uint8_t>(c)];
        if (id >= 0)
            symbols.push_back(id);
        else if (unkId >= 0)
            symbols.push_back(unkId);
        // else: HF drops a character that has no token when there is no unk token
    }
    mergeSymbols(symbols);
    out.insert(out.end(), symbols.begin(), symbols.end());
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cacheMutex);
        if (cache.size() >= kCacheCapacity)
            cache.clear();
        cache.emplace(std::string(word), std::move(symbols));
    }
}

void BpeTokenizer::Impl::mergeSymbols(std::vector<int32_t> &symbols) const
{
    // Both paths apply the lowest-ranked adjacent pair first, the leftmost on ties: the order
    // of HF's priority queue keyed by (rank, position).
    const std::size_t n = symbols.size();
    if (n < 2)
        return;
    constexpr int32_t kNone = std::numeric_limits<int32_t>::max();
    if (n <= 64) {
        std::vector<MergeInfo> pairs(n - 1);
        for (std::size_t i = 0; i + 1 < n; ++i) {
            const MergeInfo *m = findMerge(symbols[i], symbols[i + 1]);
            pairs[i] = m ? *m : MergeInfo{kNone, -1};
        }
        while (!pairs.empty()) {
            std::size_t best = 0;
            for (std::size_t i = 1; i < pairs.size(); ++i) {
                if (pairs[i].rank < pairs[best].rank)
                    best = i;
            }
            if (pairs[best].rank == kNone)
                break;
            symbols[best] = pairs[best].newId;
            symbols.erase(symbols.begin() + std::ptrdiff_t(best) + 1);
            pairs.erase(pairs.begin() + std::ptrdiff_t(best));
            const auto refresh = [&](std::size_t i) {
                const MergeInfo *m = findMerge(symbols[i], symbols[i + 1]);
                pairs[i] = m ? *m : MergeInfo{kNone, -1};
            };
            if (best > 0)
                refresh(best - 1);
            if (best < pairs.size())
                refresh(best);
        }
        return;
    }

    // Long words (long runs of one character): linked list + min-heap, O(n log n).
    struct Symbol
    {
        int32_t id, prev, next;
        bool alive;
    };
    struct Entry
    {
        int32_t rank, pos, newId;
        bool operator>(const Entry &o) const
        {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    std::vector<Symbol> sym(n);
    for (std::size_t i = 0; i < n; ++i)
        sym[i] = {symbols[i], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1, true};
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    const auto push = [&](int32_t pos) {
        const int32_t next = sym[pos].next;
        if (next < 0)
            return;
        if (const MergeInfo *m = findMerge(sym[pos].id, sym[next].id))
            heap.push({m->rank, pos, m->newId});
    };
    for (std::size_t i = 0; i + 1 < n; ++i)
        push(int32_t(i));
    while (!heap.empty()) {
        const Entry e = heap.top();
        heap.pop();
        Symbol &s = sym[e.pos];
        if (!s.alive || s.next < 0)
            continue;
        const MergeInfo *m = findMerge(s.id, sym[s.next].id);
        if (!m || m->newId != e.newId || m->rank != e.rank)
            continue; // the pair changed since this entry was pushed
        Symbol &right = sym[s.next];
        right.alive = false;
        s.id = e.newId;
        s.next = right.next;
        if (s.next >= 0)
            sym[s.next].prev = e.pos;
        if (s.prev >= 0)
            push(s.prev);
        push(e.pos);
    }
    symbols.clear();
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        symbols.push_back(sym[i].id);
}

// =================================================================================================
// BpeTokenizer
// =================================================================================================

BpeTokenizer::BpeTokenizer() : m_impl(std::make_unique<Impl>())
{
    m_impl->byteId.fill(-1);
}
BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer &&) noexcept = default;
BpeTokenizer &BpeTokenizer::operator=(BpeTokenizer &&) noexcept = default;

BpeTokenizer BpeTokenizer::load(const std::string &path)
{
    fs::path file = path;
    std::error_code ec;
    if (fs::is_directory(file, ec))
        file /= "tokenizer.json";
    const std::string tokenizerText = readTextFile(file, "tokenizer.json");
    const fs::path configPath = file.parent_path() / "tokenizer_config.json";
    std::string configText;
    if (fs::exists(configPath, ec))
        configText = readTextFile(configPath, "tokenizer_config.json");
    BpeTokenizer tok;
    tok.m_impl->origin = file.string();
    RawTokenizerJson raw = readTokenizerJson(tokenizerText, file.string());
    if (configText.empty()) {
        tok.m_impl->parse(raw, nullptr);
    } else {
        const json config = parseJson(configText, configPath.string());
        tok.m_impl->parse(raw, &config);
    }
    return tok;
}

BpeTokenizer BpeTokenizer::fromJson(const std::string &tokenizerJson,
                                    const std::string &configJson, const std::string &origin)
{
    BpeTokenizer tok;
    tok.m_impl->origin = origin;
    RawTokenizerJson raw = readTokenizerJson(tokenizerJson, origin);
    if (configJson.empty()) {
        tok.m_impl->parse(raw, nullptr);
    } else {
        const json config = parseJson(configJson, origin + " (tokenizer_config.json)");
        tok.m_impl->parse(raw, &config);
    }
    return tok;
}

BpeTokenizer BpeTokenizer::trainCompact(const std::vector<std::string> &corpusLines, int numMerges,
                                        const TokenizerProgress &progress)
{
    // Count the corpus' pre-tokens exactly as encode() will cut them.
    std::unordered_map<std::string, int64_t> counts;
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < corpusLines.size(); ++i) {
        const std::string &line = corpusLines[i];
        if (text::firstInvalidUtf8(line) != std::string_view::npos)
            core::throwBadInput("tokenizer corpus line " + std::to_string(i + 1) +
                                " is not valid UTF-8");
        const std::string normalized = text::normalize(line, text::NormalForm::Nfc);
        pieces.clear();
        splitQwen2(normalized, pieces);
        for (const std::string_view p : pieces)
            ++counts[std::string(p)];
    }
    std::vector<std::pair<std::string, int64_t>> words(counts.begin(), counts.end());
    std::sort(words.begin(), words.end());
    const LearnedMerges learned = learnByteLevelMerges(words, std::max(0, numMerges), progress);

    // Build the document HF would write for the same tokenizer, then load it through the normal
    // path so a trained tokenizer and its reloaded copy cannot differ.
    const json byteLevel = {{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", false},
                            {"use_regex", false}};
    json doc;
    doc["version"] = "1.0";
    doc["normalizer"] = {{"type", "NFC"}};
    const json split = {{"type", "Split"},
                        {"pattern", {{"Regex", kQwen2PreTokenizerRegex}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
    doc["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", json::array({split, byteLevel})}};
    doc["post_processor"] = byteLevel;
    doc["decoder"] = byteLevel;
    json vocab = json::object();
    for (std::size_t i = 0; i < learned.tokens.size(); ++i)
        vocab[text::bytesToByteLevel(learned.tokens[i])] = i;
    json merges = json::array();
    for (const auto &[a, b] : learned.merges)
        merges.push_back(json::array({text::bytesToByteLevel(learned.tokens[a]),
                                      text::bytesToByteLevel(learned.tokens[b])}));
    doc["model"] = {{"type", "BPE"},         {"dropout", nullptr},
                    {"unk_token", nullptr},  {"continuing_subword_prefix", ""},
                    {"end_of_word_suffix", ""}, {"fuse_unk", false},
                    {"byte_fallback", false}, {"ignore_merges", false},
                    {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
    json addedTokens = json::array();
    int32_t id = int32_t(learned.tokens.size());
    for (const char *special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
        addedTokens.push_back({{"id", id++},
                               {"content", special},
                               {"single_word", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", false},
                               {"special", true}});
    }
    doc["added_tokens"] = std::move(addedTokens);
    const json config = {{"eos_token", "<|endoftext|>"},
                         {"pad_token", "<|endoftext|>"},
                         {"model_max_length", kDefaultModelMaxLength}};
    BpeTokenizer tok;
    tok.m_impl->origin = "compact tokenizer";
    RawTokenizerJson raw = readTokenizerJson(doc.dump(), tok.m_impl->origin);
    tok.m_impl->parse(raw, &config);
    return tok;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const
{
    if (const std::size_t bad = text::firstInvalidUtf8(text); bad != std::string_view::npos)
        core::throwBadInput("text is not valid UTF-8 (byte offset " + std::to_string(bad) + ")",
                            "tokenizer input must be UTF-8");
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    m_impl->encodeText(text, out);
    return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecial) const
{
    const Impl &d = *m_impl;
    std::string bytes;
    bytes.reserve(ids.size() * 4);
    for (const int32_t id : ids) {
        if (id < 0 || id >= int32_t(d.idKind.size()) || d.idKind[id] == IdKind::None)
            core::throwBadInput("token id " + std::to_string(id) + " is not in the vocabulary (" +
                                    std::to_string(d.idKind.size()) + " ids)",
                                "were these ids made with a different tokenizer?");
        if (skipSpecial && d.specialId[id])
            continue;
        bytes += d.idBytes[id];
    }
    return text::toValidUtf8Lossy(bytes);
}

int32_t BpeTokenizer::tokenToId(std::string_view token) const
{
    return m_impl->lookup(token);
}

const std::string &BpeTokenizer::idToToken(int32_t id) const
{
    const Impl &d = *m_impl;
    if (id < 0 || id >= int32_t(d.idKind.size()) || d.idKind[id] == IdKind::None)
        core::throwBadInput("token id " + std::to_string(id) + " is not in the vocabulary");
    return d.idToToken[id];
}

int32_t BpeTokenizer::size() const
{
    return int32_t(m_impl->idToToken.size());
}

int32_t BpeTokenizer::modelVocabSize() const
{
    return int32_t(m_impl->vocab.size());
}

int32_t BpeTokenizer::mergeCount() const
{
    return int32_t(m_impl->merges.size());
}

std::vector<AddedToken> BpeTokenizer::addedTokens() const
{
    return m_impl->added;
}

bool BpeTokenizer::isSpecial(int32_t id) const
{
    return id >= 0 && id < int32_t(m_impl->specialId.size()) && m_impl->specialId[id];
}

int32_t BpeTokenizer::eosTokenId() const
{
    return m_impl->eosToken.empty() ? -1 : m_impl->lookup(m_impl->eosToken);
}

int32_t BpeTokenizer::padTokenId() const
{
    const int32_t pad = m_impl->padToken.empty() ? -1 : m_impl->lookup(m_impl->padToken);
    return pad >= 0 ? pad : eosTokenId();
}

void BpeTokenizer::setEosToken(const std::string &token)
{
    if (tokenToId(token) < 0)
        core::throwBadInput("eos token \"" + token + "\" is not in the vocabulary");
    m_impl->eosToken = token;
}

void BpeTokenizer::setPadToken(const std::string &token)
{
    if (tokenToId(token) < 0)
        core::throwBadInput("pad token \"" + token + "\" is not in the vocabulary");
    m_impl->padToken = token;
}

int64_t BpeTokenizer::modelMaxLength() const
{
    const json &v = m_impl->modelMaxLength;
    if (v.is_number_integer())
        return v.get<int64_t>();
    const double d = v.get<double>(); // HF writes 1e30 for "no limit"
    return d >= 9.2e18 ? std::numeric_limits<int64_t>::max() : int64_t(d);
}

void BpeTokenizer::setModelMaxLength(int64_t length)
{
    m_impl->modelMaxLength = length;
}

int BpeTokenizer::addTokens(const std::vector<std::string> &tokens)
{
    Impl &d = *m_impl;
    int created = 0;
    for (const std::string &t : tokens) {
        if (t.empty())
            core::throwBadInput("cannot add an empty token");
        if (text::firstInvalidUtf8(t) != std::string_view::npos)
            core::throwBadInput("cannot add token \"" + text::toValidUtf8Lossy(t) +
                                "\": not valid UTF-8");
        if (d.addedByContent.count(t))
            continue;
        AddedToken a;
        a.content = t;
        a.normalized = true; // what add_tokens(list of str) gives non-special tokens
        if (const auto it = d.vocab.find(t); it != d.vocab.end()) {
            a.id = it->second;
        } else {
            a.id = size();
            d.setToken(a.id, t, IdKind::Added);
            ++created;
        }
        d.added.push_back(a);
        d.addedByContent.emplace(t, d.added.size() - 1);
    }
    d.rebuildAddedIndex();
    return created;
}

// ---- persistence --------------------------------------------------------------------------------

std::string BpeTokenizer::toTokenizerJson() const
{
    const Impl &d = *m_impl;
    // Written by hand rather than through nlohmann::ordered_json, whose insertion is linear per
    // key (quadratic for a 150k-entry vocabulary); the layout is the one HF writes.
    std::string out;
    out.reserve(d.vocab.size() * 48);
    const auto section = [&](const char *key, const json &value) {
        out += "  \"";
        out += key;
        out += "\": ";
        out += indentJson(value.dump(2, ' ', false, json::error_handler_t::replace), 2);
        out += ",\n";
    };
    out += "{\n  \"version\": \"1.0\",\n";
    section("truncation", d.truncationJson);
    section("padding", d.paddingJson);
    out += "  \"added_tokens\": [";
    for (std::size_t i = 0; i < d.added.size(); ++i) {
        const AddedToken &a = d.added[i];
        out += i ? ",\n    {\n" : "\n    {\n";
        out += "      \"id\": " + std::to_string(a.id) + ",\n";
        out += "      \"content\": " + quoted(a.content) + ",\n";
        out += std::string("      \"single_word\": ") + (a.singleWord ? "true" : "false") + ",\n";
        out += std::string("      \"lstrip\": ") + (a.lstrip ? "true" : "false") + ",\n";
        out += std::string("      \"rstrip\": ") + (a.rstrip ? "true" : "false") + ",\n";
        out += std::string("      \"normalized\": ") + (a.normalized ? "true" : "false") + ",\n";
        out += std::string("      \"special\": ") + (a.special ? "true" : "false") + "\n    }";
    }
    out += d.added.empty() ? "],\n" : "\n  ],\n";
    section("normalizer", d.normalizerJson);
    section("pre_tokenizer", d.preTokenizerJson);
    section("post_processor", d.postProcessorJson);
    section("decoder", d.decoderJson);

    out += "  \"model\": {\n";
    json fields = d.modelFields;
    const std::pair<const char *, json> defaults[] = {
        {"type", "BPE"},           {"dropout", nullptr},
        {"unk_token", nullptr},    {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false},
        {"byte_fallback", false},  {"ignore_merges", false}};
    for (const auto &[key, value] : defaults) {
        out += "    \"" + std::string(key) + "\": ";
        out += (fields.contains(key) ? fields[key] : value).dump();
        out += ",\n";
        fields.erase(key);
    }
    for (auto it = fields.begin(); it != fields.end(); ++it)
        out += "    " + quoted(it.key()) + ": " + it.value().dump() + ",\n";
    out += "    \"vocab\": {";
    bool first = true;
    for (std::size_t id = 0; id < d.idKind.size(); ++id) {
        if (d.idKind[id] != IdKind::Model)
            continue;
        out += first ? "\n      " : ",\n      ";
        first = false;
        out += quoted(d.idToToken[id]);
        out += ": ";
        out += std::to_string(id);
    }
    out += first ? "},\n" : "\n    },\n";
    out += "    \"merges\": [";
    for (std::size_t i = 0; i < d.merges.size(); ++i) {
        out += i ? ",\n      [\n        " : "\n      [\n        ";
        out += quoted(d.idToToken[d.merges[i].first]);
        out += ",\n        ";
        out += quoted(d.idToToken[d.merges[i].second]);
        out += "\n      ]";
    }
    out += d.merges.empty() ? "]\n" : "\n    ]\n";
    out += "  }\n}\n";
    return out;
}

std::string BpeTokenizer::toTokenizerConfigJson() const
{
    const Impl &d = *m_impl;
    nlohmann::ordered_json config;
    const auto setDefault = [&](const char *key, const nlohmann::ordered_json &value) {
        config[key] = d.configJson.contains(key) ? nlohmann::ordered_json::parse(
                                                       d.configJson[key].dump())
                                                 : value;
    };
    setDefault("add_bos_token", false);
    setDefault("add_prefix_space", false);
    nlohmann::ordered_json decoder = nlohmann::ordered_json::object();
    for (const AddedToken &a : d.added) {
        decoder[std::to_string(a.id)] = {{"content", a.content},
                                         {"lstrip", a.lstrip},
                                         {"normalized", a.normalized},
                                         {"rstrip", a.rstrip},
                                         {"single_word", a.singleWord},
                                         {"special", a.special}};
    }
    config["added_tokens_decoder"] = std::move(decoder);
    for (auto it = d.configJson.begin(); it != d.configJson.end(); ++it) {
        if (!config.contains(it.key()))
            config[it.key()] = nlohmann::ordered_json::parse(it.value().dump());
    }
    setDefault("bos_token", nullptr);
    setDefault("clean_up_tokenization_spaces", false);
    using OrderedJson = nlohmann::ordered_json;
    config["eos_token"] = d.eosToken.empty() ? OrderedJson() : OrderedJson(d.eosToken);
    setDefault("errors", "replace");
    config["model_max_length"] = nlohmann::ordered_json::parse(d.modelMaxLength.dump());
    config["pad_token"] = d.padToken.empty() ? OrderedJson() : OrderedJson(d.padToken);
    setDefault("split_special_tokens", false);
    setDefault("tokenizer_class", "PreTrainedTokenizerFast");
    setDefault("unk_token", nullptr);
    return config.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void BpeTokenizer::save(const std::string &dir) const
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        core::throwRuntime(dir + ": cannot create folder (" + ec.message() + ")");
    writeFileAtomically(fs::path(dir) / "tokenizer.json", toTokenizerJson());
    writeFileAtomically(fs::path(dir) / "tokenizer_config.json", toTokenizerConfigJson());
}

void BpeTokenizer::clearCache() const
{
    std::lock_guard<std::mutex> lock(m_impl->cacheMutex);
    m_impl->cache.clear();
}

double measureEncodeMBps(const BpeTokenizer &tokenizer, std::string_view text, double minSeconds,
                         bool coldCache)
{
    // CPU time of this thread: encode is single-threaded, and wall time on a shared machine
    // would measure the other processes too.
    const auto cpuSeconds = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
    };
    if (!coldCache)
        (void)tokenizer.encode(text);
    int64_t bytes = 0;
    double elapsed = 0.0;
    do {
        if (coldCache)
            tokenizer.clearCache();
        const double t0 = cpuSeconds();
        (void)tokenizer.encode(text);
        elapsed += cpuSeconds() - t0;
        bytes += int64_t(text.size());
    } while (elapsed < minSeconds);
    return elapsed > 0.0 ? double(bytes) / 1e6 / elapsed : 0.0;
}

} // namespace genrec::train
