// gpu_check: what packaging/gpu-check.sh measures on a CUDA machine, through the engine's own
// model, loss and optimiser code (one JSON line per check on stdout):
//   parity      tiny random Qwen2: logits on CUDA (fp32, bf16) vs CPU fp32
//   train       30 AdamW steps of preset:tiny on CUDA on one fixed batch: loss must fall
//   recompute   LoRA with dropout on CUDA: gradients with MLP recomputation and with layer
//               checkpointing equal the plain path (the CUDA generator is replayed)
//   gemm        bf16 8192^3 matmul rate (the MFU denominator)
//   throughput  preset:0.5b bf16, forward + backward + AdamW: tokens/s, 6·N·tokens FLOP/s, MFU
//   memory      peak CUDA memory of one training step of preset:0.5b, full vs lora vs freeze
#include "training/finetune/finetune.h"
#include "training/model/model_loading.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace genrec;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
void cudaSync() { torch::cuda::synchronize(); }

int64_t peakBytes()
{
    const auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    return s.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
}

void resetPeak()
{
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(0);
}

train::Qwen2ForCausalLM load(const std::string &spec, int64_t vocab, torch::Device dev, std::optional<torch::Dtype> dt)
{
    train::CausalLmLoadOptions o;
    o.presetVocabSize = vocab;
    o.device = dev;
    o.dtype = dt;
    o.seed = 1;
    return train::loadCausalLm(spec, o);
}

/// One training step (forward, loss, backward, optimiser). Returns the loss.
double step(train::Qwen2ForCausalLM &m, train::Optimizer &opt, const torch::Tensor &ids)
{
    opt.zeroGrad();
    auto hidden = m->forward(ids, torch::ones_like(ids));
    auto loss = train::causalLmLoss(*m, hidden, ids);
    loss.backward();
    opt.step();
    return loss.item<double>();
}

} // namespace

int main(int argc, char **argv)
{
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    if (!torch::cuda::is_available()) {
        std::printf("{\"check\":\"cuda\",\"ok\":false,\"error\":\"torch::cuda::is_available() is false\"}\n");
        return 1;
    }
    const torch::Device cuda(torch::kCUDA, 0);
    int failures = 0;
    // parity
    {
        torch::NoGradGuard ng;
        auto cpu = load("preset:tiny", 512, torch::kCPU, torch::kFloat);
        auto gpu = load("preset:tiny", 512, cuda, torch::kFloat);
        auto gbf = load("preset:tiny", 512, cuda, torch::kBFloat16);
        cpu->eval(), gpu->eval(), gbf->eval();
        auto ids = torch::randint(0, 512, {2, 48}, torch::kLong);
        auto ref = cpu->logits(cpu->forward(ids, torch::ones_like(ids))).to(torch::kFloat);
        auto a = gpu->logits(gpu->forward(ids.to(cuda), torch::ones_like(ids).to(cuda))).to(torch::kFloat).cpu();
        auto b = gbf->logits(gbf->forward(ids.to(cuda), torch::ones_like(ids).to(cuda))).to(torch::kFloat).cpu();
        const double scale = ref.abs().max().item<double>();
        const double e32 = (a - ref).abs().max().item<double>() / scale;
        const double ebf = (b - ref).abs().max().item<double>() / scale;
        const bool ok = e32 < 1e-4 && ebf < 5e-2;
        failures += !ok;
        std::printf("{\"check\":\"parity\",\"ok\":%s,\"fp32_rel_err\":%.3g,\"bf16_rel_err\":%.3g}\n", ok ? "true" : "false", e32, ebf);
    }
    // train smoke
    {
        auto m = load("preset:tiny", 512, cuda, torch::kFloat);
        m->train();
        auto ts = train::applyFinetuning(*m, train::FinetuneOptions{}, {});
        train::OptimizerOptions oo;
        oo.learningRate = 3e-3;
        auto opt = train::makeOptimizer(ts.groups, oo);
        auto ids = torch::randint(0, 512, {4, 32}, torch::kLong).to(cuda);
        const double first = step(m, *opt, ids);
        double last = first;
        for (int i = 0; i < 29; ++i)
            last = step(m, *opt, ids);
        const bool ok = last < 0.5 * first;
        failures += !ok;
        std::printf("{\"check\":\"train\",\"ok\":%s,\"loss_first\":%.4f,\"loss_last\":%.4f}\n", ok ? "true" : "false", first, last);
    }
    // recomputation replays dropout on CUDA
    {
        auto ids = torch::randint(0, 512, {4, 32}, torch::kLong).to(cuda);
        std::vector<std::vector<torch::Tensor>> grads;
        for (int mode = 0; mode < 3; ++mode) { // plain, MLP recomputation, layer checkpointing
            auto m = load("preset:tiny", 512, cuda, torch::kFloat);
            m->train();
            m->setDropout(0.1);
            m->setMlpRecompute(mode == 1);
            m->setGradientCheckpointing(mode == 2);
            train::FinetuneOptions fo;
            fo.type = "lora";
            fo.loraDropout = 0.2;
            auto ts = train::applyFinetuning(*m, fo, {500, 501, 502});
            torch::manual_seed(5);
            torch::cuda::manual_seed_all(5);
            train::causalLmLoss(*m, m->forward(ids, torch::ones_like(ids)), ids).backward();
            std::vector<torch::Tensor> g;
            for (const auto &grp : ts.groups)
                for (const auto &p : grp.params)
                    g.push_back(p.grad().defined() ? p.grad().cpu().clone() : torch::zeros_like(p).cpu());
            grads.push_back(std::move(g));
        }
        double worst = 0;
        for (int mode = 1; mode < 3; ++mode)
            for (size_t i = 0; i < grads[0].size(); ++i) {
                const double scale = std::max(1e-12, grads[0][i].abs().max().item<double>());
                worst = std::max(worst, (grads[mode][i] - grads[0][i]).abs().max().item<double>() / scale);
            }
        const bool ok = !grads[0].empty() && worst < 1e-4;
        failures += !ok;
        std::printf("{\"check\":\"recompute\",\"ok\":%s,\"max_rel_grad_diff\":%.3g}\n", ok ? "true" : "false", worst);
    }
    // bf16 GEMM ceiling
    double gemmTflops = 0;
    {
        const int64_t n = 8192;
        auto x = torch::randn({n, n}, torch::TensorOptions().dtype(torch::kBFloat16).device(cuda));
        auto y = torch::randn_like(x);
        for (int i = 0; i < 3; ++i)
            torch::mm(x, y);
        cudaSync();
        const double t0 = now();
        for (int i = 0; i < 10; ++i)
            torch::mm(x, y);
        cudaSync();
        gemmTflops = 10 * 2.0 * double(n) * n * n / (now() - t0) / 1e12;
        std::printf("{\"check\":\"gemm\",\"ok\":true,\"bf16_tflops\":%.1f}\n", gemmTflops);
    }
    // throughput + memory on preset:0.5b
    const int64_t vocab = 151936, batch = quick ? 4 : 8, seq = 512;
    for (const char *type : {"full", "lora", "freeze"}) {
        resetPeak();
        auto m = load("preset:0.5b", vocab, cuda, torch::kBFloat16);
        m->train();
        train::FinetuneOptions fo;
        fo.type = type;
        std::vector<int64_t> newIds;
        for (int64_t i = vocab - 600; i < vocab; ++i)
            newIds.push_back(i);
        auto ts = train::applyFinetuning(*m, fo, newIds);
        auto opt = train::makeOptimizer(ts.groups, train::OptimizerOptions{});
        auto ids = torch::randint(0, vocab, {batch, seq}, torch::kLong).to(cuda);
        step(m, *opt, ids); // warm-up (allocates the optimiser state)
        cudaSync();
        const int steps = quick ? 3 : 10;
        const double t0 = now();
        for (int i = 0; i < steps; ++i)
            step(m, *opt, ids);
        cudaSync();
        const double dt = (now() - t0) / steps;
        int64_t params = 0;
        for (const auto &p : m->parameters())
            params += p.numel();
        const double tokens = double(batch * seq);
        const double tflops = 6.0 * double(params) * tokens / dt / 1e12;
        std::printf("{\"check\":\"throughput\",\"ok\":true,\"finetuning_type\":\"%s\",\"parameters\":%lld,\"batch\":%lld,\"seq\":%lld,"
                    "\"ms_per_step\":%.1f,\"tokens_per_s\":%.0f,\"model_tflops\":%.1f,\"mfu_vs_gemm\":%.3f,\"peak_bytes\":%lld,"
                    "\"optimizer_state_bytes\":%lld}\n",
                    type, static_cast<long long>(params), static_cast<long long>(batch), static_cast<long long>(seq), dt * 1e3,
                    tokens / dt, tflops, gemmTflops > 0 ? tflops / gemmTflops : 0.0, static_cast<long long>(peakBytes()),
                    static_cast<long long>(opt->stateBytes()));
        std::fflush(stdout);
    }
    return failures ? 1 : 0;
}
