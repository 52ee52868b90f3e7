#include "training/sft/sft_trainer.h"

#include "core/common/error.h"
#include "core/store/metric_writer.h"
#include "training/engine/stage_common.h"
#include "training/eval/evaluator.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/model_loading.h"
#include "training/optim/optimizer.h"
#include "training/dist/data_parallel.h"
#include "training/sft/sft_data.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <unistd.h>

namespace fs = std::filesystem;

namespace genrec::train {

namespace {

constexpr const char *kStage = "sft";


struct Batch
{
    torch::Tensor inputIds;      // [B, T] int64
    torch::Tensor attentionMask; // [B, T] int64
    torch::Tensor labels;        // [B, T] int64
    int64_t supervised = 0;      // labels[:, 1:] != -100
    int64_t tokens = 0;          // non-padding tokens
};

/// Left-pads to the longest sequence, rounded up to a multiple of 8; built on the host, then
/// moved to `device` (the model's).
Batch collate(const std::vector<const TokenizedExample *> &rows, int32_t pad, const torch::Device &device)
{
    size_t longest = 0;
    for (const auto *r : rows)
        longest = std::max(longest, r->inputIds.size());
    const auto len = static_cast<int64_t>((longest + 7) / 8 * 8);
    const auto b = static_cast<int64_t>(rows.size());
    Batch batch;
    batch.inputIds = torch::full({b, len}, static_cast<int64_t>(pad), torch::kLong);
    batch.attentionMask = torch::zeros({b, len}, torch::kLong);
    batch.labels = torch::full({b, len}, kIgnoreIndex, torch::kLong);
    auto ids = batch.inputIds.accessor<int64_t, 2>();
    auto mask = batch.attentionMask.accessor<int64_t, 2>();
    auto labels = batch.labels.accessor<int64_t, 2>();
    for (int64_t i = 0; i < b; ++i) {
        const auto &r = *rows[static_cast<size_t>(i)];
        const int64_t off = len - static_cast<int64_t>(r.inputIds.size());
        for (size_t t = 0; t < r.inputIds.size(); ++t) {
            ids[i][off + static_cast<int64_t>(t)] = r.inputIds[t];
            mask[i][off + static_cast<int64_t>(t)] = 1;
            labels[i][off + static_cast<int64_t>(t)] = r.labels[t];
            if (t > 0 && r.labels[t] != kIgnoreLabel)
                ++batch.supervised;
        }
        batch.tokens += static_cast<int64_t>(r.inputIds.size());
    }
    if (!device.is_cpu()) {
        batch.inputIds = batch.inputIds.to(device);
        batch.attentionMask = batch.attentionMask.to(device);
        batch.labels = batch.labels.to(device);
    }
    return batch;
}

bool lowerIsBetter(const std::string &metric) { return metric.find("loss") != std::string::npos; }

} // namespace

double lrMultiplier(const std::string &schedule, int64_t step, int64_t total, int64_t warmup)
{
    if (warmup > 0 && step < warmup)
        return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
    if (schedule == "constant")
        return 1.0;
    const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    if (schedule == "cosine")
        return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
}

int64_t resolveInterval(double value, int64_t total)
{
    if (value <= 0)
        return 0;
    if (value < 1)
        return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(value * static_cast<double>(total))));
    return static_cast<int64_t>(value);
}

struct SftTrainer::Impl
{
    RunContext &ctx;
    std::vector<TokenizedExample> train, valid;
    std::unique_ptr<Optimizer> optimizer;
    std::unique_ptr<dist::DataParallel> dp; // world size > 1 (training/dist), else null
    int64_t world() const { return dp ? dp->worldSize() : 1; }
    int64_t rank() const { return dp ? dp->rank() : 0; }
    std::unique_ptr<Evaluator> evaluator; // valid-split HR/NDCG (sft.eval_ranking)
    int64_t step = 0;       // optimiser steps done
    int64_t cursor = 0;     // examples consumed from the shuffled stream
    int64_t total = 0;
    int64_t warmup = 0;
    int64_t evalEvery = 0, saveEvery = 0;
    double best = std::numeric_limits<double>::quiet_NaN();
    int64_t badEvals = 0;
    double lastEvalLoss = -1;
    std::vector<int64_t> perm; // of the current epoch
    int64_t permEpoch = -1;
    CheckpointKeeper checkpoints;

    explicit Impl(RunContext &c) : ctx(c), checkpoints(c, kStage) {}

    const core::TrainArgs &args() const { return ctx.config.sft.train; }

    const TokenizedExample &example(int64_t pos)
    {
        const auto n = static_cast<int64_t>(train.size());
        const int64_t epoch = pos / n;
        if (epoch != permEpoch) {
            perm = shuffleIndices(n, static_cast<uint64_t>(ctx.config.seed) + static_cast<uint64_t>(epoch));
            permEpoch = epoch;
        }
        return train[static_cast<size_t>(perm[static_cast<size_t>(pos % n)])];
    }
};

SftTrainer::SftTrainer(RunContext &ctx) : m_impl(std::make_unique<Impl>(ctx)) {}
SftTrainer::~SftTrainer() = default;

int64_t SftTrainer::totalSteps() const { return m_impl->total; }

void SftTrainer::setup(const std::string &resumeDir)
{
    auto &d = *m_impl;
    auto &cfg = d.ctx.config;
    const auto tmpl = parsePromptTemplate(cfg.promptTemplate);
    const std::string category = cfg.category.empty() ? d.ctx.dataset.categoryPhrase() : cfg.category;
    auto examples = buildSftExamples(d.ctx.dataset, "train", cfg.sft.tasks, tmpl, category,
                                     static_cast<uint64_t>(cfg.seed), cfg.maxSamples);
    if (examples.empty())
        core::throwBadInput("sft: no training examples", "check dataset_dir and sft.tasks");
    d.train = tokenizeExamples(d.ctx.tokenizer, examples, cfg.cutoffLen);
    auto validExamples = buildSftExamples(d.ctx.dataset, "valid", {"sid_seq2sid"}, tmpl, category,
                                          static_cast<uint64_t>(cfg.seed), cfg.sft.evalMaxSamples);
    d.valid = tokenizeExamples(d.ctx.tokenizer, validExamples, cfg.cutoffLen);

    const auto &a = d.args();
    if (auto *group = dist::current()) // data parallel: every rank starts from rank 0's weights
        d.dp = std::make_unique<dist::DataParallel>(*group, d.ctx.trainable.groups, static_cast<int>(cfg.zeroStage));
    const int64_t perStep = a.perDeviceTrainBatchSize * a.gradientAccumulationSteps * d.world();
    const auto stepsPerEpoch = (static_cast<int64_t>(d.train.size()) + perStep - 1) / perStep;
    d.total = a.maxSteps > 0 ? a.maxSteps
                             : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(a.numTrainEpochs * static_cast<double>(stepsPerEpoch))));
    d.warmup = a.warmupSteps > 0 ? a.warmupSteps : static_cast<int64_t>(std::ceil(a.warmupRatio * static_cast<double>(d.total)));
    d.evalEvery = resolveInterval(a.evalSteps, d.total);
    d.saveEvery = resolveInterval(a.saveSteps, d.total);

    d.ctx.model->train();
    auto opts = OptimizerOptions::fromTrainArgs(a);
    opts.pagedDir = d.ctx.outputDir;
    d.optimizer = d.dp ? d.dp->makeOptimizer(opts) : makeOptimizer(d.ctx.trainable.groups, opts);
    if (cfg.sft.evalRanking && !d.ctx.dataset.valid.empty())
        d.evaluator = std::make_unique<Evaluator>(*d.ctx.model, d.ctx.tokenizer, d.ctx.dataset);

    if (!resumeDir.empty()) {
        const fs::path dir(resumeDir);
        loadTrainedWeights(d.ctx, dir.string());
        d.optimizer->load(dir.string());
        loadRngState(d.ctx, dir.string());
        const auto st = nlohmann::json::parse(readStateFile((dir / "trainer_state.json").string()));
        d.step = st.at("step").get<int64_t>();
        d.cursor = st.at("cursor").get<int64_t>();
        d.best = st.at("best").is_null() ? std::numeric_limits<double>::quiet_NaN() : st.at("best").get<double>();
        d.badEvals = st.at("bad_evals").get<int64_t>();
        d.lastEvalLoss = st.value("last_eval_loss", -1.0);
        d.checkpoints.restore(st);
        d.ctx.event(kStage, d.step, "log", "resumed from " + dir.string());
    }
}

EvalReport SftTrainer::evaluateRanking()
{
    auto &d = *m_impl;
    if (!d.evaluator)
        core::throwBadInput("sft: ranking evaluation needs a valid split", "check the dataset's valid/ folder");
    auto opts = evalOptionsFromConfig(d.ctx.config.eval);
    opts.promptTemplate = parsePromptTemplate(d.ctx.config.promptTemplate);
    opts.split = "valid";
    opts.maxSamples = d.ctx.config.sft.evalMaxSamples;
    opts.batchSize = static_cast<int>(std::max<int64_t>(1, d.ctx.config.eval.perDeviceEvalBatchSize));
    opts.numExamples = 0;
    return d.evaluator->evaluate(opts);
}

double SftTrainer::evaluateLoss()
{
    auto &d = *m_impl;
    if (d.valid.empty())
        return -1;
    torch::NoGradGuard noGrad;
    const bool wasTraining = d.ctx.model->is_training();
    d.ctx.model->eval();
    const int32_t pad = d.ctx.tokenizer.padTokenId();
    double sum = 0;
    int64_t count = 0;
    const auto bs = static_cast<size_t>(std::max<int64_t>(1, d.args().perDeviceEvalBatchSize));
    for (size_t i = 0; i < d.valid.size(); i += bs) {
        std::vector<const TokenizedExample *> rows;
        for (size_t j = i; j < std::min(d.valid.size(), i + bs); ++j)
            rows.push_back(&d.valid[j]);
        Batch b = collate(rows, pad, d.ctx.device);
        auto hidden = d.ctx.model->forward(b.inputIds, b.attentionMask); // [B, T, C]
        sum += causalLmLoss(*d.ctx.model, hidden, b.labels).item<double>() * static_cast<double>(b.supervised);
        count += b.supervised;
    }
    if (wasTraining)
        d.ctx.model->train();
    return count ? sum / static_cast<double>(count) : -1;
}

std::string SftTrainer::saveCheckpoint(const std::string &metric, double value, bool isBest)
{
    auto &d = *m_impl;
    if (d.rank() != 0) { // only rank 0 writes checkpoints and the store; the optimizer save is collective
        d.optimizer->save({});
        return {};
    }
    nlohmann::json st = {{"cursor", d.cursor},
                         {"total_steps", d.total},
                         {"best", std::isnan(d.best) ? nlohmann::json(nullptr) : nlohmann::json(d.best)},
                         {"bad_evals", d.badEvals},
                         {"last_eval_loss", d.lastEvalLoss}};
    return d.checkpoints.save(d.step, *d.optimizer, std::move(st), {}, metric, value, isBest,
                              d.args().saveTotalLimit);
}

StageResult SftTrainer::train()
{
    auto &d = *m_impl;
    const auto &a = d.args();
    core::MetricWriter metrics(*d.ctx.store, d.ctx.runId);
    const int32_t pad = d.ctx.tokenizer.padTokenId();
    std::string bestKey = d.ctx.config.sft.metricForBestModel;
    if (bestKey != "eval_loss" && !d.evaluator) {
        d.ctx.event(kStage, d.step, "warning", "metric_for_best_model " + bestKey +
                                                   " needs sft.eval_ranking and a valid split: using eval_loss");
        d.ctx.log("warning: metric_for_best_model " + bestKey + " needs sft.eval_ranking, using eval_loss");
        bestKey = "eval_loss";
    }
    const bool lower = lowerIsBetter(bestKey);
    const auto n = static_cast<int64_t>(d.train.size());
    StageResult result;
    result.bestMetric = bestKey;
    d.ctx.event(kStage, d.step, "stage_start", "sft",
                nlohmann::json{{"total_steps", d.total}, {"examples", n}, {"valid_examples", d.valid.size()}}.dump());
    double lastLoss = 0;
    bool stopped = false;
    double trainSeconds = 0; // optimiser steps only (for the store-cost report)
    while (d.step < d.total) {
        const double t0 = monotonicSeconds();
        const double lr = a.learningRate * lrMultiplier(a.lrSchedulerType, d.step, d.total, d.warmup);
        d.optimizer->setLearningRate(lr);
        std::vector<Batch> micro;
        int64_t supervised = 0, tokens = 0;
        for (int64_t m = 0; m < a.gradientAccumulationSteps; ++m) {
            std::vector<const TokenizedExample *> rows;
            for (int64_t i = 0; i < a.perDeviceTrainBatchSize; ++i) // this rank's slice of global micro-batch m
                rows.push_back(&d.example(d.cursor + (m * d.world() + d.rank()) * a.perDeviceTrainBatchSize + i));
            micro.push_back(collate(rows, pad, d.ctx.device));
            supervised += micro.back().supervised;
            tokens += micro.back().tokens;
        }
        d.cursor += a.perDeviceTrainBatchSize * a.gradientAccumulationSteps * d.world();
        if (d.dp) { // losses are weighted by the global supervised-token count
            supervised = d.dp->group().allreduceSum(supervised);
            tokens = d.dp->group().allreduceSum(tokens);
        }
        d.optimizer->zeroGrad();
        double loss = 0;
        for (auto &b : micro) {
            auto hidden = d.ctx.model->forward(b.inputIds, b.attentionMask); // [B, T, C]
            auto l = causalLmLoss(*d.ctx.model, hidden, b.labels) *
                     (static_cast<double>(d.world() * b.supervised) / static_cast<double>(std::max<int64_t>(1, supervised)));
            l.backward();
            loss += l.item<double>() / static_cast<double>(d.world());
        }
        if (d.dp) { // after the last micro-step only: average the gradients, sum the partial losses
            d.dp->syncGradients();
            loss = d.dp->group().allreduceSum(loss);
        }
        if (!std::isfinite(loss))
            core::throwRuntime("sft: non-finite loss (" + std::to_string(loss) + ") at step " + std::to_string(d.step + 1),
                               "lower learning_rate or check the data; the last good checkpoint is kept");
        const double gradNorm = d.dp ? d.dp->clipGradNorm(a.maxGradNorm) : clipTrainableGradNorm(d.ctx.trainable, a.maxGradNorm);
        if (!std::isfinite(gradNorm))
            core::throwRuntime("sft: non-finite gradient norm at step " + std::to_string(d.step + 1),
                               "lower learning_rate or check the data; the last good checkpoint is kept");
        d.optimizer->step();
        d.ctx.trainable.afterStep();
        ++d.step;
        lastLoss = loss;
        const double dt = monotonicSeconds() - t0;
        trainSeconds += dt;
        const double epoch = static_cast<double>(d.cursor) / static_cast<double>(n);
        metrics.add(kStage, d.step, "loss", loss);
        metrics.add(kStage, d.step, "lr", lr);
        metrics.add(kStage, d.step, "grad_norm", gradNorm);
        metrics.add(kStage, d.step, "tokens_per_s", dt > 0 ? static_cast<double>(tokens) / dt : 0);
        metrics.add(kStage, d.step, "samples_seen", static_cast<double>(d.cursor));
        metrics.add(kStage, d.step, "epoch", epoch);
        metrics.add(kStage, d.step, "rss_mb", residentMb());
        if (d.ctx.device.is_cuda()) {
            double peak = -1;
            const double now = cudaMemoryMb(d.ctx.device, &peak);
            if (now >= 0) {
                metrics.add(kStage, d.step, "cuda_mem_mb", now);
                metrics.add(kStage, d.step, "cuda_max_mem_mb", peak);
            }
        }

        bool earlyStop = false;
        bool improvedNow = false;
        double metricValue = 0;
        const bool last = d.step == d.total;
        if ((d.evalEvery > 0 && d.step % d.evalEvery == 0) || (last && d.evalEvery > 0)) {
            d.lastEvalLoss = evaluateLoss();
            metrics.add(kStage, d.step, "eval_loss", d.lastEvalLoss);
            metricValue = d.lastEvalLoss;
            if (d.evaluator) {
                metrics.flush();
                const auto report = evaluateRanking();
                for (const auto &[key, value] : report.metrics)
                    if (key.rfind("hr@", 0) == 0 || key.rfind("ndcg@", 0) == 0 || key.rfind("coverage@", 0) == 0 ||
                        key.rfind("level_acc@", 0) == 0)
                        metrics.add(kStage, d.step, "eval_" + key, value);
                if (bestKey != "eval_loss") {
                    auto it = report.metrics.find(bestKey);
                    if (it == report.metrics.end())
                        core::throwBadInput("metric_for_best_model: " + bestKey + " is not computed",
                                            "use eval_loss or hr@K / ndcg@K with K in eval.topk and K <= the beams");
                    metricValue = it->second;
                }
                core::EvalResult row;
                row.runId = d.ctx.runId;
                row.stage = kStage;
                row.split = "valid";
                row.step = d.step;
                row.metricsJson = report.metricsJson();
                d.ctx.store->addEvalResult(row);
            }
            const bool improved = std::isnan(d.best) || (lower ? metricValue < d.best : metricValue > d.best);
            if (improved) {
                d.best = metricValue;
                d.badEvals = 0;
                improvedNow = true;
            } else if (++d.badEvals >= d.ctx.config.sft.earlyStoppingPatience &&
                       d.ctx.config.sft.earlyStoppingPatience > 0) {
                earlyStop = true;
            }
        }
        if (d.ctx.hooks.onProgress)
            d.ctx.hooks.onProgress({kStage, d.step, d.total, loss, lr, epoch});
        bool stopNow = (d.ctx.hooks.stopRequested && d.ctx.hooks.stopRequested()) ||
                       d.ctx.store->stopRequested(d.ctx.runId);
        if (d.dp) // every rank stops at the same step
            stopNow = d.dp->group().anyRank(stopNow);
        if (improvedNow || (d.saveEvery > 0 && d.step % d.saveEvery == 0) || stopNow || earlyStop || last) {
            metrics.flush();
            result.lastCheckpoint = saveCheckpoint(d.lastEvalLoss >= 0 ? bestKey : "", metricValue, improvedNow);
        }
        if (earlyStop) {
            d.ctx.event(kStage, d.step, "log", "early stopping: no improvement of " + bestKey + " in " +
                                                   std::to_string(d.badEvals) + " evaluations");
            break;
        }
        if (stopNow) {
            stopped = true;
            break;
        }
    }
    metrics.flush();
    reportStoreCost(d.ctx, kStage, d.step, metrics.busySeconds(), trainSeconds);
    // load_best_model_at_end: the stage hands on its best evaluated weights.
    if (!stopped)
        d.checkpoints.loadBestAtEnd(d.step, bestKey, d.best);
    result.bestStep = d.checkpoints.bestStep();
    result.status = stopped ? "stopped" : "finished";
    result.steps = d.step;
    result.lastLoss = lastLoss;
    result.lastEvalLoss = d.lastEvalLoss;
    result.bestValue = d.best;
    return result;
}

void SftTrainer::cleanup()
{
    auto &d = *m_impl;
    const std::string dir = (fs::path(d.ctx.outputDir) / "sft" / "final_checkpoint").string();
    saveFinalModel(d.ctx, dir);
    d.ctx.event(kStage, d.step, "stage_end", "sft", nlohmann::json{{"final_checkpoint", dir}, {"step", d.step}}.dump());
}

std::string latestCheckpoint(core::RunStore &store, int64_t runId, const std::string &stage)
{
    std::string best;
    int64_t bestStep = -1;
    for (const auto &c : store.checkpoints(runId))
        if (c.stage == stage && c.step > bestStep && fs::exists(fs::path(c.path) / "trainer_state.json")) {
            best = c.path;
            bestStep = c.step;
        }
    return best;
}

} // namespace genrec::train
