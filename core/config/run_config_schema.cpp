#include "core/config/run_config_schema.h"

#include <cmath>
#include <sstream>
#include <type_traits>

namespace genrec::core {

RunConfig::RunConfig()
{
    // rl.sh / rl.py defaults differ from SFT's (spec §6.8, §11.2).
    rl.train.learningRate = 1e-5;
    rl.train.numTrainEpochs = 2;
    rl.train.perDeviceTrainBatchSize = 64;
    rl.train.perDeviceEvalBatchSize = 128;
    rl.train.gradientAccumulationSteps = 2;
    rl.train.optim = "paged_adamw_32bit";
    rl.train.lrSchedulerType = "cosine";
    rl.train.warmupRatio = 0.03;
    rl.train.warmupSteps = 0;
    rl.train.maxGradNorm = 0.3;
    rl.train.evalSteps = 0.0999;
    rl.train.saveSteps = 0.1;
    rl.train.saveTotalLimit = 20;
}

bool mlpRecomputeActive(const RunConfig &config)
{
    if (config.gradientCheckpointing || config.mlpRecompute == "off")
        return false;
    return config.mlpRecompute == "on" || config.finetuningType != "full";
}

namespace {

template <class T>
constexpr FieldType fieldTypeOf()
{
    if constexpr (std::is_same_v<T, bool>)
        return FieldType::Bool;
    else if constexpr (std::is_same_v<T, int64_t>)
        return FieldType::Int;
    else if constexpr (std::is_same_v<T, double>)
        return FieldType::Float;
    else if constexpr (std::is_same_v<T, std::string>)
        return FieldType::String;
    else if constexpr (std::is_same_v<T, std::vector<std::string>>)
        return FieldType::StringList;
    else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
        return FieldType::IntList;
    else
        return FieldType::FloatList;
}

/// Fluent wrapper used only to write the table below.
struct Field
{
    FieldSpec spec;
    Field &choices(std::vector<std::string> c)
    {
        spec.choices = std::move(c);
        return *this;
    }
    Field &range(std::optional<double> lo, std::optional<double> hi = std::nullopt)
    {
        spec.min = lo;
        spec.max = hi;
        return *this;
    }
    Field &path()
    {
        spec.isPath = true;
        return *this;
    }
};

template <class Obj, class Ref>
Field makeField(std::string key, std::string group, std::string help, Ref ref)
{
    using T = std::remove_cvref_t<decltype(ref(std::declval<Obj &>()))>;
    Field f;
    f.spec.key = std::move(key);
    f.spec.type = fieldTypeOf<T>();
    f.spec.group = std::move(group);
    f.spec.help = std::move(help);
    f.spec.get = [ref](const RunConfig &c) {
        return FieldValue(ref(const_cast<Obj &>(static_cast<const Obj &>(c))));
    };
    f.spec.set = [ref](RunConfig &c, const FieldValue &v) { ref(static_cast<Obj &>(c)) = std::get<T>(v); };
    return f;
}

#define GR_FIELD(key, group, member, help) \
    makeField<RunConfig>(key, group, help, [](RunConfig &c) -> auto & { return c.member; })

const std::vector<std::string> kSftTasks = {"sid_seq2sid",   "title2sid",       "sid2title",
                                            "sid_seq2title", "title_seq2title", "title_seq2sid"};
const std::vector<std::string> kRlTasks = {"sid_seq2sid", "title2sid", "desc2sid", "title_seq2sid"};
const std::vector<std::string> kOptims = {"adamw_torch", "adamw_8bit", "paged_adamw_32bit"};
const std::vector<std::string> kSchedulers = {"linear", "cosine", "constant"};

/// The keys every training stage has, under `<stage>.`.
void addTrainArgs(std::vector<FieldSpec> &out, const std::string &stage, const std::string &group,
                  TrainArgs &(*args)(RunConfig &))
{
    auto f = [&](const char *name, const char *help, auto member) {
        Field fld = makeField<RunConfig>(stage + "." + name, group, help,
                                         [args, member](RunConfig &c) -> auto & {
                                             return args(c).*member;
                                         });
        return fld;
    };
    out.push_back(f("learning_rate", "Peak learning rate of AdamW.", &TrainArgs::learningRate)
                      .range(0.0, 1.0)
                      .spec);
    out.push_back(f("num_train_epochs", "Passes over the stage's training data (max_steps wins if > 0).",
                    &TrainArgs::numTrainEpochs)
                      .range(0.0)
                      .spec);
    out.push_back(f("max_steps", "Optimizer steps to run; -1 = derive from num_train_epochs.",
                    &TrainArgs::maxSteps)
                      .range(-1.0)
                      .spec);
    out.push_back(f("per_device_train_batch_size",
                    "Sequences per device per micro-step; memory grows linearly with it.",
                    &TrainArgs::perDeviceTrainBatchSize)
                      .range(1.0)
                      .spec);
    out.push_back(f("per_device_eval_batch_size", "Sequences per device per evaluation batch.",
                    &TrainArgs::perDeviceEvalBatchSize)
                      .range(1.0)
                      .spec);
    out.push_back(f("gradient_accumulation_steps",
                    "Micro-steps per optimizer step: a larger effective batch at no extra memory.",
                    &TrainArgs::gradientAccumulationSteps)
                      .range(1.0)
                      .spec);
    out.push_back(f("optim",
                    "adamw_torch (fp32 states, 8 B/param) | adamw_8bit (blockwise 8-bit states, 2 B/param)"
                    " | paged_adamw_32bit (fp32 states in a file-backed/host buffer).",
                    &TrainArgs::optim)
                      .choices(kOptims)
                      .spec);
    out.push_back(f("lr_scheduler_type", "Decay after warmup: linear to 0, cosine to 0, or constant.",
                    &TrainArgs::lrSchedulerType)
                      .choices(kSchedulers)
                      .spec);
    out.push_back(f("warmup_ratio", "Linear warmup as a fraction of total steps (if warmup_steps is 0).",
                    &TrainArgs::warmupRatio)
                      .range(0.0, 1.0)
                      .spec);
    out.push_back(f("warmup_steps", "Linear warmup steps; > 0 overrides warmup_ratio.",
                    &TrainArgs::warmupSteps)
                      .range(0.0)
                      .spec);
    out.push_back(f("max_grad_norm", "Clip the global gradient norm to this (0 = no clipping).",
                    &TrainArgs::maxGradNorm)
                      .range(0.0)
                      .spec);
    out.push_back(f("weight_decay", "Decoupled AdamW weight decay (not applied to norms and biases).",
                    &TrainArgs::weightDecay)
                      .range(0.0, 1.0)
                      .spec);
    out.push_back(f("adam_beta1", "AdamW beta1.", &TrainArgs::adamBeta1).range(0.0, 1.0).spec);
    out.push_back(f("adam_beta2", "AdamW beta2.", &TrainArgs::adamBeta2).range(0.0, 1.0).spec);
    out.push_back(f("adam_epsilon", "AdamW epsilon.", &TrainArgs::adamEpsilon).range(0.0, 1.0).spec);
    out.push_back(f("logging_steps", "Write metrics every N optimizer steps.", &TrainArgs::loggingSteps)
                      .range(1.0)
                      .spec);
    out.push_back(f("eval_steps", "Evaluate every N steps (>= 1) or every fraction of total steps (< 1).",
                    &TrainArgs::evalSteps)
                      .range(0.0)
                      .spec);
    out.push_back(f("save_steps", "Checkpoint every N steps (>= 1) or every fraction of total steps (< 1).",
                    &TrainArgs::saveSteps)
                      .range(0.0)
                      .spec);
    out.push_back(f("save_total_limit", "Checkpoints kept on disk (the best one is always kept).",
                    &TrainArgs::saveTotalLimit)
                      .range(1.0)
                      .spec);
}

std::vector<FieldSpec> buildSchema()
{
    std::vector<FieldSpec> s;
    // Run
    s.push_back(GR_FIELD("run_name", "Run", runName, "Display name of the run; \"\" = derived from model and dataset.").spec);
    s.push_back(GR_FIELD("stages", "Run", stages, "Stages to run in order: sft, rl, eval (RL starts from SFT's best checkpoint).")
                    .choices({"sft", "rl", "eval"})
                    .spec);
    s.push_back(GR_FIELD("output_dir", "Run", outputDir, "Checkpoints and exported models; \"\" = next to the store, per run.").path().spec);
    s.push_back(GR_FIELD("store", "Run", store, "Run store (SQLite); \"\" = $XDG_DATA_HOME/genrec/runs.db.").path().spec);
    s.push_back(GR_FIELD("seed", "Run", seed, "Seed for initialisation, data shuffling and sampling.").range(0.0).spec);
    // Model
    s.push_back(GR_FIELD("model_name_or_path", "Model", modelNameOrPath,
                         "Hugging Face model folder (Qwen2/Qwen2.5/Qwen3/Llama) or preset:tiny|mini|small|base|0.5b.")
                    .path()
                    .spec);
    s.push_back(GR_FIELD("adapter_name_or_path", "Model", adapterNameOrPath,
                         "LoRA adapter folder (PEFT layout, e.g. an earlier run's sft/final_checkpoint) loaded onto the "
                         "base before the first stage; needs finetuning_type lora or qlora.")
                    .path()
                    .spec);
    s.push_back(GR_FIELD("train_from_scratch", "Model", trainFromScratch,
                         "Random init from the folder's config.json instead of its weights (the paper's Scratch ablation).")
                    .spec);
    // Fine-tuning
    s.push_back(GR_FIELD("finetuning_type", "Fine-tuning", finetuningType,
                         "full: every weight trains | lora: low-rank adapters + SID rows | freeze: only the new SID rows | "
                         "qlora: quantised frozen base + LoRA.")
                    .choices({"full", "lora", "freeze", "qlora"})
                    .spec);
    s.push_back(GR_FIELD("lora_rank", "Fine-tuning", loraRank, "LoRA rank r: adapter size and capacity grow with it.").range(1.0, 4096.0).spec);
    s.push_back(GR_FIELD("lora_alpha", "Fine-tuning", loraAlpha, "LoRA scaling numerator: update scale = alpha / r (alpha / sqrt(r) with rsLoRA).").range(0.0).spec);
    s.push_back(GR_FIELD("lora_dropout", "Fine-tuning", loraDropout, "Dropout on the LoRA input.").range(0.0, 1.0).spec);
    s.push_back(GR_FIELD("lora_target", "Fine-tuning", loraTarget, "Projections that get adapters.")
                    .choices({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
                    .spec);
    s.push_back(GR_FIELD("use_rslora", "Fine-tuning", useRslora, "Rank-stabilised LoRA scaling alpha / sqrt(r).").spec);
    s.push_back(GR_FIELD("quantization_bit", "Fine-tuning", quantizationBit, "QLoRA base weights: 4 (NF4, blockwise scales) or 8 (int8).").range(4.0, 8.0).spec);
    s.push_back(GR_FIELD("quantization_block_size", "Fine-tuning", quantizationBlockSize, "Weights per quantisation scale (QLoRA).").range(16.0, 4096.0).spec);
    s.push_back(GR_FIELD("bf16", "Fine-tuning", bf16,
                         "bf16 weights: halves weight memory; real bf16 compute on CUDA, bf16 storage + fp32 compute on CPU.")
                    .spec);
    s.push_back(GR_FIELD("dropout", "Fine-tuning", dropout,
                         "Dropout on embeddings and on each attention / MLP output while training; regularises small "
                         "models trained from scratch (HF checkpoints use 0).")
                    .range(0.0, 0.9)
                    .spec);
    s.push_back(GR_FIELD("gradient_checkpointing", "Fine-tuning", gradientCheckpointing,
                         "Recompute each decoder layer in backward: far less activation memory, ~30 % more compute.")
                    .spec);
    s.push_back(GR_FIELD("mlp_recompute", "Fine-tuning", mlpRecompute,
                         "Recompute each layer's MLP in backward instead of keeping its activations (the largest part when "
                         "projections are frozen). auto: on for lora, qlora and freeze.")
                    .choices({"auto", "on", "off"})
                    .spec);
    // Data
    s.push_back(GR_FIELD("dataset_dir", "Data", datasetDir,
                         "Dataset folder: MiniOneRec layout (train/ valid/ test/ index/ info/) or one flat folder.")
                    .path()
                    .spec);
    s.push_back(GR_FIELD("dataset", "Data", dataset, "Dataset name, e.g. Office_Products (file name prefix).").spec);
    s.push_back(GR_FIELD("category", "Data", category, "Item category phrase used in prompts; \"\" = from the dataset name.").spec);
    s.push_back(GR_FIELD("prompt_template", "Data", promptTemplate,
                         "fixed: one wording for SFT, RL and eval, no answer leaks | compat: MiniOneRec's exact prompts | "
                         "compact: no envelope, 3-4x fewer tokens (for presets trained from scratch).")
                    .choices({"fixed", "compat", "compact"})
                    .spec);
    s.push_back(GR_FIELD("cutoff_len", "Data", cutoffLen, "Maximum tokens per sample; longer prompts are truncated on the left.").range(8.0, 131072.0).spec);
    s.push_back(GR_FIELD("max_samples", "Data", maxSamples, "Use at most N rows of each task (-1 = all).").range(-1.0).spec);
    // Devices
    s.push_back(GR_FIELD("device", "Devices", device, "cpu or cuda.").choices({"cpu", "cuda"}).spec);
    s.push_back(GR_FIELD("gpu_ids", "Devices", gpuIds, "CUDA devices to train on (one worker process each); [] = device 0.").spec);
    s.push_back(GR_FIELD("num_threads", "Devices", numThreads, "CPU threads for LibTorch (0 = all cores).").range(0.0, 1024.0).spec);
    s.push_back(GR_FIELD("zero_stage", "Devices", zeroStage,
                         "0: replicate optimizer state on every rank | 2: shard gradients and optimizer state across ranks.")
                    .range(0.0, 2.0)
                    .spec);
    s.push_back(GR_FIELD("nproc_per_node", "Devices", nprocPerNode, "Data-parallel worker processes on this node (0 = one per gpu_ids entry on cuda, else 1).").range(0.0, 1024.0).spec);
    s.push_back(GR_FIELD("nnodes", "Devices", nnodes, "Nodes taking part in the run (each runs genrec train with its node_rank).").range(1.0, 4096.0).spec);
    s.push_back(GR_FIELD("node_rank", "Devices", nodeRank, "Index of this node, 0 .. nnodes-1 (node 0 hosts the rendezvous).").range(0.0, 4095.0).spec);
    s.push_back(GR_FIELD("master_addr", "Devices", masterAddr, "Rendezvous host of a distributed run (c10d TCPStore on node 0).").spec);
    s.push_back(GR_FIELD("master_port", "Devices", masterPort, "Rendezvous TCP port (0 = pick a free one; multi-node runs must set it).").range(0.0, 65535.0).spec);
    // SFT
    s.push_back(GR_FIELD("sft.tasks", "SFT", sft.tasks, "MiniOneRec SFT task mix (next SID, item alignment, title tasks).")
                    .choices(kSftTasks)
                    .spec);
    addTrainArgs(s, "sft", "SFT", [](RunConfig &c) -> TrainArgs & { return c.sft.train; });
    s.push_back(GR_FIELD("sft.early_stopping_patience", "SFT", sft.earlyStoppingPatience,
                         "Stop after N evaluations without improvement of metric_for_best_model (0 = never).")
                    .range(0.0)
                    .spec);
    s.push_back(GR_FIELD("sft.metric_for_best_model", "SFT", sft.metricForBestModel,
                         "Selects the best checkpoint: eval_loss (lower is better) or ndcg@K / hr@K (higher).")
                    .spec);
    s.push_back(GR_FIELD("sft.eval_ranking", "SFT", sft.evalRanking,
                         "Also run constrained beam search on valid at each evaluation (HR/NDCG curves).")
                    .spec);
    s.push_back(GR_FIELD("sft.eval_max_samples", "SFT", sft.evalMaxSamples, "Valid rows used per evaluation (-1 = all).").range(-1.0).spec);
    s.push_back(GR_FIELD("sft.group_by_length", "SFT", sft.groupByLength, "Batch samples of similar length together (less padding).").spec);
    // RL
    s.push_back(GR_FIELD("rl.tasks", "RL", rl.tasks, "Prompt sources for GRPO (spec §6.2).").choices(kRlTasks).spec);
    addTrainArgs(s, "rl", "RL", [](RunConfig &c) -> TrainArgs & { return c.rl.train; });
    s.push_back(GR_FIELD("rl.num_generations", "RL", rl.numGenerations, "Completions per prompt (group size G); cost grows linearly.").range(2.0, 1024.0).spec);
    s.push_back(GR_FIELD("rl.beam_search", "RL", rl.beamSearch, "Rollouts by constrained beam search (distinct items) instead of sampling.").spec);
    s.push_back(GR_FIELD("rl.temperature", "RL", rl.temperature, "Sampling temperature (no effect with beam search).").range(0.0, 100.0).spec);
    s.push_back(GR_FIELD("rl.top_k", "RL", rl.topK, "Sampling: keep the k most likely allowed tokens (0 = all).").range(0.0).spec);
    s.push_back(GR_FIELD("rl.dynamic_sampling", "RL", rl.dynamicSampling, "Sample 1.5 G completions and keep a diverse G (sampling mode).").spec);
    s.push_back(GR_FIELD("rl.add_gt", "RL", rl.addGt, "Put the ground truth into every group: a group whose rollouts miss the target gets it as its last completion "
                         "(a learning signal where every rollout would earn the same reward).").spec);
    s.push_back(GR_FIELD("rl.reward_type", "RL", rl.rewardType,
                         "rule: hit = 1 | ranking: rule + NDCG-shaped penalty on ranked misses | ranking_only: the penalty alone.")
                    .choices({"rule", "ranking", "ranking_only"})
                    .spec);
    s.push_back(GR_FIELD("rl.reward_weights", "RL", rl.rewardWeights, "Weights of the reward components; [] = 1.0 each.").spec);
    s.push_back(GR_FIELD("rl.beta", "RL", rl.beta, "KL coefficient towards the reference model (k3 estimator).").range(0.0, 10.0).spec);
    s.push_back(GR_FIELD("rl.loss_type", "RL", rl.lossType,
                         "grpo: per-sequence mean | dr_grpo: constant normaliser | dapo: token mean | gspo: sequence ratio.")
                    .choices({"grpo", "dr_grpo", "dapo", "gspo"})
                    .spec);
    s.push_back(GR_FIELD("rl.epsilon", "RL", rl.epsilon, "PPO clip range for the policy ratio (matters when num_iterations > 1).").range(0.0, 10.0).spec);
    s.push_back(GR_FIELD("rl.num_iterations", "RL", rl.numIterations, "Policy updates per rollout batch.").range(1.0, 64.0).spec);
    s.push_back(GR_FIELD("rl.sync_ref_model", "RL", rl.syncRefModel, "Periodically move the reference model towards the policy.").spec);
    s.push_back(GR_FIELD("rl.ref_model_mixup_alpha", "RL", rl.refModelMixupAlpha, "ref <- alpha * policy + (1 - alpha) * ref at each sync.").range(0.0, 1.0).spec);
    s.push_back(GR_FIELD("rl.ref_model_sync_steps", "RL", rl.refModelSyncSteps, "Optimizer steps between reference syncs.").range(1.0).spec);
    s.push_back(GR_FIELD("rl.max_prompt_length", "RL", rl.maxPromptLength, "Prompts are truncated on the left to this many tokens.").range(8.0).spec);
    s.push_back(GR_FIELD("rl.max_completion_length", "RL", rl.maxCompletionLength, "Generation cap (a SID completion needs 5-6 tokens).").range(1.0).spec);
    s.push_back(GR_FIELD("rl.sample_train", "RL", rl.sampleTrain, "Drop the first 20 % of shuffled prompts (MiniOneRec's sample_train).").spec);
    s.push_back(GR_FIELD("rl.seq_title_sample", "RL", rl.seqTitleSample, "Rows of title-sequence prompts.").range(0.0).spec);
    s.push_back(GR_FIELD("rl.test_during_training", "RL", rl.testDuringTraining, "Log in-batch HR/NDCG from a separate beam search (its own trie state).").spec);
    s.push_back(GR_FIELD("rl.test_beam", "RL", rl.testBeam, "Beams for that in-batch evaluation.").range(1.0).spec);
    s.push_back(GR_FIELD("rl.eval_max_samples", "RL", rl.evalMaxSamples, "Valid rows used per RL evaluation (-1 = all).").range(-1.0).spec);
    s.push_back(GR_FIELD("rl.metric_for_best_model", "RL", rl.metricForBestModel, "Selects the best RL checkpoint (loaded at the end): ndcg@K or hr@K on valid, K in eval.topk.").spec);
    // Eval
    s.push_back(GR_FIELD("eval.split", "Eval", eval.split, "Split evaluated by the eval stage.").choices({"valid", "test"}).spec);
    s.push_back(GR_FIELD("eval.num_beams", "Eval", eval.numBeams, "Beams of the constrained beam search = length of each ranked list.").range(1.0, 4096.0).spec);
    s.push_back(GR_FIELD("eval.topk", "Eval", eval.topk, "Cut-offs K reported for HR@K and NDCG@K.").spec);
    s.push_back(GR_FIELD("eval.per_device_eval_batch_size", "Eval", eval.perDeviceEvalBatchSize, "Prompts decoded together.").range(1.0).spec);
    s.push_back(GR_FIELD("eval.length_penalty", "Eval", eval.lengthPenalty, "Beam score / length^penalty (0 = plain log-prob).").range(-10.0, 10.0).spec);
    s.push_back(GR_FIELD("eval.max_samples", "Eval", eval.maxSamples, "Evaluate at most N rows (-1 = all).").range(-1.0).spec);
    return s;
}

#undef GR_FIELD

std::string formatDouble(double v)
{
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
        std::ostringstream o;
        o << static_cast<long long>(v) << ".0";
        return o.str();
    }
    std::ostringstream o;
    o.precision(17);
    o << v;
    // Shortest representation that round-trips.
    for (int p = 1; p <= 17; ++p) {
        std::ostringstream t;
        t.precision(p);
        t << v;
        if (std::stod(t.str()) == v)
            return t.str();
    }
    return o.str();
}

std::string quoteIfNeeded(const std::string &s)
{
    bool plain = !s.empty();
    for (char ch : s) {
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '/' ||
              ch == '.' || ch == '@'))
            plain = false;
    }
    static const char *kReserved[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
    for (const char *r : kReserved)
        if (s == r)
            plain = false;
    if (plain && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.'))
        plain = false;
    if (plain)
        return s;
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\')
            out += '\\';
        out += ch;
    }
    return out + "\"";
}

} // namespace

const std::vector<FieldSpec> &runConfigSchema()
{
    static const std::vector<FieldSpec> schema = buildSchema();
    return schema;
}

const FieldSpec *findField(const std::string &key)
{
    for (const FieldSpec &f : runConfigSchema())
        if (f.key == key)
            return &f;
    return nullptr;
}

std::string formatFieldValue(const FieldValue &value)
{
    return std::visit(
        [](const auto &v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, int64_t>) {
                return std::to_string(v);
            } else if constexpr (std::is_same_v<T, double>) {
                return formatDouble(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                return v.empty() ? "\"\"" : quoteIfNeeded(v);
            } else {
                std::string out = "[";
                for (size_t i = 0; i < v.size(); ++i) {
                    if (i)
                        out += ", ";
                    if constexpr (std::is_same_v<T, std::vector<std::string>>)
                        out += quoteIfNeeded(v[i]);
                    else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
                        out += std::to_string(v[i]);
                    else
                        out += formatDouble(v[i]);
                }
                return out + "]";
            }
        },
        value);
}

std::vector<std::string> diffConfigs(const RunConfig &a, const RunConfig &b)
{
    std::vector<std::string> keys;
    for (const FieldSpec &f : runConfigSchema())
        if (f.get(a) != f.get(b))
            keys.push_back(f.key);
    return keys;
}

} // namespace genrec::core
