#include "training/model/model_bench.h"

#include "core/common/error.h"
#include "training/model/model_loading.h"
#include "training/optim/optimizer.h"
#include "training/runtime/threads.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>

namespace genrec::train {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Deterministic product-catalogue-like text (titles, numbers, punctuation, SID tokens), for
// tokenizer throughput without shipping a corpus.
std::vector<std::string> syntheticCorpus(int lines)
{
    static const char *kWords[] = {
        "stainless", "steel", "water", "bottle", "wireless", "headphones", "with", "noise",
        "cancelling", "for", "kids", "and", "adults", "premium", "leather", "case", "compatible",
        "office", "desk", "organizer", "pack", "of", "ergonomic", "mouse", "pad", "industrial",
        "grade", "adhesive", "tape", "heavy", "duty", "cable", "ties", "the", "user", "bought",
        "recommended", "items", "next", "purchase", "is", "likely", "to", "be", "a", "new"};
    constexpr int kCount = sizeof(kWords) / sizeof(kWords[0]);
    uint64_t state = 88172645463325252ull;
    const auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    std::vector<std::string> out;
    out.reserve(lines);
    for (int i = 0; i < lines; ++i) {
        std::string line = "Item " + std::to_string(next() % 100000) + ":";
        const int n = 6 + static_cast<int>(next() % 14);
        for (int w = 0; w < n; ++w) {
            line += ' ';
            line += kWords[next() % kCount];
            if (next() % 9 == 0)
                line += ", " + std::to_string(next() % 1000) + " ml";
        }
        line += ". <a_" + std::to_string(next() % 256) + "><b_" + std::to_string(next() % 256)
                + "><c_" + std::to_string(next() % 256) + ">";
        out.push_back(std::move(line));
    }
    return out;
}

double tokenizerThroughput(const BpeTokenizer &tokenizer, const std::vector<std::string> &lines)
{
    tokenizer.clearCache();
    size_t bytes = 0;
    size_t tokens = 0;
    const auto start = Clock::now();
    for (const auto &line : lines) {
        bytes += line.size();
        tokens += tokenizer.encode(line).size();
    }
    const double seconds = msSince(start) / 1000.0;
    return tokens > 0 && seconds > 0 ? bytes / seconds / 1e6 : -1.0;
}

} // namespace

double measureGemmGflops(double seconds)
{
    torch::NoGradGuard noGrad;
    const int64_t n = 1024;
    const auto a = torch::randn({n, n});
    const auto b = torch::randn({n, n});
    auto c = torch::empty({n, n});
    torch::mm_out(c, a, b);
    int64_t iterations = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds * 1000.0 || iterations < 3) {
        torch::mm_out(c, a, b);
        ++iterations;
        elapsed = msSince(start);
    }
    return 2.0 * n * n * n * iterations / (elapsed / 1000.0) / 1e9;
}

ModelBenchResult benchModel(const ModelBenchOptions &o)
{
    if (o.batch < 1 || o.seq < 2 || o.steps < 1 || o.warmup < 0)
        core::throwBadInput("bench model: need --batch >= 1, --seq >= 2, --steps >= 1");
    if (!(o.supervised > 0.0 && o.supervised <= 1.0))
        core::throwBadInput("bench model: --supervised must be in (0, 1]");
    if (o.dtype != "float32" && o.dtype != "bfloat16")
        core::throwBadInput("bench model: --dtype must be float32 or bfloat16");

    ModelBenchResult r;
    r.threads = setThreadCount(o.threads);
    CausalLmLoadOptions load;
    load.presetVocabSize = o.presetVocabSize;
    load.dtype = o.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat;
    auto model = loadCausalLm(o.model, load);
    model->train();
    r.configJson = modelConfigToJson(model->config());
    r.parameters = model->parameterCount();

    const int64_t B = o.batch, T = o.seq, V = model->config().vocabSize;
    torch::manual_seed(1);
    const auto ids = torch::randint(0, V, {B, T}, torch::kLong); // [B, T]
    auto labels = ids.clone();
    const int64_t labelled = std::max<int64_t>(2, std::llround(o.supervised * T));
    if (labelled < T)
        labels.narrow(1, 0, T - labelled).fill_(kIgnoreIndex);
    r.tokensPerStep = B * T;
    r.supervisedPerStep = labels.narrow(1, 1, T - 1).ne(kIgnoreIndex).sum().item<int64_t>();

    // The trainers' optimiser (adamw_torch), over every parameter.
    ParamGroup group;
    group.name = "all";
    for (const auto &[name, p] : model->named_parameters().pairs()) {
        group.names.push_back(name);
        group.params.push_back(p);
    }
    OptimizerOptions optOptions;
    optOptions.kind = "adamw_torch";
    optOptions.learningRate = 1e-4;
    optOptions.weightDecay = 0.0;
    const auto optimizer = makeOptimizer({group}, optOptions);
    double fwd = 0, bwd = 0, opt = 0;
    std::clock_t cpuStart = 0;
    const int64_t total = o.warmup + o.steps;
    for (int64_t step = 0; step < total; ++step) {
        if (step == o.warmup)
            cpuStart = std::clock();
        auto t0 = Clock::now();
        const auto hidden = model->forward(ids);
        const auto loss = causalLmLoss(*model, hidden, labels);
        const double lossValue = loss.item<double>();
        const double f = msSince(t0);
        t0 = Clock::now();
        loss.backward();
        const double b = msSince(t0);
        t0 = Clock::now();
        optimizer->step();
        optimizer->zeroGrad();
        const double s = msSince(t0);
        if (step == 0)
            r.lossFirst = lossValue;
        r.lossLast = lossValue;
        if (step >= o.warmup) {
            fwd += f;
            bwd += b;
            opt += s;
        }
        if (o.progress && !o.progress(step + 1, total))
            throw core::Error(core::ErrorKind::Interrupted, "bench model: cancelled");
    }
    r.cpuMsPerStep = 1000.0 * double(std::clock() - cpuStart) / CLOCKS_PER_SEC / o.steps;
    if (!o.tracePath.empty()) {
        torch::autograd::profiler::RecordProfile trace(o.tracePath);
        const auto loss = causalLmLoss(*model, model->forward(ids), labels);
        loss.backward();
        optimizer->step();
        optimizer->zeroGrad();
    }
    r.msForward = fwd / o.steps;
    r.msBackward = bwd / o.steps;
    r.msOptimizer = opt / o.steps;
    r.msPerStep = r.msForward + r.msBackward + r.msOptimizer;
    r.tokensPerSecond = r.tokensPerStep / (r.msPerStep / 1000.0);
    r.modelGflops = 6.0 * r.parameters * r.tokensPerStep / (r.msPerStep / 1000.0) / 1e9;
    r.gemmGflops = measureGemmGflops();
    r.gemmFraction = r.modelGflops / r.gemmGflops;

    if (o.measureTokenizer) {
        const auto lines = syntheticCorpus(20000);
        const std::filesystem::path tokenizerJson = std::filesystem::path(o.model) / "tokenizer.json";
        if (!isPresetName(o.model) && std::filesystem::exists(tokenizerJson)) {
            r.tokenizerMBps = tokenizerThroughput(BpeTokenizer::load(o.model), lines);
            r.tokenizerSource = tokenizerJson.string();
        } else if (isPresetName(o.model)) {
            const std::vector<std::string> corpus(lines.begin(), lines.begin() + 2000);
            r.tokenizerMBps = tokenizerThroughput(BpeTokenizer::trainCompact(corpus, 1000), lines);
            r.tokenizerSource = "compact BPE, 1000 merges trained on synthetic text";
        }
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    r.peakRssMb = usage.ru_maxrss / 1024.0;
    return r;
}

} // namespace genrec::train
