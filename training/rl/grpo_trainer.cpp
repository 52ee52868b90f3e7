// GRPO: prompts, rollouts, rewards, the clipped policy loss with a KL to the reference, checkpoints.
#include "training/rl/grpo_trainer.h"

#include "core/common/error.h"
#include "core/store/metric_writer.h"
#include "training/decode/beam_search.h"
#include "training/engine/stage_common.h"
#include "training/runtime/allocator.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"
#include "training/rl/rewards.h"
#include "training/sft/prompts.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <limits>
#include <unordered_map>

namespace fs = std::filesystem;

namespace genrec::train {

namespace {

constexpr const char *kStage = "rl";
constexpr int kRolloutSamples = 4; ///< prompts shown in a "rollouts" event

/// Prompt + completion sequences, right-padded, with the positions that predict each
/// completion token.
struct SeqBatch
{
    torch::Tensor ids;      // [N, T] int64
    torch::Tensor mask;     // [N, T] int64
    torch::Tensor flat;     // [M] int64: b*T + t, the position whose output predicts a completion token
    torch::Tensor targets;  // [M] int64: that token
    torch::Tensor slot;     // [M] int64: b*L + j in the [N, L] completion grid
    torch::Tensor compMask; // [N, L] fp32: 1 on completion tokens
    int64_t n = 0, l = 0;
    int64_t tokens = 0;     // prompt + completion tokens
};

SeqBatch makeSeqBatch(const std::vector<const std::vector<int32_t> *> &prompts,
                      const std::vector<const std::vector<int32_t> *> &completions, int32_t pad, const torch::Device &dev)
{
    SeqBatch b;
    b.n = static_cast<int64_t>(prompts.size());
    int64_t t = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        t = std::max<int64_t>(t, static_cast<int64_t>(prompts[i]->size() + completions[i]->size()));
        b.l = std::max<int64_t>(b.l, static_cast<int64_t>(completions[i]->size()));
    }
    auto ids = torch::full({b.n, t}, static_cast<int64_t>(pad), torch::kLong);
    auto mask = torch::zeros({b.n, t}, torch::kLong);
    auto comp = torch::zeros({b.n, std::max<int64_t>(1, b.l)}, torch::kFloat);
    std::vector<int64_t> flat, targets, slot;
    auto ia = ids.accessor<int64_t, 2>();
    auto ma = mask.accessor<int64_t, 2>();
    auto ca = comp.accessor<float, 2>();
    for (int64_t i = 0; i < b.n; ++i) {
        const auto &p = *prompts[static_cast<size_t>(i)];
        const auto &c = *completions[static_cast<size_t>(i)];
        int64_t j = 0;
        for (int32_t v : p)
            ia[i][j] = v, ma[i][j++] = 1;
        for (size_t k = 0; k < c.size(); ++k) {
            flat.push_back(i * t + j - 1);
            targets.push_back(c[k]);
            slot.push_back(i * std::max<int64_t>(1, b.l) + static_cast<int64_t>(k));
            ca[i][static_cast<int64_t>(k)] = 1.0f;
            ia[i][j] = c[k], ma[i][j++] = 1;
        }
        b.tokens += j;
    }
    b.l = std::max<int64_t>(1, b.l);
    b.ids = ids.to(dev);
    b.mask = mask.to(dev);
    b.flat = torch::tensor(flat, torch::kLong).to(dev);
    b.targets = torch::tensor(targets, torch::kLong).to(dev);
    b.slot = torch::tensor(slot, torch::kLong).to(dev);
    b.compMask = comp.to(dev);
    return b;
}

/// Per-token full-vocabulary log-probs [N, L] fp32 (0 on padding), differentiable when grad is
/// enabled. With `entropySum`, adds the summed token entropy (nats, detached).
torch::Tensor completionLogProbs(Qwen2ForCausalLMImpl &model, const SeqBatch &b, double *entropySum = nullptr)
{
    auto hidden = model.forward(b.ids, b.mask);                           // [N, T, C]
    auto logits = model.logitsAt(hidden, b.flat).to(torch::kFloat);       // [M, V]
    auto lsm = torch::log_softmax(logits, -1);                            // [M, V]
    auto lp = lsm.gather(1, b.targets.view({-1, 1})).view({-1});          // [M]
    if (entropySum) {
        torch::NoGradGuard noGrad;
        *entropySum += (-(lsm.exp() * lsm).sum(-1)).sum().item<double>();
    }
    auto grid = torch::zeros({b.n * b.l}, lp.options());
    return grid.index_put({b.slot}, lp).view({b.n, b.l});
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

std::vector<RlPrompt> buildRlPrompts(const RunContext &ctx)
{
    const auto &cfg = ctx.config;
    const auto &ds = ctx.dataset;
    const std::string category = cfg.category.empty() ? ds.categoryPhrase() : cfg.category;
    const auto bySid = ds.itemsBySid();
    const auto maxPrompt = static_cast<size_t>(std::max<int64_t>(8, cfg.rl.maxPromptLength));
    // The run's wording (one for SFT, RL and eval); compat's answer-leaking prompts (B2) are never used.
    const PromptTemplate tmpl = parsePromptTemplate(cfg.promptTemplate) == PromptTemplate::Compact ? PromptTemplate::Compact
                                                                                                  : PromptTemplate::Fixed;
    std::vector<RlPrompt> all;
    auto truncate = [&](std::vector<int32_t> &ids) {
        if (ids.size() > maxPrompt)
            ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(maxPrompt));
    };
    for (const std::string &task : cfg.rl.tasks) {
        std::vector<RlPrompt> out;
        if (task == "sid_seq2sid") {
            std::vector<int64_t> order(ds.train.size());
            for (size_t i = 0; i < order.size(); ++i)
                order[i] = static_cast<int64_t>(i);
            if (cfg.maxSamples > 0 && static_cast<size_t>(cfg.maxSamples) < order.size()) {
                order = shuffleIndices(static_cast<int64_t>(ds.train.size()), static_cast<uint64_t>(cfg.seed));
                order.resize(static_cast<size_t>(cfg.maxSamples));
                std::sort(order.begin(), order.end());
            }
            for (int64_t i : order) {
                const core::Sample &s = ds.train[static_cast<size_t>(i)];
                const core::Item *target = ds.item(s.target);
                if (!target)
                    continue;
                RlPrompt p;
                p.task = task;
                p.userId = s.userId;
                p.history = s.history;
                p.targetItem = s.target;
                p.targetSid = target->sid;
                std::vector<std::string> sids;
                for (int64_t h : s.history)
                    if (const core::Item *it = ds.item(h))
                        sids.push_back(it->sid);
                p.ids = encodeNextSidPrompt(ctx.tokenizer, sids, tmpl);
                truncate(p.ids);
                out.push_back(std::move(p));
            }
        } else if (task == "title2sid" || task == "title_seq2sid") {
            const int64_t cap = task == "title_seq2sid"
                                    ? (cfg.maxSamples > 0 ? std::min(cfg.maxSamples, cfg.rl.seqTitleSample) : cfg.rl.seqTitleSample)
                                    : cfg.maxSamples;
            if (task == "title_seq2sid" && cap == 0)
                continue;
            for (auto &ex : buildSftExamples(ds, "train", {task}, tmpl, category,
                                             static_cast<uint64_t>(cfg.seed), cap)) {
                RlPrompt p;
                p.task = task;
                p.targetSid = ex.response.substr(0, ex.response.size() - 1); // drop "\n"
                const auto it = bySid.find(p.targetSid);
                if (it == bySid.end() || it->second.empty())
                    continue;
                p.targetItem = it->second.front();
                p.ids = ctx.tokenizer.encode(ex.preamble);
                const auto tail = ctx.tokenizer.encode(ex.user);
                p.ids.insert(p.ids.end(), tail.begin(), tail.end());
                truncate(p.ids);
                out.push_back(std::move(p));
            }
        } else {
            continue; // desc2sid: not built (see the header); the trainer warns
        }
        all.insert(all.end(), std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()));
    }
    return all;
}

// ---------------------------------------------------------------------------------------------
// Loss
// ---------------------------------------------------------------------------------------------

GrpoLossTerms grpoLoss(const torch::Tensor &logp, const torch::Tensor &oldLogp, const torch::Tensor &refLogp,
                       const torch::Tensor &advantages, const torch::Tensor &mask, const GrpoLossOptions &o)
{
    GrpoLossTerms r;
    const auto m = mask.to(torch::kFloat);                       // [N, L]
    const auto lengths = m.sum(1).clamp_min(1.0);                // [N]
    const auto adv = advantages.to(torch::kFloat).view({-1, 1}); // [N, 1]
    const double lo = 1.0 - o.epsilon, hi = 1.0 + o.epsilon;
    torch::Tensor kl; // [N, L]
    if (o.beta != 0.0 && refLogp.defined()) {
        const auto d = refLogp - logp;
        kl = torch::exp(d) - d - 1.0;
    }
    r.tokens = m.sum().item<double>();
    if (o.lossType == "gspo") {
        const auto logRatio = ((logp - oldLogp) * m).sum(1) / lengths; // [N]
        const auto s = torch::exp(logRatio).view({-1, 1});             // [N, 1]
        const auto obj = torch::min(s * adv, torch::clamp(s, lo, hi) * adv).view({-1}); // [N]
        auto perSeq = -obj;
        if (kl.defined())
            perSeq = perSeq + o.beta * (kl * m).sum(1) / lengths;
        r.loss = perSeq.sum() / o.stepSequences;
        torch::NoGradGuard noGrad;
        const auto sv = s.view({-1});
        const auto av = adv.view({-1});
        const auto clippedSeq = ((sv < lo) & (av < 0)) | ((sv > hi) & (av > 0));
        r.clipped = (clippedSeq.to(torch::kFloat) * lengths * (m.sum(1) > 0).to(torch::kFloat)).sum().item<double>();
    } else {
        const auto ratio = torch::exp(logp - oldLogp);                                  // [N, L]
        const auto obj = torch::min(ratio * adv, torch::clamp(ratio, lo, hi) * adv);    // [N, L]
        auto perTok = -obj;
        if (kl.defined())
            perTok = perTok + o.beta * kl;
        perTok = perTok * m;
        if (o.lossType == "dapo")
            r.loss = perTok.sum() / std::max(1.0, o.stepTokens);
        else if (o.lossType == "dr_grpo")
            r.loss = perTok.sum() / (o.stepSequences * std::max(1.0, o.maxCompletionTokens));
        else
            r.loss = (perTok.sum(1) / lengths).sum() / o.stepSequences;
        torch::NoGradGuard noGrad;
        const auto clippedTok = ((ratio < lo) & (adv < 0)) | ((ratio > hi) & (adv > 0));
        r.clipped = (clippedTok.to(torch::kFloat) * m).sum().item<double>();
    }
    if (kl.defined()) {
        torch::NoGradGuard noGrad;
        r.klSum = ((kl * m).sum(1) / lengths).sum().item<double>();
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------------------------

struct GrpoTrainer::Impl
{
    RunContext &ctx;
    std::vector<RlPrompt> prompts;
    core::SidTrie trie;
    std::unordered_map<int64_t, std::vector<int32_t>> itemPath; // add_gt: item id → its trie path
    std::unique_ptr<Optimizer> optimizer;
    std::unique_ptr<Evaluator> evaluator;
    std::vector<std::string> components; // reward component names
    int64_t step = 0, cursor = 0, total = 0, warmup = 0, evalEvery = 0, saveEvery = 0;
    int64_t perStep = 0;     // prompts per step
    int64_t maxCompletion = 1;
    std::string bestKey;
    double best = std::numeric_limits<double>::quiet_NaN();
    std::vector<int64_t> perm;
    int64_t permEpoch = -1;
    CheckpointKeeper checkpoints;
    // Reference model.
    enum class Ref { None, Copy, Snapshot } ref = Ref::None;
    Qwen2ForCausalLM refModel{nullptr};
    const ParamGroup *rowGroup = nullptr;  // Snapshot: the "new_rows" group
    std::vector<torch::Tensor> refRows;    // Snapshot: the reference's values of those rows
    bool refSynced = false;
    bool syncRef = false;

    explicit Impl(RunContext &c) : ctx(c), checkpoints(c, kStage) {}

    const core::RlConfig &rl() const { return ctx.config.rl; }
    const core::TrainArgs &args() const { return ctx.config.rl.train; }

    const RlPrompt &prompt(int64_t pos)
    {
        const auto n = static_cast<int64_t>(prompts.size());
        const int64_t epoch = pos / n;
        if (epoch != permEpoch) {
            perm = shuffleIndices(n, static_cast<uint64_t>(ctx.config.seed) + static_cast<uint64_t>(epoch));
            permEpoch = epoch;
        }
        return prompts[static_cast<size_t>(perm[static_cast<size_t>(pos % n)])];
    }

    /// Swaps the trained rows with the reference snapshot (call twice to restore).
    void swapRows()
    {
        torch::NoGradGuard noGrad;
        for (size_t i = 0; i < rowGroup->params.size(); ++i) {
            auto p = rowGroup->params[i];
            const auto &rows = rowGroup->rows[i];
            auto current = p.index_select(0, rows);
            p.index_copy_(0, rows, refRows[i]);
            refRows[i] = current;
        }
    }

    torch::Tensor refLogProbs(const SeqBatch &b)
    {
        torch::NoGradGuard noGrad;
        if (ref == Ref::Copy)
            return completionLogProbs(*refModel, b);
        if (ref != Ref::Snapshot)
            core::throwBadInput("rl: no reference model (beta is 0)", "set rl.beta > 0");
        const bool wasTraining = ctx.model->is_training();
        ctx.model->eval();
        const bool adapters = ctx.trainable.adaptersEnabled();
        ctx.trainable.setAdaptersEnabled(false);
        if (rowGroup)
            swapRows();
        torch::Tensor out;
        try {
            out = completionLogProbs(*ctx.model, b);
        } catch (...) {
            if (rowGroup)
                swapRows();
            ctx.trainable.setAdaptersEnabled(adapters);
            throw;
        }
        if (rowGroup)
            swapRows();
        ctx.trainable.setAdaptersEnabled(adapters);
        if (wasTraining)
            ctx.model->train();
        return out;
    }

    /// ref ← α·policy + (1 − α)·ref (TRL SyncRefModelCallback).
    void syncReference()
    {
        torch::NoGradGuard noGrad;
        const double a = rl().refModelMixupAlpha;
        if (ref == Ref::Copy) {
            const auto pol = ctx.model->stateDict();
            const auto rf = refModel->stateDict();
            for (size_t i = 0; i < rf.size(); ++i) {
                auto t = rf[i].second;
                t.mul_(1.0 - a).add_(pol[i].second.to(t.scalar_type()), a);
            }
        } else if (ref == Ref::Snapshot && rowGroup) {
            for (size_t i = 0; i < refRows.size(); ++i) {
                const auto cur = rowGroup->params[i].index_select(0, rowGroup->rows[i]);
                refRows[i].mul_(1.0 - a).add_(cur, a);
            }
        }
        refSynced = true;
    }

    void buildReference()
    {
        ref = Ref::None;
        if (rl().beta == 0.0)
            return;
        if (ctx.trainable.type == "full") {
            ref = Ref::Copy;
            refModel = makeQwen2(ctx.model->config());
            refModel->to(ctx.model->paramDtype());
            refModel->to(ctx.model->device());
            refModel->loadStateDict(ctx.model->stateDict(), true, "policy");
            refModel->setFusedKernels(ctx.model->fusedKernels());
            for (auto &p : refModel->parameters())
                p.set_requires_grad(false);
            refModel->eval();
        } else {
            ref = Ref::Snapshot;
            for (const auto &g : ctx.trainable.groups)
                if (g.name == "new_rows")
                    rowGroup = &g;
            if (rowGroup) {
                torch::NoGradGuard noGrad;
                for (size_t i = 0; i < rowGroup->params.size(); ++i)
                    refRows.push_back(rowGroup->params[i].index_select(0, rowGroup->rows[i]).clone());
            }
        }
        syncRef = rl().syncRefModel;
        if (syncRef && (ctx.trainable.type == "lora" || ctx.trainable.type == "qlora")) {
            syncRef = false;
            const std::string msg = "rl.sync_ref_model is ignored with " + ctx.trainable.type +
                                    ": the reference is the starting model with adapters disabled";
            ctx.event(kStage, step, "warning", msg);
            ctx.log("warning: " + msg);
        }
    }

    void saveReference(const fs::path &dir) const
    {
        if (!refSynced || ref == Ref::None)
            return;
        StateDict t;
        if (ref == Ref::Copy) {
            for (auto &[k, v] : refModel->stateDict())
                t[k] = v;
        } else {
            for (size_t i = 0; i < refRows.size(); ++i)
                t["rows." + std::to_string(i)] = refRows[i];
        }
        saveSafetensors((dir / "reference.safetensors").string(), t, DType::F32);
    }

    void loadReference(const fs::path &dir)
    {
        const fs::path file = dir / "reference.safetensors";
        if (!fs::exists(file) || ref == Ref::None)
            return;
        auto t = loadSafetensors(file.string());
        if (ref == Ref::Copy) {
            std::vector<std::pair<std::string, torch::Tensor>> named(t.begin(), t.end());
            refModel->loadStateDict(named, true, file.string());
        } else {
            torch::NoGradGuard noGrad;
            for (size_t i = 0; i < refRows.size(); ++i) {
                auto it = t.find("rows." + std::to_string(i));
                if (it == t.end() || it->second.sizes() != refRows[i].sizes())
                    core::throwBadInput(file.string() + ": reference rows do not match the model",
                                        "resume with the run's own configuration");
                refRows[i].copy_(it->second);
            }
        }
        refSynced = true;
    }
};

GrpoTrainer::GrpoTrainer(RunContext &ctx) : m_impl(std::make_unique<Impl>(ctx)) {}
GrpoTrainer::~GrpoTrainer() = default;

int64_t GrpoTrainer::totalSteps() const { return m_impl->total; }
int64_t GrpoTrainer::promptsPerStep() const { return m_impl->perStep; }
const std::vector<RlPrompt> &GrpoTrainer::prompts() const { return m_impl->prompts; }

void GrpoTrainer::setup(const std::string &resumeDir)
{
    auto &d = *m_impl;
    const auto &rl = d.rl();
    const auto &a = d.args();
    if (rl.dynamicSampling)
        core::throwBadInput("rl: dynamic_sampling is not offered by this build",
                            "set rl.dynamic_sampling: false (rl.add_gt puts the target into every group)");
    if (rl.numGenerations < 2)
        core::throwBadInput("rl.num_generations must be >= 2", "group-relative advantages need a group");
    if (d.ctx.model->dropout() > 0) {
        // Policy log-probs, old log-probs and the reference must come from the same network:
        // dropout would make KL and the ratio noise (KL > 0 at step 1). TRL's disable_dropout.
        d.ctx.event(kStage, 0, "log", "dropout " + std::to_string(d.ctx.model->dropout()) + " disabled for GRPO");
        d.ctx.model->setDropout(0.0);
    }
    if (a.perDeviceTrainBatchSize % rl.numGenerations != 0)
        core::throwBadInput("rl.per_device_train_batch_size must be a multiple of rl.num_generations",
                            "rows per micro-step = prompts x generations, e.g. 64 with 16 generations");
    if (rl.rewardType != "rule" && !rl.beamSearch)
        core::throwBadInput("rl.reward_type " + rl.rewardType + " needs beam-search rollouts (beam rank)",
                            "use reward_type: rule with sampling");
    d.components = rewardComponents(rl.rewardType);
    if (!rl.rewardWeights.empty() && rl.rewardWeights.size() != d.components.size())
        core::throwBadInput("rl.reward_weights: one weight per reward component expected",
                            "ranking = [rule, ranking]; leave [] for 1.0 each");
    for (const auto &t : rl.tasks)
        if (t == "desc2sid") {
            const std::string msg = "rl.tasks: desc2sid prompts are not built by this version: skipped";
            d.ctx.event(kStage, 0, "warning", msg);
            d.ctx.log("warning: " + msg);
        }
    d.prompts = buildRlPrompts(d.ctx);
    if (d.prompts.empty())
        core::throwBadInput("rl: no training prompts", "check dataset_dir and rl.tasks");
    if (rl.sampleTrain) { // MiniOneRec's sample_train: drop the first 20 % of a seeded shuffle
        const auto order = shuffleIndices(static_cast<int64_t>(d.prompts.size()), static_cast<uint64_t>(d.ctx.config.seed));
        std::vector<RlPrompt> kept;
        for (size_t i = d.prompts.size() / 5; i < order.size(); ++i)
            kept.push_back(d.prompts[static_cast<size_t>(order[i])]);
        d.prompts = std::move(kept);
    }
    d.trie = buildSidTrie(d.ctx.dataset, d.ctx.tokenizer);
    d.maxCompletion = std::min<int64_t>(rl.maxCompletionLength, d.trie.depth());
    if (rl.addGt)
        for (const auto &e : d.trie.enumeratePaths())
            for (int64_t item : e.items)
                d.itemPath.emplace(item, e.tokens);
    if (rl.maxCompletionLength < d.trie.depth())
        core::throwBadInput("rl.max_completion_length " + std::to_string(rl.maxCompletionLength) +
                                " is shorter than a SID completion (" + std::to_string(d.trie.depth()) + " tokens)",
                            "raise rl.max_completion_length");

    d.perStep = std::max<int64_t>(1, a.perDeviceTrainBatchSize * a.gradientAccumulationSteps / rl.numGenerations);
    const auto n = static_cast<int64_t>(d.prompts.size());
    const int64_t stepsPerEpoch = (n + d.perStep - 1) / d.perStep;
    d.total = a.maxSteps > 0 ? a.maxSteps
                             : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(a.numTrainEpochs * static_cast<double>(stepsPerEpoch))));
    d.warmup = a.warmupSteps > 0 ? a.warmupSteps : static_cast<int64_t>(std::ceil(a.warmupRatio * static_cast<double>(d.total)));
    d.evalEvery = resolveInterval(a.evalSteps, d.total);
    d.saveEvery = resolveInterval(a.saveSteps, d.total);
    d.bestKey = rl.metricForBestModel;

    // The reference is the model as the stage receives it (before a resumed checkpoint loads).
    d.buildReference();
    d.ctx.model->train();
    auto opts = OptimizerOptions::fromTrainArgs(a);
    opts.pagedDir = d.ctx.outputDir;
    d.optimizer = makeOptimizer(d.ctx.trainable.groups, opts);
    if (!d.ctx.dataset.valid.empty())
        d.evaluator = std::make_unique<Evaluator>(*d.ctx.model, d.ctx.tokenizer, d.ctx.dataset);

    if (!resumeDir.empty()) {
        const fs::path dir(resumeDir);
        loadTrainedWeights(d.ctx, dir.string());
        d.optimizer->load(dir.string());
        loadRngState(d.ctx, dir.string());
        d.loadReference(dir);
        const auto st = nlohmann::json::parse(readStateFile((dir / "trainer_state.json").string()));
        d.step = st.at("step").get<int64_t>();
        d.cursor = st.at("cursor").get<int64_t>();
        d.best = st.at("best").is_null() ? std::numeric_limits<double>::quiet_NaN() : st.at("best").get<double>();
        d.checkpoints.restore(st);
        d.ctx.event(kStage, d.step, "log", "resumed from " + dir.string());
    }
}

EvalReport GrpoTrainer::evaluateRanking()
{
    auto &d = *m_impl;
    if (!d.evaluator)
        core::throwBadInput("rl: ranking evaluation needs a valid split", "check the dataset's valid/ folder");
    auto opts = evalOptionsFromConfig(d.ctx.config.eval);
    opts.split = "valid";
    opts.maxSamples = d.rl().evalMaxSamples;
    opts.numExamples = 0;
    opts.promptTemplate = parsePromptTemplate(d.ctx.config.promptTemplate);
    return d.evaluator->evaluate(opts);
}

std::vector<std::vector<double>> GrpoTrainer::policyLogProbs(const std::vector<std::vector<int32_t>> &prompts,
                                                             const std::vector<std::vector<int32_t>> &completions)
{
    auto &d = *m_impl;
    torch::NoGradGuard noGrad;
    const bool wasTraining = d.ctx.model->is_training();
    d.ctx.model->eval();
    std::vector<const std::vector<int32_t> *> p, c;
    for (size_t i = 0; i < prompts.size(); ++i)
        p.push_back(&prompts[i]), c.push_back(&completions[i]);
    const auto b = makeSeqBatch(p, c, d.ctx.tokenizer.padTokenId(), d.ctx.model->device());
    const auto lp = completionLogProbs(*d.ctx.model, b).to(torch::kCPU).to(torch::kDouble);
    if (wasTraining)
        d.ctx.model->train();
    std::vector<std::vector<double>> out(prompts.size());
    for (size_t i = 0; i < completions.size(); ++i)
        for (size_t j = 0; j < completions[i].size(); ++j)
            out[i].push_back(lp[static_cast<int64_t>(i)][static_cast<int64_t>(j)].item<double>());
    return out;
}

std::vector<std::vector<double>> GrpoTrainer::referenceLogProbs(const std::vector<std::vector<int32_t>> &prompts,
                                                                const std::vector<std::vector<int32_t>> &completions)
{
    auto &d = *m_impl;
    std::vector<const std::vector<int32_t> *> p, c;
    for (size_t i = 0; i < prompts.size(); ++i)
        p.push_back(&prompts[i]), c.push_back(&completions[i]);
    const auto b = makeSeqBatch(p, c, d.ctx.tokenizer.padTokenId(), d.ctx.model->device());
    const auto lp = d.refLogProbs(b).to(torch::kCPU).to(torch::kDouble);
    std::vector<std::vector<double>> out(prompts.size());
    for (size_t i = 0; i < completions.size(); ++i)
        for (size_t j = 0; j < completions[i].size(); ++j)
            out[i].push_back(lp[static_cast<int64_t>(i)][static_cast<int64_t>(j)].item<double>());
    return out;
}

std::string GrpoTrainer::saveCheckpoint(const std::string &metric, double value, bool isBest)
{
    auto &d = *m_impl;
    nlohmann::json st = {{"cursor", d.cursor},
                         {"total_steps", d.total},
                         {"best", std::isnan(d.best) ? nlohmann::json(nullptr) : nlohmann::json(d.best)}};
    return d.checkpoints.save(d.step, *d.optimizer, std::move(st),
                              [&d](const std::string &dir) { d.saveReference(dir); }, metric, value, isBest,
                              d.args().saveTotalLimit);
}

StageResult GrpoTrainer::train()
{
    auto &d = *m_impl;
    const auto &a = d.args();
    const auto &rl = d.rl();
    auto &model = *d.ctx.model;
    const auto dev = model.device();
    const int32_t pad = d.ctx.tokenizer.padTokenId();
    const int g = static_cast<int>(rl.numGenerations);
    const bool scaleByStd = rl.lossType != "dr_grpo";
    core::MetricWriter metrics(*d.ctx.store, d.ctx.runId);
    StageResult result;
    result.bestMetric = "eval_" + d.bestKey;
    const auto n = static_cast<int64_t>(d.prompts.size());
    d.ctx.event(kStage, d.step, "stage_start", "rl",
                nlohmann::json{{"total_steps", d.total}, {"prompts", n}, {"prompts_per_step", d.perStep},
                               {"num_generations", g}, {"reward_type", rl.rewardType}, {"loss_type", rl.lossType},
                               {"beta", rl.beta}, {"beam_search", rl.beamSearch}}.dump());
    double lastLoss = 0;
    bool stopped = false;
    const bool firstStepOfStage = d.step == 0;
    double trainSeconds = 0; // optimiser steps only (for the store-cost report)
    while (d.step < d.total) {
        const double t0 = monotonicSeconds();
        const double lr = a.learningRate * lrMultiplier(a.lrSchedulerType, d.step, d.total, d.warmup);
        d.optimizer->setLearningRate(lr);

        // 1. Rollouts (eval mode, no grad).
        std::vector<const RlPrompt *> batch;
        std::vector<std::vector<int32_t>> promptIds;
        for (int64_t i = 0; i < d.perStep; ++i) {
            batch.push_back(&d.prompt(d.cursor++));
            promptIds.push_back(batch.back()->ids);
        }
        std::vector<std::vector<Hypothesis>> groups;
        model.eval();
        std::optional<KeepFreedPages> keepPages(std::in_place); // decoding: reuse freed pages
        if (rl.beamSearch) {
            BeamSearchOptions bo;
            bo.numBeams = g;
            bo.numReturn = g;
            bo.padTokenId = pad;
            groups = constrainedBeamSearch(model, d.trie, promptIds, bo);
        } else {
            SampleOptions so;
            so.numSamples = g;
            so.temperature = rl.temperature;
            so.topK = static_cast<int>(rl.topK);
            so.padTokenId = pad;
            so.seed = static_cast<uint64_t>(d.ctx.config.seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(d.step);
            groups = constrainedSample(model, d.trie, promptIds, so);
        }
        keepPages.reset();
        model.train();

        // add_gt: a group without its target gets the target as its last completion (its trie
        // path, as a rollout would produce it). MiniOneRec replaces the last completion even when
        // the target is already in the group, duplicating it; groups of its batch are also sized
        // by the number of distinct targets (B11). Here each prompt's own group is checked.
        std::vector<char> injected(batch.size(), 0);
        if (rl.addGt) {
            for (size_t p = 0; p < batch.size(); ++p) {
                auto &grp = groups[p];
                const bool present = std::any_of(grp.begin(), grp.end(), [&](const Hypothesis &h) {
                    const core::Item *it = h.items.empty() ? nullptr : d.ctx.dataset.item(h.items.front());
                    return it && it->sid == batch[p]->targetSid;
                });
                const auto path = d.itemPath.find(batch[p]->targetItem);
                if (present || grp.empty() || path == d.itemPath.end())
                    continue;
                Hypothesis gt;
                gt.tokens = path->second;
                gt.items = {batch[p]->targetItem};
                grp.back() = std::move(gt);
                injected[p] = 1;
            }
        }

        // 2. Rewards and advantages.
        struct RowRef
        {
            size_t prompt;
            const std::vector<int32_t> *completion;
            double advantage;
        };
        std::vector<RowRef> rows;
        std::vector<std::vector<double>> compValues(d.components.size());
        std::vector<double> totals, groupStds, advantagesAll;
        std::vector<GroupRewards> groupRewards(batch.size());
        std::vector<std::vector<double>> groupAdv(batch.size());
        std::vector<std::vector<std::string>> groupSids(batch.size());
        int64_t zeroStd = 0, hit1 = 0, hitAny = 0, completionTokens = 0;
        for (size_t p = 0; p < batch.size(); ++p) {
            auto &sids = groupSids[p];
            for (const auto &h : groups[p]) {
                const core::Item *it = h.items.empty() ? nullptr : d.ctx.dataset.item(h.items.front());
                sids.push_back(it ? it->sid : std::string());
            }
            groupRewards[p] = computeGroupRewards(rl.rewardType, rl.rewardWeights, sids, batch[p]->targetSid);
            groupAdv[p] = groupAdvantages(groupRewards[p].total, scaleByStd);
            const auto [mean, sd] = groupMeanStd(groupRewards[p].total);
            (void)mean;
            groupStds.push_back(sd);
            zeroStd += std::all_of(groupRewards[p].total.begin(), groupRewards[p].total.end(),
                                   [&](double r) { return r == groupRewards[p].total.front(); });
            hit1 += !sids.empty() && sids.front() == batch[p]->targetSid;
            hitAny += !injected[p] && std::find(sids.begin(), sids.end(), batch[p]->targetSid) != sids.end();
            for (size_t f = 0; f < d.components.size(); ++f)
                compValues[f].insert(compValues[f].end(), groupRewards[p].components[f].begin(),
                                     groupRewards[p].components[f].end());
            totals.insert(totals.end(), groupRewards[p].total.begin(), groupRewards[p].total.end());
            for (size_t i = 0; i < groups[p].size(); ++i) {
                rows.push_back({p, &groups[p][i].tokens, groupAdv[p][i]});
                completionTokens += static_cast<int64_t>(groups[p][i].tokens.size());
            }
        }

        // 3. Micro-batches, reference and old log-probs, then num_iterations updates.
        const auto rowsPerMicro = static_cast<size_t>(std::max<int64_t>(1, a.perDeviceTrainBatchSize));
        struct Micro
        {
            SeqBatch seq;
            torch::Tensor adv, ref, old;
        };
        std::vector<Micro> micro;
        for (size_t i = 0; i < rows.size(); i += rowsPerMicro) {
            std::vector<const std::vector<int32_t> *> ps, cs;
            std::vector<float> adv;
            for (size_t j = i; j < std::min(rows.size(), i + rowsPerMicro); ++j) {
                ps.push_back(&promptIds[rows[j].prompt]);
                cs.push_back(rows[j].completion);
                adv.push_back(static_cast<float>(rows[j].advantage));
            }
            Micro m;
            m.seq = makeSeqBatch(ps, cs, pad, dev);
            m.adv = torch::tensor(adv, torch::kFloat).to(dev);
            if (d.ref != Impl::Ref::None)
                m.ref = d.refLogProbs(m.seq);
            if (rl.numIterations > 1) {
                torch::NoGradGuard noGrad;
                m.old = completionLogProbs(model, m.seq);
            }
            micro.push_back(std::move(m));
        }
        GrpoLossOptions lo;
        lo.lossType = rl.lossType;
        lo.beta = rl.beta;
        lo.epsilon = rl.epsilon;
        lo.stepSequences = static_cast<double>(std::max<size_t>(1, rows.size()));
        lo.stepTokens = static_cast<double>(std::max<int64_t>(1, completionTokens));
        lo.maxCompletionTokens = static_cast<double>(d.maxCompletion);
        double loss = 0, klSum = 0, clipped = 0, clipTokens = 0, entropySum = 0, gradNorm = 0;
        int64_t passTokens = 0;
        const int64_t iterations = std::max<int64_t>(1, rl.numIterations);
        for (int64_t it = 0; it < iterations; ++it) {
            d.optimizer->zeroGrad();
            double iterLoss = 0;
            for (auto &m : micro) {
                auto logp = completionLogProbs(model, m.seq, it == 0 ? &entropySum : nullptr);
                const auto old = m.old.defined() ? m.old : logp.detach();
                auto terms = grpoLoss(logp, old, m.ref, m.adv, m.seq.compMask, lo);
                terms.loss.backward();
                iterLoss += terms.loss.item<double>();
                if (it == 0)
                    klSum += terms.klSum;
                clipped += terms.clipped;
                clipTokens += terms.tokens;
                passTokens += m.seq.tokens;
            }
            if (!std::isfinite(iterLoss))
                core::throwRuntime("rl: non-finite loss (" + std::to_string(iterLoss) + ") at step " + std::to_string(d.step + 1),
                                   "lower learning_rate or beta; the last good checkpoint is kept");
            gradNorm = clipTrainableGradNorm(d.ctx.trainable, a.maxGradNorm);
            if (!std::isfinite(gradNorm))
                core::throwRuntime("rl: non-finite gradient norm at step " + std::to_string(d.step + 1),
                                   "lower learning_rate or beta; the last good checkpoint is kept");
            d.optimizer->step();
            d.ctx.trainable.afterStep();
            loss += iterLoss / static_cast<double>(iterations);
        }
        ++d.step;
        lastLoss = loss;
        if (d.syncRef && d.step % std::max<int64_t>(1, rl.refModelSyncSteps) == 0) {
            d.syncReference();
            d.ctx.event(kStage, d.step, "log", "reference model synced (alpha " + std::to_string(rl.refModelMixupAlpha) + ")");
        }
        const double dt = monotonicSeconds() - t0;
        trainSeconds += dt;

        // Metrics.
        const auto [rewardMean, rewardStd] = groupMeanStd(totals);
        (void)rewardStd;
        double meanGroupStd = 0;
        for (double s : groupStds)
            meanGroupStd += s;
        meanGroupStd /= static_cast<double>(std::max<size_t>(1, groupStds.size()));
        const double numRows = static_cast<double>(std::max<size_t>(1, rows.size()));
        const double numPrompts = static_cast<double>(batch.size());
        const double epoch = static_cast<double>(d.cursor) / static_cast<double>(n);
        metrics.add(kStage, d.step, "loss", loss);
        metrics.add(kStage, d.step, "reward", rewardMean);
        metrics.add(kStage, d.step, "reward_std", meanGroupStd);
        for (size_t f = 0; f < d.components.size(); ++f) {
            const auto [m, s] = groupMeanStd(compValues[f]);
            metrics.add(kStage, d.step, "rewards/" + d.components[f] + "/mean", m);
            metrics.add(kStage, d.step, "rewards/" + d.components[f] + "/std", s);
        }
        metrics.add(kStage, d.step, "frac_reward_zero_std", static_cast<double>(zeroStd) / numPrompts);
        if (d.ref != Impl::Ref::None)
            metrics.add(kStage, d.step, "kl", klSum / numRows);
        metrics.add(kStage, d.step, "clip_ratio", clipTokens > 0 ? clipped / clipTokens : 0.0);
        metrics.add(kStage, d.step, "entropy", completionTokens > 0 ? entropySum / static_cast<double>(completionTokens) : 0.0);
        metrics.add(kStage, d.step, "completions/mean_length", static_cast<double>(completionTokens) / numRows);
        metrics.add(kStage, d.step, "lr", lr);
        metrics.add(kStage, d.step, "grad_norm", gradNorm);
        metrics.add(kStage, d.step, "rollout_hr@1", static_cast<double>(hit1) / numPrompts);
        metrics.add(kStage, d.step, "rollout_hr@" + std::to_string(g), static_cast<double>(hitAny) / numPrompts);
        metrics.add(kStage, d.step, "tokens_per_s", dt > 0 ? static_cast<double>(passTokens) / dt : 0);
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

        const bool last = d.step == d.total;
        const bool evalNow = d.evaluator && d.evalEvery > 0 && (d.step % d.evalEvery == 0 || last);
        if (evalNow || (firstStepOfStage && d.step == 1)) {
            nlohmann::json samples = nlohmann::json::array();
            for (size_t p = 0; p < std::min<size_t>(batch.size(), kRolloutSamples); ++p) {
                const RlPrompt &pr = *batch[p];
                nlohmann::json hist = nlohmann::json::array();
                for (int64_t h : pr.history)
                    if (const core::Item *it = d.ctx.dataset.item(h))
                        hist.push_back(it->title);
                nlohmann::json comps = nlohmann::json::array();
                for (size_t i = 0; i < groups[p].size(); ++i) {
                    nlohmann::json rw = nlohmann::json::object();
                    for (size_t f = 0; f < d.components.size(); ++f)
                        rw[d.components[f]] = groupRewards[p].components[f][i];
                    comps.push_back({{"sid", groupSids[p][i]},
                                     {"title", d.ctx.dataset.titlesOf(groups[p][i].items)},
                                     {"rewards", rw},
                                     {"reward", groupRewards[p].total[i]},
                                     {"advantage", groupAdv[p][i]},
                                     {"ground_truth_added", injected[p] && i + 1 == groups[p].size()}});
                }
                const core::Item *target = d.ctx.dataset.item(pr.targetItem);
                samples.push_back({{"task", pr.task},
                                   {"user_id", pr.userId},
                                   {"history_titles", hist},
                                   {"target_sid", pr.targetSid},
                                   {"target_title", target ? target->title : std::string()},
                                   {"completions", comps}});
            }
            d.ctx.event(kStage, d.step, "rollouts", std::to_string(samples.size()) + " sample rollouts",
                        nlohmann::json{{"step", d.step}, {"samples", samples}}.dump());
        }
        bool improvedNow = false;
        double metricValue = 0;
        if (evalNow) {
            metrics.flush();
            const auto report = evaluateRanking();
            for (const auto &[key, value] : report.metrics)
                if (key.rfind("hr@", 0) == 0 || key.rfind("ndcg@", 0) == 0 || key.rfind("coverage@", 0) == 0 ||
                    key.rfind("level_acc@", 0) == 0)
                    metrics.add(kStage, d.step, "eval_" + key, value);
            auto it = report.metrics.find(d.bestKey);
            if (it == report.metrics.end())
                core::throwBadInput("rl.metric_for_best_model: " + d.bestKey + " is not computed",
                                    "use hr@K / ndcg@K with K in eval.topk and K <= eval.num_beams");
            metricValue = it->second;
            core::EvalResult row;
            row.runId = d.ctx.runId;
            row.stage = kStage;
            row.split = "valid";
            row.step = d.step;
            row.metricsJson = report.metricsJson();
            d.ctx.store->addEvalResult(row);
            if (std::isnan(d.best) || metricValue > d.best) {
                d.best = metricValue;
                improvedNow = true;
            }
        }
        if (d.ctx.hooks.onProgress)
            d.ctx.hooks.onProgress({kStage, d.step, d.total, loss, lr, epoch});
        const bool stopNow = (d.ctx.hooks.stopRequested && d.ctx.hooks.stopRequested()) ||
                             d.ctx.store->stopRequested(d.ctx.runId);
        if (improvedNow || (d.saveEvery > 0 && d.step % d.saveEvery == 0) || stopNow || last) {
            metrics.flush();
            result.lastCheckpoint = saveCheckpoint(evalNow ? "eval_" + d.bestKey : "", metricValue, improvedNow);
        }
        if (stopNow) {
            stopped = true;
            break;
        }
    }
    metrics.flush();
    reportStoreCost(d.ctx, kStage, d.step, metrics.busySeconds(), trainSeconds);
    if (!stopped) // load_best_model_at_end, as SFT does
        d.checkpoints.loadBestAtEnd(d.step, d.bestKey, d.best);
    result.bestStep = d.checkpoints.bestStep();
    result.status = stopped ? "stopped" : "finished";
    result.steps = d.step;
    result.lastLoss = lastLoss;
    result.bestValue = d.best;
    return result;
}

void GrpoTrainer::cleanup()
{
    auto &d = *m_impl;
    const std::string dir = (fs::path(d.ctx.outputDir) / "rl" / "final_checkpoint").string();
    saveFinalModel(d.ctx, dir);
    d.ctx.event(kStage, d.step, "stage_end", "rl", nlohmann::json{{"final_checkpoint", dir}, {"step", d.step}}.dump());
}

} // namespace genrec::train
