#pragma once
/// @file quant.h
/// Blockwise weight quantisation for QLoRA: int8 (symmetric, per-block absmax, code = round(127·x/absmax))
/// and NF4 (QLoRA's 4-bit NormalFloat codebook, per-block absmax, two codes per byte, high nibble
/// first). Blocks run over the flattened tensor; the last block is zero-padded.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace genrec::train {

/// A quantised tensor. codes: uint8 [ceil(numel/block)·block] (int8) or […/2] (NF4, packed);
/// scales: fp32 [nBlocks] absmax per block.
struct QuantizedTensor
{
    int bits = 4;                  ///< 4 (NF4) | 8 (int8)
    int64_t blockSize = 64;
    std::vector<int64_t> shape;
    torch::Tensor codes;
    torch::Tensor scales;

    /// Bytes held by codes and scales.
    int64_t bytes() const;
};

/// The 16 NF4 levels in [-1, 1] (ascending; level 7 is exactly 0).
const std::vector<float> &nf4Levels();

/// Quantises `w` (any float dtype, any device) with `bits` ∈ {4, 8}; blockSize > 0 (even for
/// NF4). Throws core::Error(BadInput) otherwise.
QuantizedTensor quantizeBlockwise(const torch::Tensor &w, int bits, int64_t blockSize);

/// Reconstructs the tensor of q.shape in `dtype`.
torch::Tensor dequantize(const QuantizedTensor &q, torch::Dtype dtype = torch::kFloat);

} // namespace genrec::train
