#pragma once
/// @file run_config.h
/// RunConfig: the one schema of a GenRec run, shared by the CLI, the engine and the studio's forms.
/// Key names follow HF TrainingArguments / LLaMA-Factory / TRL GRPOConfig where the concept matches.
/// Defaults reproduce MiniOneRec's published scripts (sft.sh, rl.sh, evaluate.sh); see
/// docs in README "Configuration". YAML I/O lives in run_config_yaml.h, checks in
/// run_config_validate.h, and the field table (types, help, choices) in run_config_schema.h.

#include <cstdint>
#include <string>
#include <vector>

namespace genrec::core {

/// Optimisation settings a training stage has (the same keys under `sft:` and `rl:`).
struct TrainArgs
{
    double learningRate = 3e-4;
    double numTrainEpochs = 10;
    int64_t maxSteps = -1;                 ///< > 0 overrides num_train_epochs
    int64_t perDeviceTrainBatchSize = 16;  ///< sequences per device per micro-step
    int64_t perDeviceEvalBatchSize = 32;
    int64_t gradientAccumulationSteps = 8;
    std::string optim = "adamw_torch";     ///< adamw_torch | adamw_8bit | paged_adamw_32bit
    std::string lrSchedulerType = "linear"; ///< linear | cosine | constant
    double warmupRatio = 0.0;
    int64_t warmupSteps = 20;              ///< > 0 wins over warmup_ratio
    double maxGradNorm = 1.0;
    double weightDecay = 0.0;
    double adamBeta1 = 0.9;
    double adamBeta2 = 0.999;
    double adamEpsilon = 1e-8;
    int64_t loggingSteps = 1;
    double evalSteps = 0.05;               ///< < 1: fraction of total steps; >= 1: every N steps
    double saveSteps = 0.05;               ///< same convention as eval_steps
    int64_t saveTotalLimit = 1;            ///< checkpoints kept (the best one is always kept)
};

/// The supervised fine-tuning stage (MiniOneRec sft.py).
struct SftConfig
{
    TrainArgs train;
    /// MiniOneRec's SFT task mix (spec §4.2): sid_seq2sid, title2sid, sid2title, sid_seq2title,
    /// title_seq2title, title_seq2sid.
    std::vector<std::string> tasks = {"sid_seq2sid", "title2sid", "sid2title",
                                      "sid_seq2title", "title_seq2title", "title_seq2sid"};
    int64_t earlyStoppingPatience = 3;     ///< evaluations without improvement; 0 = off
    std::string metricForBestModel = "eval_loss"; ///< eval_loss | ndcg@K | hr@K
    bool evalRanking = true;               ///< beam-search HR/NDCG on valid at each evaluation
    int64_t evalMaxSamples = 500;          ///< valid rows used for that (-1 = all)
    bool groupByLength = false;
};

/// The GRPO stage (MiniOneRec rl.py / ReReTrainer).
struct RlConfig
{
    TrainArgs train;
    std::vector<std::string> tasks = {"sid_seq2sid", "title2sid", "desc2sid", "title_seq2sid"};
    int64_t numGenerations = 16;           ///< G: completions per prompt (group size)
    bool beamSearch = true;                ///< rollouts by constrained beam search, else sampling
    double temperature = 1.0;
    int64_t topK = 0;                      ///< sampling: top-k inside the trie (0 = off)
    bool dynamicSampling = false;
    bool addGt = false;
    std::string rewardType = "ranking";    ///< rule | ranking | ranking_only
    std::vector<double> rewardWeights;     ///< one per reward function; empty = 1.0 each
    double beta = 1e-3;                    ///< KL coefficient (k3 estimator)
    std::string lossType = "grpo";         ///< grpo | dr_grpo | dapo | gspo
    double epsilon = 0.2;                  ///< PPO clip range (used when num_iterations > 1)
    int64_t numIterations = 1;             ///< policy updates per rollout batch
    bool syncRefModel = true;
    double refModelMixupAlpha = 0.6;
    int64_t refModelSyncSteps = 512;
    int64_t maxPromptLength = 512;
    int64_t maxCompletionLength = 128;
    bool sampleTrain = false;
    int64_t seqTitleSample = 10000;
    bool testDuringTraining = false;
    int64_t testBeam = 20;
    int64_t evalMaxSamples = 500;
    std::string metricForBestModel = "ndcg@10"; ///< ndcg@K | hr@K of the periodic valid evaluation
};

/// Offline evaluation (MiniOneRec evaluate.py + calc.py).
struct EvalConfig
{
    std::string split = "test";            ///< valid | test
    int64_t numBeams = 50;
    std::vector<int64_t> topk = {1, 3, 5, 10, 20, 50};
    int64_t perDeviceEvalBatchSize = 8;
    double lengthPenalty = 0.0;
    int64_t maxSamples = -1;               ///< -1 = every row of the split
};

/// A whole run: model, data, devices, and the stages to run.
struct RunConfig
{
    // run
    std::string runName = "";
    std::vector<std::string> stages = {"sft", "rl", "eval"};
    std::string outputDir = "";            ///< "" = <store dir>/artifacts/<run id>
    std::string store = "";                ///< "" = $XDG_DATA_HOME/genrec/runs.db
    int64_t seed = 42;
    // model
    std::string modelNameOrPath = "preset:small"; ///< HF folder or preset:tiny|mini|small|base|0.5b
    std::string adapterNameOrPath = "";    ///< LoRA adapter loaded onto the base (lora/qlora)
    bool trainFromScratch = false;         ///< random init from the folder's config.json
    std::string finetuningType = "full";   ///< full | lora | freeze | qlora
    int64_t loraRank = 8;
    double loraAlpha = 16;
    double loraDropout = 0.05;
    std::vector<std::string> loraTarget = {"q_proj", "k_proj", "v_proj", "o_proj",
                                           "gate_proj", "up_proj", "down_proj"};
    bool useRslora = false;
    int64_t quantizationBit = 4;           ///< qlora: 4 (NF4) | 8 (int8)
    int64_t quantizationBlockSize = 64;
    bool bf16 = false;
    bool gradientCheckpointing = false;
    std::string mlpRecompute = "auto";     ///< auto (on for lora/qlora/freeze) | on | off
    double dropout = 0.0;                  ///< residual + embedding dropout while training (presets)
    // data
    std::string datasetDir = "";           ///< MiniOneRec layout (train/ valid/ test/ index/ info/) or flat
    std::string dataset = "";              ///< e.g. Office_Products
    std::string category = "";             ///< prompt phrase; "" = derived from the dataset name
    std::string promptTemplate = "fixed";  ///< fixed | compat (MiniOneRec's wording, bugs B2/B3 fixed in fixed) | compact
    int64_t cutoffLen = 512;
    int64_t maxSamples = -1;               ///< subsample every task to N rows (-1 = all)
    // devices
    std::string device = "cpu";            ///< cpu | cuda
    std::vector<int64_t> gpuIds;
    int64_t numThreads = 0;                ///< CPU threads (0 = all cores)
    int64_t zeroStage = 0;                 ///< 0 | 2
    int64_t nprocPerNode = 0;              ///< worker processes on this node (0 = one per gpu_ids entry on cuda, else 1)
    int64_t nnodes = 1;                    ///< nodes of a multi-node run
    int64_t nodeRank = 0;                  ///< this node's index (0 hosts the rendezvous)
    std::string masterAddr = "127.0.0.1";  ///< rendezvous host (c10d TCPStore on node 0)
    int64_t masterPort = 0;                ///< rendezvous port (0 = a free port, single node only)
    // stages
    SftConfig sft;
    RlConfig rl;
    EvalConfig eval;

    RunConfig();
};

/// Whether training recomputes each layer's norm + MLP in backward (mlp_recompute; `auto` = on
/// when the base projections are frozen: lora, qlora, freeze). Off under gradient_checkpointing,
/// which recomputes whole layers.
bool mlpRecomputeActive(const RunConfig &config);

} // namespace genrec::core
