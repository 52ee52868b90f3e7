#pragma once
/// @file kv_cache.h
/// The key/value cache of a Qwen2-family model for incremental decoding and beam search.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace genrec::train {

/// Keys and values of every decoder layer for the tokens seen so far, plus the attention mask of
/// those tokens (so later steps get the right RoPE positions and padding mask).
///
/// Usage: create one per generation, pass it to Qwen2ForCausalLM::forward() for the prompt (the
/// prompt's attention mask may be left-padded), then for each new token. Storage grows by
/// doubling a per-layer buffer, so appending one token is O(1) amortised, not a copy of the
/// whole history. Beam search reorders rows with reorderRows() and multiplies the batch with
/// expandRows(). Not thread-safe; the tensors live on the model's device in its compute dtype.
class KvCache
{
public:
    KvCache() = default;

    /// Number of cached token positions (L), including left padding.
    int64_t length() const { return m_length; }
    /// Batch rows (B); 0 before the first forward.
    int64_t batchSize() const;
    /// The attention mask of the cached positions [B, L] (int64, 1 = real token, 0 = padding).
    const torch::Tensor &mask() const { return m_mask; }
    /// True when no cached position is padding (lets the model skip the padding mask).
    bool unpadded() const { return m_unpadded; }

    /// Keeps row `rows[i]` as new row i (beam search: the beams that survived). `rows` is a 1-D
    /// int64 tensor of indices into the current batch; its length becomes the batch size.
    void reorderRows(const torch::Tensor &rows);
    /// Repeats every row `factor` times in place (row b becomes rows b*factor … b*factor+factor-1),
    /// e.g. to start `factor` beams from one prompt encoding.
    void expandRows(int64_t factor);
    /// Forgets everything.
    void clear();

    // --- used by the model ------------------------------------------------------------------

    /// Appends the keys/values of `layer` for T new positions and returns the keys/values of all
    /// L + T positions. k, v: [B, K, T, D]; returns {k, v} views [B, K, L+T, D].
    std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor &k,
                                                   const torch::Tensor &v);
    /// Records the mask of T new positions [B, T] after every layer has appended; advances length.
    void commit(const torch::Tensor &newMask);

private:
    struct Layer
    {
        torch::Tensor k; ///< [B, K, capacity, D]
        torch::Tensor v; ///< [B, K, capacity, D]
    };
    std::vector<Layer> m_layers;
    torch::Tensor m_mask; ///< [B, L] int64
    int64_t m_length = 0;
    bool m_unpadded = true;
};

} // namespace genrec::train
