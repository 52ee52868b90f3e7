#include "core/config/run_config_validate.h"

#include "core/config/run_config_schema.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

namespace genrec::core {

namespace {

std::string joinChoices(const std::vector<std::string> &c)
{
    std::string out;
    for (const auto &s : c)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

std::string fmt(double v)
{
    return formatFieldValue(FieldValue(v));
}

void checkField(const FieldSpec &f, const RunConfig &c, std::vector<ConfigProblem> &out)
{
    const FieldValue v = f.get(c);
    auto checkNumber = [&](double x) {
        if (!std::isfinite(x)) {
            out.push_back({f.key, "must be a finite number", f.help, "", 0});
            return;
        }
        if (f.min && x < *f.min)
            out.push_back({f.key, "must be >= " + fmt(*f.min) + ", got " + fmt(x),
                           f.help, "", 0});
        else if (f.max && x > *f.max)
            out.push_back({f.key, "must be <= " + fmt(*f.max) + ", got " + fmt(x),
                           f.help, "", 0});
    };
    if (const auto *d = std::get_if<double>(&v))
        checkNumber(*d);
    if (const auto *i = std::get_if<int64_t>(&v))
        checkNumber(static_cast<double>(*i));
    if (f.choices.empty())
        return;
    if (const auto *s = std::get_if<std::string>(&v)) {
        if (std::find(f.choices.begin(), f.choices.end(), *s) == f.choices.end())
            out.push_back({f.key, "'" + *s + "' is not one of: " + joinChoices(f.choices), f.help, "", 0});
    }
    if (const auto *list = std::get_if<std::vector<std::string>>(&v)) {
        std::set<std::string> seen;
        for (const auto &s : *list) {
            if (std::find(f.choices.begin(), f.choices.end(), s) == f.choices.end())
                out.push_back({f.key, "'" + s + "' is not one of: " + joinChoices(f.choices), f.help, "", 0});
            else if (!seen.insert(s).second)
                out.push_back({f.key, "'" + s + "' is listed twice", "list each value once", "", 0});
        }
    }
}

void checkTrainArgs(const std::string &stage, const TrainArgs &t, std::vector<ConfigProblem> &out)
{
    if (t.maxSteps <= 0 && t.numTrainEpochs <= 0)
        out.push_back({stage + ".num_train_epochs", "is 0 and max_steps is not set: the stage would not train",
                       "set num_train_epochs > 0 or max_steps > 0", "", 0});
    if (t.adamBeta1 >= 1.0 || t.adamBeta2 >= 1.0)
        out.push_back({stage + ".adam_beta2", "AdamW betas must be < 1", "use 0.9 / 0.999", "", 0});
}

} // namespace

const std::vector<std::string> &modelPresetNames()
{
    static const std::vector<std::string> names = {"tiny", "mini", "small", "base", "0.5b"};
    return names;
}

std::vector<ConfigProblem> validateRunConfig(const RunConfig &c)
{
    std::vector<ConfigProblem> out;
    for (const FieldSpec &f : runConfigSchema())
        checkField(f, c, out);

    // Stages: a non-empty subsequence of sft, rl, eval.
    if (!c.adapterNameOrPath.empty() && c.finetuningType != "lora" && c.finetuningType != "qlora")
        out.push_back({"adapter_name_or_path", "an adapter needs finetuning_type lora or qlora",
                       "set finetuning_type: lora, or clear adapter_name_or_path", "", 0});
    if (c.stages.empty()) {
        out.push_back({"stages", "no stage to run", "e.g. stages: [sft, rl, eval]", "", 0});
    } else {
        const std::vector<std::string> order = {"sft", "rl", "eval"};
        int last = -1;
        for (const auto &s : c.stages) {
            const int pos = static_cast<int>(std::find(order.begin(), order.end(), s) - order.begin());
            if (pos < static_cast<int>(order.size()) && pos <= last)
                out.push_back({"stages", "stages must run in the order sft, rl, eval",
                               "e.g. stages: [sft, rl, eval]", "", 0});
            last = std::max(last, pos);
        }
    }

    // Model.
    const std::string &m = c.modelNameOrPath;
    if (m.empty()) {
        out.push_back({"model_name_or_path", "is empty",
                       "give a Hugging Face model folder or preset:" + joinChoices(modelPresetNames()), "", 0});
    } else if (m.rfind("preset:", 0) == 0) {
        const std::string name = m.substr(7);
        const auto &p = modelPresetNames();
        if (std::find(p.begin(), p.end(), name) == p.end())
            out.push_back({"model_name_or_path", "unknown preset '" + name + "'",
                           "known presets: " + joinChoices(p), "", 0});
        if (c.trainFromScratch)
            out.push_back({"train_from_scratch", "presets always start from scratch",
                           "leave train_from_scratch: false with a preset", "", 0});
    }

    // Fine-tuning.
    const bool lora = c.finetuningType == "lora" || c.finetuningType == "qlora";
    if (lora && c.loraTarget.empty())
        out.push_back({"lora_target", "LoRA needs at least one target projection",
                       "e.g. lora_target: [q_proj, v_proj]", "", 0});
    if (c.finetuningType == "qlora" && c.quantizationBit != 4 && c.quantizationBit != 8)
        out.push_back({"quantization_bit", "must be 4 or 8, got " + std::to_string(c.quantizationBit),
                       "4 = NF4 (smallest), 8 = int8 (most accurate)", "", 0});
    if (c.quantizationBlockSize > 0 && (c.quantizationBlockSize & (c.quantizationBlockSize - 1)) != 0)
        out.push_back({"quantization_block_size", "must be a power of two", "e.g. 64", "", 0});
    if (c.zeroStage == 1)
        out.push_back({"zero_stage", "stage 1 is not offered", "use 0 (replicated) or 2 (sharded)", "", 0});

    // Devices.
    if (c.device == "cpu" && !c.gpuIds.empty())
        out.push_back({"gpu_ids", "GPUs listed but device is cpu", "set device: cuda, or gpu_ids: []", "", 0});
    for (int64_t id : c.gpuIds)
        if (id < 0)
            out.push_back({"gpu_ids", "GPU ids are >= 0", "see `genrec devices`", "", 0});
    {
        std::set<int64_t> ids(c.gpuIds.begin(), c.gpuIds.end());
        if (ids.size() != c.gpuIds.size())
            out.push_back({"gpu_ids", "a GPU is listed twice", "list each device once", "", 0});
    }

    // Stages.
    checkTrainArgs("sft", c.sft.train, out);
    checkTrainArgs("rl", c.rl.train, out);
    static const std::regex kMetric(R"(eval_loss|(ndcg|hr)@([0-9]+))");
    std::smatch mm;
    if (!std::regex_match(c.sft.metricForBestModel, mm, kMetric)) {
        out.push_back({"sft.metric_for_best_model", "'" + c.sft.metricForBestModel + "' is not a metric",
                       "use eval_loss, ndcg@K or hr@K (K in eval.topk)", "", 0});
    } else if (mm[2].matched && !c.sft.evalRanking) {
        out.push_back({"sft.metric_for_best_model", "ranking metric chosen but sft.eval_ranking is off",
                       "set sft.eval_ranking: true or use eval_loss", "", 0});
    }
    const size_t components = c.rl.rewardType == "ranking" ? 2 : 1;
    if (!c.rl.rewardWeights.empty() && c.rl.rewardWeights.size() != components)
        out.push_back({"rl.reward_weights",
                       "reward_type " + c.rl.rewardType + " has " + std::to_string(components) +
                           " component(s), got " + std::to_string(c.rl.rewardWeights.size()) + " weights",
                       "ranking = [rule, ndcg]; leave [] for 1.0 each", "", 0});
    if (c.rl.beamSearch && c.rl.dynamicSampling)
        out.push_back({"rl.dynamic_sampling", "needs sampling rollouts", "set rl.beam_search: false", "", 0});
    if (c.rl.rewardType != "rule" && !c.rl.beamSearch)
        out.push_back({"rl.reward_type", "the ranking reward uses beam rank, which sampling does not have",
                       "use reward_type: rule with sampling, or beam_search: true", "", 0});
    if (c.rl.train.perDeviceTrainBatchSize % std::max<int64_t>(1, c.rl.numGenerations) != 0)
        out.push_back({"rl.per_device_train_batch_size", "must be a multiple of rl.num_generations (rows = prompts x generations)",
                       "e.g. 64 with num_generations 16", "", 0});
    static const std::regex kRlMetric(R"((ndcg|hr)@([0-9]+))");
    if (!std::regex_match(c.rl.metricForBestModel, mm, kRlMetric))
        out.push_back({"rl.metric_for_best_model", "'" + c.rl.metricForBestModel + "' is not a ranking metric",
                       "use ndcg@K or hr@K (K in eval.topk)", "", 0});
    else if (std::find(c.stages.begin(), c.stages.end(), "rl") != c.stages.end() &&
             (mm[2].length() > 9 || std::find(c.eval.topk.begin(), c.eval.topk.end(), std::stoll(mm[2].str())) == c.eval.topk.end()))
        out.push_back({"rl.metric_for_best_model", "K=" + mm[2].str() + " is not in eval.topk",
                       "add it to eval.topk or pick another K", "", 0});
    if (c.rl.maxCompletionLength < 2)
        out.push_back({"rl.max_completion_length", "too short for a SID completion", "use >= 8", "", 0});

    // Eval.
    if (c.eval.topk.empty())
        out.push_back({"eval.topk", "no cut-off K given", "e.g. [1, 3, 5, 10]", "", 0});
    for (int64_t k : c.eval.topk) {
        if (k < 1)
            out.push_back({"eval.topk", "K must be >= 1", "e.g. [1, 3, 5, 10]", "", 0});
        else if (k > c.eval.numBeams)
            out.push_back({"eval.topk", "K=" + std::to_string(k) + " exceeds eval.num_beams=" +
                                            std::to_string(c.eval.numBeams),
                           "raise eval.num_beams or drop that K", "", 0});
    }
    return out;
}

} // namespace genrec::core
