#pragma once
/// @file bpe_tokenizer.h
/// Byte-level BPE tokenizer compatible with Hugging Face `tokenizer.json` files of the GPT-2 /
/// Qwen2 family (model type BPE, ByteLevel pre-tokenizer and decoder). Plain C++: no Torch, no Qt.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace genrec::train {

/// A token that the tokenizer matches in raw text before BPE runs (HF "added token").
struct AddedToken
{
    int32_t id = -1;
    std::string content;
    bool special = false; ///< special tokens are dropped by decode(ids, skipSpecial = true)
    bool lstrip = false;  ///< swallows the whitespace on its left
    bool rstrip = false;  ///< swallows the whitespace on its right
    bool normalized = false;
    bool singleWord = false; ///< stored and saved, not applied when matching
};

/// Cancellable progress: return false to stop. `done` and `total` are in the operation's units.
using TokenizerProgress = std::function<bool(int64_t done, int64_t total)>;

/// A byte-level BPE tokenizer with Hugging Face semantics.
///
/// Encoding follows HF `tokenizers`: added tokens split the text first (leftmost, longest match),
/// every other span is NFC-normalised (when the file says so), split by the pre-tokenizer regex
/// (PCRE2 with Unicode properties), mapped byte→unicode (ByteLevel) and merged by BPE rank.
/// encode() never adds BOS/EOS. Ids are int32_t.
///
/// Thread safety: const member functions (encode, decode, lookups, save) may run concurrently;
/// the BPE word cache is internally synchronised. Non-const functions (addTokens, setters) must not
/// run concurrently with anything else. Movable, not copyable.
///
/// Known differences from HF: added tokens are matched on the raw (not normalised) text, which
/// only matters for non-ASCII added tokens marked `normalized`; `single_word` is not applied.
class BpeTokenizer
{
public:
    BpeTokenizer();
    ~BpeTokenizer();
    BpeTokenizer(BpeTokenizer &&) noexcept;
    BpeTokenizer &operator=(BpeTokenizer &&) noexcept;
    BpeTokenizer(const BpeTokenizer &) = delete;
    BpeTokenizer &operator=(const BpeTokenizer &) = delete;

    // ---- construction -------------------------------------------------------------------------

    /// Loads `path/tokenizer.json` (+ `path/tokenizer_config.json` when present), or `path` itself
    /// when it names a file (then its folder's tokenizer_config.json is used when present).
    /// Throws core::Error (BadInput) naming the file and the offending field when the file is
    /// missing, is not JSON, or uses a feature this implementation does not support.
    static BpeTokenizer load(const std::string &path);

    /// Builds a tokenizer from the text of a tokenizer.json and (optionally, "" = none) of a
    /// tokenizer_config.json. `origin` names the source in error messages.
    static BpeTokenizer fromJson(const std::string &tokenizerJson, const std::string &configJson,
                                 const std::string &origin);

    /// A compact tokenizer for from-scratch presets: the 256 byte tokens (ids 0-255, by byte
    /// value), then up to `numMerges` BPE merges learned from `corpusLines` (each line NFC-
    /// normalised and split by the Qwen2 pre-tokenizer regex; pairs seen fewer than twice are never
    /// merged, so fewer merges may result), then the special tokens <|endoftext|>, <|im_start|>,
    /// <|im_end|>. eos = pad = <|endoftext|>. Same pre-tokenizer/decoder structure as Qwen2, so
    /// it saves as a valid HF tokenizer.json. Deterministic: ties between equally frequent pairs go
    /// to the smaller (left id, right id). `progress` counts merges; cancelling stops early and
    /// keeps the merges learned so far.
    static BpeTokenizer trainCompact(const std::vector<std::string> &corpusLines, int numMerges,
                                     const TokenizerProgress &progress = {});

    // ---- encode / decode ----------------------------------------------------------------------

    /// Text → ids, no special tokens added. Throws core::Error (BadInput) when `text` is not valid
    /// UTF-8 (the message gives the byte offset).
    std::vector<int32_t> encode(std::string_view text) const;

    /// Ids → text (UTF-8). Special added tokens are dropped when `skipSpecial`. Byte sequences that
    /// are not valid UTF-8 (e.g. a cut multi-byte character) become U+FFFD, as HF does.
    /// Throws core::Error (BadInput) for an id that names no token.
    std::string decode(const std::vector<int32_t> &ids, bool skipSpecial = false) const;

    // ---- vocabulary ---------------------------------------------------------------------------

    /// The id of a token string (vocabulary entry in its byte-level spelling, e.g. "Ġthe", or an
    /// added token's content); -1 when there is none.
    int32_t tokenToId(std::string_view token) const;
    /// The token string of an id. Throws core::Error (BadInput) when the id names no token.
    const std::string &idToToken(int32_t id) const;
    /// len(tokenizer) as HF counts it: the largest id (vocabulary or added) + 1.
    int32_t size() const;
    /// Number of entries of the BPE model's own vocabulary (without added tokens).
    int32_t modelVocabSize() const;
    /// Number of merge rules.
    int32_t mergeCount() const;
    /// The added tokens, in id order.
    std::vector<AddedToken> addedTokens() const;
    /// Whether `id` is a special added token.
    bool isSpecial(int32_t id) const;

    /// EOS: tokenizer_config.json's eos_token, else <|endoftext|> when it exists; -1 when neither.
    int32_t eosTokenId() const;
    /// PAD: tokenizer_config.json's pad_token, else the EOS id; -1 when neither.
    int32_t padTokenId() const;
    /// Sets eos_token / pad_token (as saved in tokenizer_config.json). Throws core::Error
    /// (BadInput) when the token does not exist.
    void setEosToken(const std::string &token);
    void setPadToken(const std::string &token);
    /// tokenizer_config.json's model_max_length (default 32768).
    int64_t modelMaxLength() const;
    void setModelMaxLength(int64_t length);

    /// Adds normal (non-special) added tokens, matched atomically before BPE, as HF
    /// `tokenizer.add_tokens(list)` does: new ids are consecutive from size(); a token that is
    /// already an added token is skipped; a token already in the model vocabulary keeps its id
    /// (and is now matched atomically). Returns how many new ids were created. Throws
    /// core::Error (BadInput) for an empty or non-UTF-8 token.
    int addTokens(const std::vector<std::string> &tokens);

    // ---- persistence --------------------------------------------------------------------------

    /// Writes `dir/tokenizer.json` and `dir/tokenizer_config.json` (creates `dir`). Sections read
    /// from a loaded file (normalizer, pre_tokenizer, post_processor, decoder, extra config keys
    /// such as chat_template) are written back unchanged. Throws core::Error (Runtime) on I/O
    /// failure.
    void save(const std::string &dir) const;
    /// The tokenizer.json document that save() writes.
    std::string toTokenizerJson() const;
    /// The tokenizer_config.json document that save() writes.
    std::string toTokenizerConfigJson() const;

    /// Drops the BPE word cache (for cold-cache measurements).
    void clearCache() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// Encode throughput in MB/s: 10^6 bytes of `text` per second of the calling thread's CPU time
/// (so other load on the machine does not skew it). Runs encode(text) repeatedly for at least
/// `minSeconds` of CPU time (at least once). With `coldCache` the word cache is cleared before
/// every pass; otherwise the first pass warms it and is not timed.
double measureEncodeMBps(const BpeTokenizer &tokenizer, std::string_view text,
                         double minSeconds = 0.5, bool coldCache = false);

/// The pre-tokenizer regex of Qwen2 / Qwen2.5 / Qwen3 (digits split one by one).
extern const char *const kQwen2PreTokenizerRegex;

} // namespace genrec::train
