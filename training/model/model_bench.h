#pragma once
/// @file model_bench.h
/// Training-step throughput of a Qwen2-family model on this machine (`genrec bench model`):
/// forward + backward + AdamW step (the trainers' adamw_torch) on random tokens, against the
/// machine's fp32 GEMM ceiling measured in the same process. Plain structs in and out (no Torch
/// in this header).

#include <cstdint>
#include <functional>
#include <string>

namespace genrec::train {

struct ModelBenchOptions
{
    std::string model = "preset:small"; ///< HF folder or preset:NAME
    int64_t presetVocabSize = 8192;     ///< vocabulary rows of a preset model
    int64_t batch = 8;
    int64_t seq = 256;
    int threads = 0;                    ///< intra-op threads; <= 0 = all hardware threads
    int steps = 5;                      ///< timed steps
    int warmup = 2;                     ///< untimed steps first
    /// Fraction of each row's positions that carry labels (the last ones, like an SFT response);
    /// 1.0 = every position (language-model pre-training, what an eager HF step computes).
    double supervised = 1.0;
    std::string dtype = "float32";      ///< parameter storage: float32 | bfloat16
    bool measureTokenizer = true;       ///< also time the tokenizer when there is one
    /// When set, one extra (untimed) step runs under the autograd profiler and its Chrome trace
    /// is written here (open in chrome://tracing or Perfetto).
    std::string tracePath;
    /// Called after each step (warm-up included) with (done, total); false cancels.
    std::function<bool(int64_t, int64_t)> progress;
};

struct ModelBenchResult
{
    std::string configJson;    ///< the model's HF config.json (feeds tests/reference/bench_eager.py)
    int64_t parameters = 0;    ///< N (tied embeddings once)
    int threads = 0;
    int64_t tokensPerStep = 0; ///< batch × seq
    int64_t supervisedPerStep = 0;
    double msPerStep = 0;      ///< mean over the timed steps
    double msForward = 0;      ///< of which forward + loss
    double msBackward = 0;     ///< backward
    double msOptimizer = 0;    ///< AdamW step + zero_grad
    /// Process CPU time per timed step (all threads): with `threads` threads on an idle machine
    /// about threads × msPerStep; much less means other processes took the cores.
    double cpuMsPerStep = 0;
    double tokensPerSecond = 0;
    double modelGflops = 0;    ///< 6 · N · tokens / time (the usual nominal count)
    double gemmGflops = 0;     ///< fp32 1024³ matmul rate of this machine, same threads
    double gemmFraction = 0;   ///< modelGflops / gemmGflops
    double peakRssMb = 0;      ///< getrusage max RSS of the process
    double tokenizerMBps = -1; ///< encode throughput; < 0 when no tokenizer was measured
    std::string tokenizerSource; ///< what was measured ("DIR/tokenizer.json", "compact (trained)")
    double lossFirst = 0, lossLast = 0;
};

/// Runs the benchmark. Throws core::Error(BadInput) for a bad model spec or options.
ModelBenchResult benchModel(const ModelBenchOptions &options);

/// GFLOP/s of a 1024×1024×1024 fp32 matmul loop (`seconds` of work after one warm-up) with
/// the current thread setting: the GEMM ceiling the model's rate is compared with.
double measureGemmGflops(double seconds = 1.0);

} // namespace genrec::train
