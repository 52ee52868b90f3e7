// genrec forward | bench model
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "training/model/model_bench.h"
#include "training/model/model_loading.h"
#include "training/runtime/threads.h"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace genrec::app {

namespace {

std::vector<int64_t> parseIds(const std::string &text)
{
    std::vector<int64_t> ids;
    std::string item;
    std::istringstream in(text);
    while (std::getline(in, item, ',')) {
        const auto b = item.find_first_not_of(" \t");
        if (b == std::string::npos)
            continue;
        const auto e = item.find_last_not_of(" \t");
        const std::string token = item.substr(b, e - b + 1);
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(token, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != token.size() || v < 0)
            core::throwBadInput("--ids: '" + token + "' is not a token id",
                                "give comma-separated non-negative integers, e.g. --ids 1,2,3");
        ids.push_back(v);
    }
    if (ids.empty())
        core::throwBadInput("--ids: no token ids given", "e.g. --ids 1,2,3");
    return ids;
}

torch::Dtype parseDtype(const std::string &name)
{
    if (name == "float32" || name == "fp32")
        return torch::kFloat;
    if (name == "bfloat16" || name == "bf16")
        return torch::kBFloat16;
    core::throwBadInput("--dtype: unknown dtype '" + name + "'", "use float32 or bfloat16");
}

std::string fixed(double v, int digits)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

} // namespace

void registerModelCommands(CLI::App &app, CliContext &ctx)
{
    // ---- genrec forward ----------------------------------------------------------------------
    struct ForwardArgs
    {
        std::string model;
        std::string ids;
        std::string out;
        std::string dtype = "float32";
        int64_t vocab = 8192;
        int threads = 0;
    };
    static ForwardArgs fa;
    auto *fwd = app.add_subcommand("forward", "Run the model on token ids; write fp32 logits [T, V] as .npy");
    fwd->add_option("--model", fa.model, "HF model folder or preset:NAME")->required();
    fwd->add_option("--ids", fa.ids, "Comma-separated token ids, e.g. 1,2,3")->required();
    fwd->add_option("--out", fa.out, "Output .npy file (float32 logits [T, V])");
    fwd->add_option("--dtype", fa.dtype, "Weight storage: float32 | bfloat16")->capture_default_str();
    fwd->add_option("--vocab", fa.vocab, "Vocabulary rows of a preset model")->capture_default_str();
    fwd->add_option("--threads", fa.threads, "Intra-op threads (0 = all)")->capture_default_str();
    fwd->callback([&ctx] {
        ctx.action = [&ctx] {
            const auto ids = parseIds(fa.ids);
            train::setThreadCount(fa.threads);
            train::CausalLmLoadOptions load;
            load.presetVocabSize = fa.vocab;
            load.dtype = parseDtype(fa.dtype);
            auto model = train::loadCausalLm(fa.model, load);
            model->eval();
            const int64_t V = model->config().vocabSize;
            for (const int64_t id : ids)
                if (id >= V)
                    core::throwBadInput("--ids: token id " + std::to_string(id)
                                        + " is outside the vocabulary (" + std::to_string(V)
                                        + " rows)");
            torch::NoGradGuard noGrad;
            const auto input = torch::tensor(ids, torch::kLong).unsqueeze(0); // [1, T]
            const auto logits = model->logits(model->forward(input))[0]
                                    .to(torch::kFloat); // [T, V]
            if (!fa.out.empty())
                train::writeNpyFloat32(fa.out, logits);
            const auto last = logits[-1];
            const int64_t argmax = last.argmax().item<int64_t>();
            if (ctx.json) {
                printJson({{"event", "forward"},
                           {"model", fa.model},
                           {"shape", {logits.size(0), logits.size(1)}},
                           {"out", fa.out},
                           {"argmax_last", argmax},
                           {"max_logit_last", last.max().item<double>()}});
            } else {
                std::cout << "logits [" << logits.size(0) << ", " << logits.size(1) << "]"
                          << (fa.out.empty() ? "" : " written to " + fa.out) << "\n"
                          << "last position: argmax " << argmax << " (logit "
                          << fixed(last.max().item<double>(), 4) << ")\n";
            }
            return core::kExitOk;
        };
    });

    // ---- genrec bench model ------------------------------------------------------------------
    CLI::App *bench = nullptr;
    try {
        bench = app.get_subcommand("bench"); // another group may have created it
    } catch (const CLI::OptionNotFound &) {
    }
    if (!bench) {
        bench = app.add_subcommand("bench", "Measure engine speed on this machine");
        bench->require_subcommand(1);
    }
    static train::ModelBenchOptions bo;
    auto *bm = bench->add_subcommand("model", "Training-step throughput (forward + backward + AdamW) "
                                              "against this machine's GEMM ceiling");
    bm->add_option("--model", bo.model, "HF model folder or preset:NAME")->capture_default_str();
    bm->add_option("--vocab", bo.presetVocabSize, "Vocabulary rows of a preset model")->capture_default_str();
    bm->add_option("--batch", bo.batch, "Sequences per step")->capture_default_str();
    bm->add_option("--seq", bo.seq, "Tokens per sequence")->capture_default_str();
    bm->add_option("--threads", bo.threads, "Intra-op threads (0 = all)")->capture_default_str();
    bm->add_option("--steps", bo.steps, "Timed steps")->capture_default_str();
    bm->add_option("--warmup", bo.warmup, "Untimed steps first")->capture_default_str();
    bm->add_option("--supervised", bo.supervised,
                   "Fraction of positions with labels (the last ones, like an SFT response)")
        ->capture_default_str();
    bm->add_option("--dtype", bo.dtype, "Weight storage: float32 | bfloat16")->capture_default_str();
    bm->add_option("--trace", bo.tracePath, "Write a Chrome trace of one extra step");
    bm->callback([&ctx] {
        ctx.action = [&ctx] {
            ProgressBar bar("bench", bo.warmup + bo.steps, ctx.json);
            bo.progress = [&bar](int64_t done, int64_t) {
                bar.update(done);
                return true;
            };
            const auto r = train::benchModel(bo);
            bar.finish();
            if (ctx.json) {
                printJson({{"event", "bench_model"},
                           {"model", bo.model},
                           {"config", nlohmann::json::parse(r.configJson)},
                           {"parameters", r.parameters},
                           {"threads", r.threads},
                           {"batch", bo.batch},
                           {"seq", bo.seq},
                           {"dtype", bo.dtype},
                           {"tokens_per_step", r.tokensPerStep},
                           {"supervised_per_step", r.supervisedPerStep},
                           {"ms_per_step", r.msPerStep},
                           {"ms_forward", r.msForward},
                           {"ms_backward", r.msBackward},
                           {"ms_optimizer", r.msOptimizer},
                           {"cpu_ms_per_step", r.cpuMsPerStep},
                           {"tokens_per_s", r.tokensPerSecond},
                           {"model_gflops", r.modelGflops},
                           {"gemm_gflops", r.gemmGflops},
                           {"gemm_fraction", r.gemmFraction},
                           {"peak_rss_mb", r.peakRssMb},
                           {"tokenizer_mb_per_s", r.tokenizerMBps < 0 ? nlohmann::json()
                                                                       : nlohmann::json(r.tokenizerMBps)},
                           {"loss_first", r.lossFirst},
                           {"loss_last", r.lossLast}});
                return core::kExitOk;
            }
            const auto cfg = nlohmann::json::parse(r.configJson);
            const auto row = [](const std::string &k, const std::string &v) {
                std::printf("  %-18s %s\n", k.c_str(), v.c_str());
            };
            std::printf("bench model\n");
            row("model", bo.model + " (" + fixed(r.parameters / 1e6, 2) + "M parameters, vocab "
                             + std::to_string(cfg.value("vocab_size", 0)) + ", " + bo.dtype + ")");
            row("threads", std::to_string(r.threads));
            row("batch x seq", std::to_string(bo.batch) + " x " + std::to_string(bo.seq) + " = "
                                   + std::to_string(r.tokensPerStep) + " tokens, "
                                   + std::to_string(r.supervisedPerStep) + " supervised");
            row("step", fixed(r.msPerStep, 1) + " ms (forward+loss " + fixed(r.msForward, 1)
                            + ", backward " + fixed(r.msBackward, 1) + ", AdamW "
                            + fixed(r.msOptimizer, 1) + ")");
            row("CPU time", fixed(r.cpuMsPerStep, 1) + " ms/step over all threads (about threads x "
                                "step time when the machine is otherwise idle)");
            row("throughput", fixed(r.tokensPerSecond, 0) + " tokens/s");
            row("model FLOP rate", fixed(r.modelGflops, 1) + " GFLOP/s (6 x params x tokens)");
            row("GEMM ceiling", fixed(r.gemmGflops, 1) + " GFLOP/s (fp32 1024^3 matmul); model at "
                                    + fixed(100.0 * r.gemmFraction, 1) + " %");
            row("peak RSS", fixed(r.peakRssMb, 0) + " MB");
            if (r.tokenizerMBps >= 0)
                row("tokenizer", fixed(r.tokenizerMBps, 1) + " MB/s encode (" + r.tokenizerSource + ")");
            row("loss", fixed(r.lossFirst, 4) + " -> " + fixed(r.lossLast, 4));
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
