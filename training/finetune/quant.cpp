#include "training/finetune/quant.h"

#include "core/common/error.h"

namespace genrec::train {

int64_t QuantizedTensor::bytes() const
{
    return codes.numel() * codes.element_size() + scales.numel() * scales.element_size();
}

const std::vector<float> &nf4Levels()
{
    // QLoRA (Dettmers et al. 2023, appendix E): quantiles of N(0, 1) normalised to [-1, 1], with
    // 8 positive and 7 negative levels plus an exact zero.
    static const std::vector<float> levels = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
        0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
        0.7229568362236023f, 1.0f};
    return levels;
}

QuantizedTensor quantizeBlockwise(const torch::Tensor &w, int bits, int64_t blockSize)
{
    if (bits != 4 && bits != 8)
        core::throwBadInput("quantization_bit must be 4 or 8, got " + std::to_string(bits));
    if (blockSize <= 0 || (bits == 4 && blockSize % 2 != 0))
        core::throwBadInput("quantization_block_size must be positive (and even for 4 bits), got "
                            + std::to_string(blockSize));
    torch::NoGradGuard noGrad;
    QuantizedTensor q;
    q.bits = bits;
    q.blockSize = blockSize;
    q.shape = w.sizes().vec();
    const int64_t n = w.numel();
    const int64_t nBlocks = (n + blockSize - 1) / blockSize;
    auto flat = w.detach().reshape({-1}).to(torch::kFloat);
    if (nBlocks * blockSize != n)
        flat = torch::cat({flat, torch::zeros({nBlocks * blockSize - n}, flat.options())});
    const auto blocks = flat.view({nBlocks, blockSize});                       // [N, S]
    q.scales = blocks.abs().amax(1).clamp_min(1e-12);                          // [N]
    const auto normed = blocks / q.scales.unsqueeze(1);                        // [N, S] in [-1, 1]
    if (bits == 8) {
        q.codes = (normed * 127.0).round().clamp(-127, 127).add(128).to(torch::kUInt8).view({-1});
    } else {
        const auto &lv = nf4Levels();
        std::vector<float> mids(15);
        for (int i = 0; i < 15; ++i)
            mids[i] = 0.5f * (lv[i] + lv[i + 1]);
        const auto midT = torch::tensor(mids, flat.options());
        const auto idx = torch::bucketize(normed.reshape({-1}), midT).to(torch::kUInt8); // [N*S]
        const auto pairs = idx.view({-1, 2});                                            // [N*S/2, 2]
        q.codes = pairs.select(1, 0).bitwise_left_shift(4).bitwise_or(pairs.select(1, 1));
    }
    return q;
}

torch::Tensor dequantize(const QuantizedTensor &q, torch::Dtype dtype)
{
    const int64_t nBlocks = q.scales.numel();
    torch::Tensor normed; // [N, S]
    if (q.bits == 8) {
        normed = (q.codes.to(torch::kFloat) - 128.0).div(127.0).view({nBlocks, q.blockSize});
    } else {
        const auto hi = q.codes.bitwise_right_shift(4);
        const auto lo = q.codes.bitwise_and(15);
        const auto idx = torch::stack({hi, lo}, 1).view({-1}).to(torch::kLong);  // [N*S]
        const auto lv = torch::tensor(nf4Levels(), q.scales.options());
        normed = lv.index_select(0, idx).view({nBlocks, q.blockSize});
    }
    int64_t n = 1;
    for (auto d : q.shape)
        n *= d;
    return (normed * q.scales.unsqueeze(1)).view({-1}).narrow(0, 0, n).view(q.shape).to(dtype);
}

} // namespace genrec::train
