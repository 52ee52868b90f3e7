#include "training/model/fused_ops.h"

#include <ATen/Parallel.h>
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GENREC_HAVE_AVX2_PATH 1
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace genrec::train::fused {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Hot loops are compiled twice, for x86-64-v3 (AVX2 + FMA) and for baseline x86-64, and the
// loader picks one per CPU (GCC function multi-versioning); `#pragma omp simd` makes GCC
// vectorise them. The exponential, whose clamps GCC does not reliably if-convert, has explicit
// AVX2 code instead (expAffine()). Row loops run on LibTorch's intra-op OpenMP threads
// (this file is built with -fopenmp, see training/CMakeLists.txt).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GENREC_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GENREC_KERNEL
#endif

// Cephes expf: exp(x) = 2^n · p(r), r = x − n·ln2 split in two constants, p of degree 7;
// ~1 ulp. Inputs are clamped to [-87.3, 88.37]: below, the result is ~1e-38 instead of 0,
// which no softmax sum can notice.
constexpr float kExpLo = -87.3f, kExpHi = 88.3762626647949f;
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline float expScalar(float x)
{
    x = x < kExpLo ? kExpLo : (x > kExpHi ? kExpHi : x);
    const float n = std::nearbyint(x * kLog2e);
    const float r = x - n * kLn2Hi - n * kLn2Lo;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    p = p * r * r + r + 1.0f;
    return std::ldexp(p, static_cast<int>(n));
}

float expAffineGeneric(const float *src, float *dst, int64_t n, float a, float b)
{
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        const float e = expScalar(a * src[j] + b);
        if (dst)
            dst[j] = e;
        sum += e;
    }
    return sum;
}

#ifdef GENREC_HAVE_AVX2_PATH
__attribute__((target("avx2,fma"))) float expAffineAvx2(const float *src, float *dst,
                                                        int64_t n, float a, float b)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    const __m256 lo = _mm256_set1_ps(kExpLo), hi = _mm256_set1_ps(kExpHi);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_fmadd_ps(va, _mm256_loadu_ps(src + j), vb);
        x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), x);
        r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
        __m256 p = _mm256_set1_ps(kP0);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
        p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
        const __m256i e = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
        const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
        if (dst)
            _mm256_storeu_ps(dst + j, y);
        acc = _mm256_add_ps(acc, y);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    return sum + expAffineGeneric(src + j, dst ? dst + j : nullptr, n - j, a, b);
}
#endif

/// dst[j] = exp(a·src[j] + b) for j < n (dst may equal src, or be null); returns the sum.
float expAffine(const float *src, float *dst, int64_t n, float a, float b)
{
#ifdef GENREC_HAVE_AVX2_PATH
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2)
        return expAffineAvx2(src, dst, n, a, b);
#endif
    return expAffineGeneric(src, dst, n, a, b);
}

/// A per-thread scratch row of at least n floats.
float *scratch(int64_t n)
{
    thread_local std::vector<float> buffer;
    if (static_cast<int64_t>(buffer.size()) < n)
        buffer.resize(n);
    return buffer.data();
}

/// Runs fn(begin, end) over [0, n) on the intra-op pool in chunks of at least `grain`.
template<typename Fn>
void parallelRows(int64_t n, int64_t grain, const Fn &fn)
{
    at::parallel_for(0, n, std::max<int64_t>(1, grain), fn);
}

/// Rows per task so that one task touches at least ~16k floats.
int64_t grainFor(int64_t rowLength)
{
    return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, rowLength));
}

void checkCpuFloat(const Tensor &t, const char *what)
{
    TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat, "fused ", what,
                ": needs an fp32 CPU tensor");
}

// =============================================================================================
// RMSNorm
// =============================================================================================

GENREC_KERNEL void rmsForward(const float *x, const float *w, float *y, float *rstd, int64_t r0,
                              int64_t r1, int64_t C, float eps)
{
    for (int64_t r = r0; r < r1; ++r) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int64_t c = 0; c < C; ++c)
            ss += xr[c] * xr[c];
        const float rs = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
        rstd[r] = rs;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c)
            yr[c] = w[c] * (xr[c] * rs);
    }
}

GENREC_KERNEL void rmsBackward(const float *x, const float *w, const float *rstd,
                               const float *dy, float *dx, float *dw, int64_t r0, int64_t r1,
                               int64_t C)
{
    for (int64_t r = r0; r < r1; ++r) {
        const float *xr = x + r * C;
        const float *dyr = dy + r * C;
        float *dxr = dx + r * C;
        const float rs = rstd[r];
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t c = 0; c < C; ++c)
            dot += dyr[c] * w[c] * xr[c];
        const float k = dot * rs * rs * rs / static_cast<float>(C);
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            dxr[c] = dyr[c] * w[c] * rs - xr[c] * k;
            dw[c] += dyr[c] * xr[c] * rs;
        }
    }
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn>
{
    static variable_list forward(AutogradContext *ctx, const Tensor &x, const Tensor &w,
                                 double eps)
    {
        const int64_t C = x.size(-1), N = x.numel() / C;
        auto y = torch::empty_like(x);
        auto rstd = torch::empty({N}, x.options());
        const float *px = x.data_ptr<float>(), *pw = w.data_ptr<float>();
        float *py = y.data_ptr<float>(), *pr = rstd.data_ptr<float>();
        parallelRows(N, grainFor(C), [&](int64_t b, int64_t e) {
            rmsForward(px, pw, py, pr, b, e, C, static_cast<float>(eps));
        });
        ctx->save_for_backward({x, w, rstd});
        return {y};
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
        const Tensor dy = grads[0].contiguous();
        const int64_t C = x.size(-1), N = x.numel() / C;
        auto dx = torch::empty_like(x);
        // One weight-gradient row per chunk, summed at the end (no atomics, deterministic for
        // a given thread count).
        const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N));
        auto dwPartial = torch::zeros({chunks, C}, x.options());
        const float *px = x.data_ptr<float>(), *pw = w.data_ptr<float>();
        const float *pr = rstd.data_ptr<float>(), *pdy = dy.data_ptr<float>();
        float *pdx = dx.data_ptr<float>(), *pdw = dwPartial.data_ptr<float>();
        at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
            for (int64_t chunk = b; chunk < e; ++chunk) {
                const int64_t r0 = N * chunk / chunks, r1 = N * (chunk + 1) / chunks;
                rmsBackward(px, pw, pr, pdy, pdx, pdw + chunk * C, r0, r1, C);
            }
        });
        return {dx, dwPartial.sum(0), Tensor()};
    }
};

// =============================================================================================
// SwiGLU
// =============================================================================================

GENREC_KERNEL void swigluForward(const float *gu, float *h, int64_t r0, int64_t r1, int64_t I)
{
    float *e = scratch(I);
    for (int64_t r = r0; r < r1; ++r) {
        const float *g = gu + r * 2 * I;
        const float *u = g + I;
        float *hr = h + r * I;
        expAffine(g, e, I, -1.0f, 0.0f); // exp(-g)
#pragma omp simd
        for (int64_t i = 0; i < I; ++i)
            hr[i] = g[i] / (1.0f + e[i]) * u[i];
    }
}

GENREC_KERNEL void swigluBackward(const float *gu, const float *dh, float *dgu, int64_t r0,
                                  int64_t r1, int64_t I)
{
    float *e = scratch(I);
    for (int64_t r = r0; r < r1; ++r) {
        const float *g = gu + r * 2 * I;
        const float *u = g + I;
        const float *d = dh + r * I;
        float *dg = dgu + r * 2 * I;
        float *du = dg + I;
        expAffine(g, e, I, -1.0f, 0.0f);
#pragma omp simd
        for (int64_t i = 0; i < I; ++i) {
            const float gi = g[i], ui = u[i]; // dg/du may alias g/u (in-place gradient)
            const float s = 1.0f / (1.0f + e[i]);
            const float silu = gi * s;
            dg[i] = d[i] * ui * (s + silu * (1.0f - s));
            du[i] = d[i] * silu;
        }
    }
}

struct SwigluFn : torch::autograd::Function<SwigluFn>
{
    static variable_list forward(AutogradContext *ctx, const Tensor &gu, bool gradInPlace)
    {
        const int64_t I = gu.size(-1) / 2, N = gu.numel() / (2 * I);
        auto sizes = gu.sizes().vec();
        sizes.back() = I;
        auto h = torch::empty(sizes, gu.options());
        const float *pg = gu.data_ptr<float>();
        float *ph = h.data_ptr<float>();
        parallelRows(N, grainFor(2 * I),
                     [&](int64_t b, int64_t e) { swigluForward(pg, ph, b, e, I); });
        ctx->save_for_backward({gu});
        ctx->saved_data["inPlace"] = gradInPlace;
        return {h};
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        const Tensor gu = ctx->get_saved_variables()[0];
        const Tensor dh = grads[0].contiguous();
        const int64_t I = gu.size(-1) / 2, N = gu.numel() / (2 * I);
        // In place is safe element by element: each (g, u) pair is read before it is written.
        auto dgu = ctx->saved_data["inPlace"].toBool() ? gu : torch::empty_like(gu);
        const float *pg = gu.data_ptr<float>(), *pd = dh.data_ptr<float>();
        float *po = dgu.data_ptr<float>();
        parallelRows(N, grainFor(2 * I),
                     [&](int64_t b, int64_t e) { swigluBackward(pg, pd, po, b, e, I); });
        return {dgu, Tensor()};
    }
};

// =============================================================================================
// Attention
// =============================================================================================

struct AttnShape
{
    int64_t B, T, H, K, D, G, Bc;
    float scale;
};

// qkv [B, T, (H+2K)·D] → q [B, K, T, G, D] (rotated, scaled), k [B, K, T, D] (rotated),
// v [B, K, T, D], for rows i = b·T + t in [i0, i1).
GENREC_KERNEL void ropeSplit(const float *qkv, const float *cosT, const float *sinT, float *q,
                             float *k, float *v, AttnShape s, int64_t i0, int64_t i1)
{
    const int64_t half = s.D / 2, width = (s.H + 2 * s.K) * s.D;
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / s.T, t = i % s.T;
        const int64_t bc = s.Bc == 1 ? 0 : b;
        const float *c = cosT + (bc * s.T + t) * half;
        const float *sn = sinT + (bc * s.T + t) * half;
        const float *row = qkv + i * width;
        for (int64_t h = 0; h < s.H + s.K; ++h) {
            const bool isQ = h < s.H;
            const float *src = row + h * s.D;
            float *dst;
            float scale = 1.0f;
            if (isQ) {
                const int64_t kv = h / s.G, g = h % s.G;
                dst = q + (((b * s.K + kv) * s.T + t) * s.G + g) * s.D;
                scale = s.scale;
            } else {
                dst = k + ((b * s.K + (h - s.H)) * s.T + t) * s.D;
            }
#pragma omp simd
            for (int64_t j = 0; j < half; ++j) {
                const float x1 = src[j], x2 = src[j + half];
                dst[j] = (x1 * c[j] - x2 * sn[j]) * scale;
                dst[j + half] = (x2 * c[j] + x1 * sn[j]) * scale;
            }
        }
        for (int64_t kv = 0; kv < s.K; ++kv)
            std::memcpy(v + ((b * s.K + kv) * s.T + t) * s.D, row + (s.H + s.K + kv) * s.D,
                        sizeof(float) * s.D);
    }
}

// The transpose of ropeSplit: gradients of q/k/v in their layouts → dqkv [B, T, (H+2K)·D].
GENREC_KERNEL void ropeMerge(const float *dq, const float *dk, const float *dv,
                             const float *cosT, const float *sinT, float *dqkv, AttnShape s,
                             int64_t i0, int64_t i1)
{
    const int64_t half = s.D / 2, width = (s.H + 2 * s.K) * s.D;
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / s.T, t = i % s.T;
        const int64_t bc = s.Bc == 1 ? 0 : b;
        const float *c = cosT + (bc * s.T + t) * half;
        const float *sn = sinT + (bc * s.T + t) * half;
        float *row = dqkv + i * width;
        for (int64_t h = 0; h < s.H + s.K; ++h) {
            const bool isQ = h < s.H;
            const float *src;
            float scale = 1.0f;
            if (isQ) {
                const int64_t kv = h / s.G, g = h % s.G;
                src = dq + (((b * s.K + kv) * s.T + t) * s.G + g) * s.D;
                scale = s.scale;
            } else {
                src = dk + ((b * s.K + (h - s.H)) * s.T + t) * s.D;
            }
            float *dst = row + h * s.D;
#pragma omp simd
            for (int64_t j = 0; j < half; ++j) {
                const float d1 = src[j], d2 = src[j + half];
                dst[j] = (d1 * c[j] + d2 * sn[j]) * scale;
                dst[j + half] = (d2 * c[j] - d1 * sn[j]) * scale;
            }
        }
        for (int64_t kv = 0; kv < s.K; ++kv)
            std::memcpy(row + (s.H + s.K + kv) * s.D, dv + ((b * s.K + kv) * s.T + t) * s.D,
                        sizeof(float) * s.D);
    }
}

// In-place masked softmax of score rows idx in [i0, i1) of a block [BK, R, L] whose row r is
// query t = t0 + r / G of batch row b = idx / R / K; row idx lives at scores + (idx − base)·L. Keys j > t (and padding keys other than t)
// get probability 0.
GENREC_KERNEL void maskedSoftmax(float *scores, const uint8_t *mask, int64_t i0, int64_t i1,
                                 int64_t R, int64_t L, int64_t G, int64_t K, int64_t T,
                                 int64_t t0, int64_t base)
{
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t idx = i0; idx < i1; ++idx) {
        const int64_t r = idx % R, b = idx / R / K;
        const int64_t t = t0 + r / G, n = t + 1;
        float *row = scores + (idx - base) * L;
        const uint8_t *m = mask ? mask + b * T : nullptr;
        if (m) {
            for (int64_t j = 0; j < n; ++j)
                if (m[j] == 0 && j != t)
                    row[j] = kNegInf;
        }
        float mx = kNegInf;
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < n; ++j)
            mx = row[j] > mx ? row[j] : mx;
        expAffine(row, row, n, 1.0f, -mx);
        if (m) {
            for (int64_t j = 0; j < n; ++j)
                if (m[j] == 0 && j != t)
                    row[j] = 0.0f; // exactly 0, not the clamped exp's 1e-38
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; ++j)
            sum += row[j];
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t j = 0; j < n; ++j)
            row[j] *= inv;
        for (int64_t j = n; j < L; ++j)
            row[j] = 0.0f;
    }
}

// dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place in dP, rows [i0, i1) of length L.
GENREC_KERNEL void softmaxBackward(const float *p, float *dp, int64_t i0, int64_t i1, int64_t L)
{
    for (int64_t idx = i0; idx < i1; ++idx) {
        const float *pr = p + idx * L;
        float *dr = dp + idx * L;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < L; ++j)
            dot += pr[j] * dr[j];
#pragma omp simd
        for (int64_t j = 0; j < L; ++j)
            dr[j] = pr[j] * (dr[j] - dot);
    }
}

// Query rows are processed in blocks of kBlock positions; a block attends only to the keys up
// to its last position, which skips ~3/8 of the score matrix at T = 256 (the causal upper
// triangle) in both passes.
constexpr int64_t kBlock = 64;

struct Block
{
    int64_t t0, t1, offset; ///< positions [t0, t1); offset of its probabilities in the buffer
};

std::vector<Block> blocksFor(int64_t T, int64_t BK, int64_t G, int64_t *total)
{
    std::vector<Block> blocks;
    int64_t offset = 0;
    for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
        const int64_t t1 = std::min(T, t0 + kBlock);
        blocks.push_back({t0, t1, offset});
        offset += BK * (t1 - t0) * G * t1;
    }
    *total = offset;
    return blocks;
}

/// Row-major single-precision GEMM, C = op(A)·op(B) + beta·C (op = transpose when the flag is
/// set). Called inside the attention's parallel region, where OpenBLAS runs single-threaded.
inline void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                static_cast<int>(K), 1.0f, A, static_cast<int>(lda), B, static_cast<int>(ldb),
                beta, C, static_cast<int>(ldc));
}

// One task per (batch row, kv head): its query rows [T·G, D] (row (t, g) = query head kv·G + g
// at position t), keys and values [T, D]. Tasks run in parallel; within a task the 64-position
// query blocks run in order, so the key/value gradient accumulation needs no synchronisation.
struct AttentionFn : torch::autograd::Function<AttentionFn>
{
    static variable_list forward(AutogradContext *ctx, const Tensor &qkv, const Tensor &cos,
                                 const Tensor &sin, const Tensor &mask, int64_t H, int64_t K,
                                 int64_t D, double scale)
    {
        const int64_t B = qkv.size(0), T = qkv.size(1), G = H / K, BK = B * K;
        const AttnShape s{B, T, H, K, D, G, cos.size(0), static_cast<float>(scale)};
        auto q = torch::empty({B, K, T, G, D}, qkv.options());
        auto k = torch::empty({B, K, T, D}, qkv.options());
        auto v = torch::empty({B, K, T, D}, qkv.options());
        {
            const float *pqkv = qkv.data_ptr<float>(), *pc = cos.data_ptr<float>(),
                        *ps = sin.data_ptr<float>();
            float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
            parallelRows(B * T, grainFor((H + 2 * K) * D), [&](int64_t b, int64_t e) {
                ropeSplit(pqkv, pc, ps, pq, pk, pv, s, b, e);
            });
        }
        const uint8_t *pm = mask.numel() > 0 ? mask.data_ptr<uint8_t>() : nullptr;
        int64_t total = 0;
        const auto blocks = blocksFor(T, BK, G, &total);
        auto probs = torch::empty({total}, qkv.options()); // every block's [BK, R, L]
        auto yk = torch::empty({BK, T * G, D}, qkv.options()); // output in query-row order
        const float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
        float *pp = probs.data_ptr<float>(), *py = yk.data_ptr<float>();
        at::parallel_for(0, BK, 1, [&](int64_t b0, int64_t b1) {
            for (int64_t bk = b0; bk < b1; ++bk) {
                const float *qb = pq + bk * T * G * D, *kb = pk + bk * T * D, *vb = pv + bk * T * D;
                for (const Block &blk : blocks) {
                    const int64_t R = (blk.t1 - blk.t0) * G, L = blk.t1;
                    float *p = pp + blk.offset + bk * R * L; // [R, L]
                    sgemm(false, true, R, L, D, qb + blk.t0 * G * D, D, kb, D, 0.0f, p, L);
                    maskedSoftmax(p, pm, bk * R, bk * R + R, R, L, G, K, T, blk.t0, bk * R);
                    sgemm(false, false, R, D, L, p, L, vb, D, 0.0f, py + (bk * T * G + blk.t0 * G) * D,
                          D);
                }
            }
        });
        // [B, K, T, G, D] → [B, T, K, G, D] = [B, T, H·D]
        auto y = yk.view({B, K, T, G * D}).transpose(1, 2).contiguous().view({B, T, H * D});
        ctx->save_for_backward({q, k, v, probs, cos, sin});
        ctx->saved_data["H"] = H;
        ctx->saved_data["K"] = K;
        ctx->saved_data["scale"] = scale;
        return {y};
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
        const Tensor &cos = saved[4], &sin = saved[5];
        const int64_t H = ctx->saved_data["H"].toInt(), K = ctx->saved_data["K"].toInt();
        const double scale = ctx->saved_data["scale"].toDouble();
        const int64_t B = q.size(0), T = q.size(2), G = q.size(3), D = q.size(4), BK = B * K;
        const AttnShape s{B, T, H, K, D, G, cos.size(0), static_cast<float>(scale)};

        // dY [B, T, K, G, D] → [BK, T·G, D] to match the query rows.
        const auto dy = grads[0].contiguous().view({B, T, K, G * D}).transpose(1, 2)
                            .contiguous().view({BK, T * G, D});
        auto dq = torch::empty({BK, T * G, D}, q.options());
        auto dk = torch::zeros({BK, T, D}, q.options());
        auto dv = torch::zeros({BK, T, D}, q.options());
        int64_t total = 0;
        const auto blocks = blocksFor(T, BK, G, &total);
        const float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
        const float *pp = probs.data_ptr<float>(), *pdy = dy.data_ptr<float>();
        float *pdq = dq.data_ptr<float>(), *pdk = dk.data_ptr<float>(), *pdv = dv.data_ptr<float>();
        at::parallel_for(0, BK, 1, [&](int64_t b0, int64_t b1) {
            float *ds = scratch(kBlock * G * T); // [R, L] of the largest block
            for (int64_t bk = b0; bk < b1; ++bk) {
                const float *qb = pq + bk * T * G * D, *kb = pk + bk * T * D, *vb = pv + bk * T * D;
                const float *dyb = pdy + bk * T * G * D;
                float *dkb = pdk + bk * T * D, *dvb = pdv + bk * T * D;
                for (const Block &blk : blocks) {
                    const int64_t R = (blk.t1 - blk.t0) * G, L = blk.t1;
                    const float *p = pp + blk.offset + bk * R * L;
                    const float *qr = qb + blk.t0 * G * D, *dyr = dyb + blk.t0 * G * D;
                    sgemm(false, true, R, L, D, dyr, D, vb, D, 0.0f, ds, L);       // dP = dY Vᵀ
                    softmaxBackward(p, ds, 0, R, L);                             // dS
                    sgemm(false, false, R, D, L, ds, L, kb, D, 0.0f, pdq + (bk * T * G + blk.t0 * G) * D,
                          D);                                                     // dQ = dS K
                    sgemm(true, false, L, D, R, ds, L, qr, D, 1.0f, dkb, D);     // dK += dSᵀ Q
                    sgemm(true, false, L, D, R, p, L, dyr, D, 1.0f, dvb, D);     // dV += Pᵀ dY
                }
            }
        });
        auto dqkv = torch::empty({B, T, (H + 2 * K) * D}, q.options());
        {
            const float *pc = cos.data_ptr<float>(), *ps = sin.data_ptr<float>();
            float *po = dqkv.data_ptr<float>();
            parallelRows(B * T, grainFor((H + 2 * K) * D), [&](int64_t b, int64_t e) {
                ropeMerge(pdq, pdk, pdv, pc, ps, po, s, b, e);
            });
        }
        return {dqkv, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
    }
};

// =============================================================================================
// Cross entropy
// =============================================================================================

GENREC_KERNEL void logSumExpRows(const float *x, float *lse, int64_t r0, int64_t r1, int64_t V)
{
    for (int64_t r = r0; r < r1; ++r) {
        const float *row = x + r * V;
        float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < V; ++j)
            mx = row[j] > mx ? row[j] : mx;
        lse[r] = mx + std::log(expAffine(row, nullptr, V, 1.0f, -mx));
    }
}

GENREC_KERNEL void crossEntropyGrad(const float *x, const float *lse, const int64_t *target,
                                    float *dx, float scale, int64_t r0, int64_t r1, int64_t V)
{
    for (int64_t r = r0; r < r1; ++r) {
        float *out = dx + r * V;
        if (scale > 0.0f) {
            expAffine(x + r * V, out, V, 1.0f, std::log(scale) - lse[r]); // softmax · scale
        } else {
            expAffine(x + r * V, out, V, 1.0f, -lse[r]);
#pragma omp simd
            for (int64_t j = 0; j < V; ++j)
                out[j] *= scale;
        }
        out[target[r]] -= scale;
    }
}

struct CrossEntropyFn : torch::autograd::Function<CrossEntropyFn>
{
    static variable_list forward(AutogradContext *ctx, const Tensor &logits, const Tensor &targets,
                                 bool gradInPlace)
    {
        const int64_t N = logits.size(0), V = logits.size(1);
        auto lse = torch::empty({N}, logits.options());
        const float *px = logits.data_ptr<float>();
        float *pl = lse.data_ptr<float>();
        parallelRows(N, grainFor(V), [&](int64_t b, int64_t e) { logSumExpRows(px, pl, b, e, V); });
        const int64_t *pt = targets.data_ptr<int64_t>();
        double sum = 0.0;
        for (int64_t r = 0; r < N; ++r) {
            TORCH_CHECK(pt[r] >= 0 && pt[r] < V, "cross entropy: target ", pt[r],
                        " outside the vocabulary of ", V);
            sum += static_cast<double>(pl[r]) - px[r * V + pt[r]];
        }
        ctx->save_for_backward({logits, targets, lse});
        ctx->saved_data["inPlace"] = gradInPlace;
        return {torch::tensor(static_cast<float>(sum / N), logits.options())};
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const Tensor &logits = saved[0], &targets = saved[1], &lse = saved[2];
        const int64_t N = logits.size(0), V = logits.size(1);
        const float scale = grads[0].item<float>() / static_cast<float>(N);
        // In place: the logits die with this graph, and a fresh [N, V] buffer (64 MB at
        // N = 2048, V = 8192) costs page faults on every step.
        auto dx = ctx->saved_data["inPlace"].toBool() ? logits : torch::empty_like(logits);
        const float *px = logits.data_ptr<float>(), *pl = lse.data_ptr<float>();
        const int64_t *pt = targets.data_ptr<int64_t>();
        float *pd = dx.data_ptr<float>();
        parallelRows(N, grainFor(V), [&](int64_t b, int64_t e) {
            crossEntropyGrad(px, pl, pt, pd, scale, b, e, V);
        });
        return {dx, Tensor(), Tensor()};
    }
};

} // namespace

bool applies(const Tensor &x)
{
    return x.defined() && x.device().is_cpu() && x.scalar_type() == torch::kFloat;
}

Tensor rmsNorm(const Tensor &x, const Tensor &weight, double eps)
{
    checkCpuFloat(x, "rmsNorm");
    return RmsNormFn::apply(x.contiguous(), weight.to(torch::kFloat).contiguous(), eps)[0];
}

Tensor swiglu(const Tensor &gateUp, bool gradInPlace)
{
    checkCpuFloat(gateUp, "swiglu");
    TORCH_CHECK(gateUp.size(-1) % 2 == 0, "fused swiglu: last dim must be even");
    return SwigluFn::apply(gateUp.contiguous(), gradInPlace)[0];
}

Tensor attention(const Tensor &qkv, const Tensor &cos, const Tensor &sin, const Tensor &keyMask,
                 int64_t heads, int64_t kvHeads, int64_t headDim, double scale)
{
    checkCpuFloat(qkv, "attention");
    TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) == (heads + 2 * kvHeads) * headDim,
                "fused attention: qkv must be [B, T, (H+2K)·D]");
    TORCH_CHECK(heads % kvHeads == 0 && headDim % 2 == 0, "fused attention: bad head layout");
    const int64_t B = qkv.size(0), T = qkv.size(1);
    TORCH_CHECK(cos.dim() == 3 && (cos.size(0) == 1 || cos.size(0) == B) && cos.size(1) == T
                    && cos.size(2) == headDim / 2 && sin.sizes() == cos.sizes(),
                "fused attention: cos/sin must be [1 or B, T, D/2]");
    Tensor mask = torch::empty({0}, torch::kByte); // empty = no padding (Function inputs must be defined)
    if (keyMask.defined()) {
        TORCH_CHECK(keyMask.sizes() == torch::IntArrayRef({B, T}),
                    "fused attention: key mask must be [B, T]");
        mask = keyMask.ne(0).to(torch::kByte).contiguous();
    }
    return AttentionFn::apply(qkv.contiguous(), cos.to(torch::kFloat).contiguous(),
                              sin.to(torch::kFloat).contiguous(), mask, heads, kvHeads, headDim,
                              scale)[0];
}

Tensor crossEntropy(const Tensor &logits, const Tensor &targets, bool gradInPlace)
{
    checkCpuFloat(logits, "crossEntropy");
    TORCH_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0)
                    && logits.size(0) > 0,
                "fused crossEntropy: logits [N, V] and targets [N], N >= 1");
    return CrossEntropyFn::apply(logits.contiguous(), targets.to(torch::kLong).contiguous(),
                                 gradInPlace)[0];
}

} // namespace genrec::train::fused
