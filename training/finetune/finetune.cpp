#include "training/finetune/finetune.h"

#include "core/common/error.h"
#include "core/config/run_config.h"
#include "training/finetune/quant.h"
#include "training/io/hf_folder_torch.h"
#include "training/model/qwen2.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

namespace genrec::train {

namespace {

bool endsWith(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lastComponent(const std::string &name)
{
    const auto dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

/// LoRA on a Projection, optionally over a quantised base weight.
class LoraAdapter : public ProjectionAdapter
{
public:
    torch::Tensor A;        ///< [r, in] fp32
    torch::Tensor B;        ///< [out, r] fp32
    double scale = 1.0;
    double dropout = 0.0;
    bool enabled = true;
    bool hasQuant = false;
    QuantizedTensor base;   ///< when hasQuant

    torch::Tensor forward(ProjectionImpl &proj, const torch::Tensor &x) override
    {
        const auto dtype = x.scalar_type();
        const auto w = hasQuant ? dequantize(base, dtype) : proj.weight.to(dtype); // [out, in]
        auto y = torch::linear(x, w, proj.bias.defined() ? proj.bias.to(dtype) : torch::Tensor());
        if (!enabled)
            return y;
        const auto xd = (proj.is_training() && dropout > 0) ? torch::dropout(x, dropout, true) : x;
        const auto low = torch::linear(xd, A.to(dtype));                // [..., r]
        return y + torch::linear(low, B.to(dtype)) * scale;            // [..., out]
    }

    std::vector<torch::Tensor> parameters() const override { return {A, B}; }
};

struct LoraEntry
{
    std::string module; ///< e.g. model.layers.0.self_attn.q_proj
    std::shared_ptr<ProjectionImpl> proj;
    std::shared_ptr<LoraAdapter> adapter;
};

} // namespace

struct TrainableSet::State
{
    FinetuneOptions opts;
    std::vector<LoraEntry> lora;
    bool enabled = true;
    int64_t quantBytes = 0;
    int64_t replaced = 0;
    torch::Tensor embed;  ///< embedding weight when new rows train
    torch::Tensor head;   ///< untied lm_head weight when new rows train
    torch::Tensor rows;   ///< int64 [R]
};

FinetuneOptions FinetuneOptions::fromRunConfig(const core::RunConfig &c)
{
    FinetuneOptions o;
    o.type = c.finetuningType;
    o.loraRank = c.loraRank;
    o.loraAlpha = c.loraAlpha;
    o.loraDropout = c.loraDropout;
    o.loraTarget = c.loraTarget;
    o.useRslora = c.useRslora;
    o.quantizationBit = c.quantizationBit;
    o.quantizationBlockSize = c.quantizationBlockSize;
    o.baseModelNameOrPath = c.modelNameOrPath;
    return o;
}

std::vector<torch::Tensor> TrainableSet::parameters() const
{
    std::vector<torch::Tensor> out;
    for (const auto &g : groups)
        out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
}

void TrainableSet::afterStep() {}

int64_t TrainableSet::quantizedBytes() const { return state ? state->quantBytes : 0; }
int64_t TrainableSet::replacedBytes() const { return state ? state->replaced : 0; }

void TrainableSet::setAdaptersEnabled(bool enabled)
{
    if (!state)
        return;
    state->enabled = enabled;
    for (auto &e : state->lora)
        e.adapter->enabled = enabled;
}

bool TrainableSet::adaptersEnabled() const { return state && state->enabled; }

void TrainableSet::saveAdapter(const std::string &dir) const
{
    if (!state || (type != "lora" && type != "qlora"))
        core::throwBadInput("saveAdapter: finetuning_type '" + type + "' has no adapter",
                            "save the full model instead");
    std::filesystem::create_directories(dir);
    StateDict tensors;
    std::set<std::string> targets;
    for (const auto &e : state->lora) {
        tensors["base_model.model." + e.module + ".lora_A.weight"] = e.adapter->A.detach();
        tensors["base_model.model." + e.module + ".lora_B.weight"] = e.adapter->B.detach();
        targets.insert(lastComponent(e.module));
    }
    nlohmann::json modulesToSave = nlohmann::json::array();
    if (state->embed.defined()) {
        tensors["base_model.model.model.embed_tokens.weight"] = state->embed.detach();
        modulesToSave.push_back("embed_tokens");
    }
    if (state->head.defined()) {
        tensors["base_model.model.lm_head.weight"] = state->head.detach();
        modulesToSave.push_back("lm_head");
    }
    saveSafetensors(dir + "/adapter_model.safetensors", tensors, DType::F32);
    const auto &o = state->opts;
    nlohmann::json cfg = {
        {"peft_type", "LORA"},
        {"task_type", "CAUSAL_LM"},
        {"base_model_name_or_path", o.baseModelNameOrPath},
        {"r", o.loraRank},
        {"lora_alpha", o.loraAlpha},
        {"lora_dropout", o.loraDropout},
        {"use_rslora", o.useRslora},
        {"bias", "none"},
        {"fan_in_fan_out", false},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"target_modules", std::vector<std::string>(targets.begin(), targets.end())},
        {"modules_to_save", modulesToSave.empty() ? nlohmann::json(nullptr) : modulesToSave},
    };
    std::ofstream f(dir + "/adapter_config.json");
    f << cfg.dump(2) << "\n";
    if (!f)
        core::throwRuntime("cannot write " + dir + "/adapter_config.json");
}

void TrainableSet::loadAdapter(const std::string &dir)
{
    if (!state || state->lora.empty())
        core::throwBadInput("loadAdapter: the model has no LoRA adapters");
    auto tensors = loadSafetensors(dir + "/adapter_model.safetensors");
    torch::NoGradGuard noGrad;
    auto take = [&](const std::string &key, torch::Tensor &dst) {
        auto it = tensors.find(key);
        if (it == tensors.end())
            core::throwBadInput(dir + "/adapter_model.safetensors: missing " + key);
        if (it->second.sizes() != dst.sizes())
            core::throwBadInput(dir + "/adapter_model.safetensors: " + key + " has a different shape");
        dst.copy_(it->second);
    };
    for (auto &e : state->lora) {
        take("base_model.model." + e.module + ".lora_A.weight", e.adapter->A);
        take("base_model.model." + e.module + ".lora_B.weight", e.adapter->B);
    }
    if (state->embed.defined() && tensors.count("base_model.model.model.embed_tokens.weight"))
        take("base_model.model.model.embed_tokens.weight", state->embed);
    if (state->head.defined() && tensors.count("base_model.model.lm_head.weight"))
        take("base_model.model.lm_head.weight", state->head);
}

void TrainableSet::mergeLora()
{
    if (!state)
        return;
    torch::NoGradGuard noGrad;
    for (auto &e : state->lora) {
        auto &a = *e.adapter;
        auto w = a.hasQuant ? dequantize(a.base, torch::kFloat) : e.proj->weight.to(torch::kFloat);
        if (a.enabled)
            w = w + torch::mm(a.B, a.A) * a.scale; // [out, in]
        const auto dtype = a.hasQuant ? torch::kFloat : e.proj->weight.scalar_type();
        e.proj->weight.set_data(w.to(dtype).contiguous());
        e.proj->adapter.reset();
    }
    state->lora.clear();
    state->quantBytes = 0;
    state->replaced = 0;
}

TrainableSet applyFinetuning(Qwen2ForCausalLMImpl &model, const FinetuneOptions &opts,
                             const std::vector<int64_t> &newTokenIds)
{
    const auto &t = opts.type;
    if (t != "full" && t != "freeze" && t != "lora" && t != "qlora")
        core::throwBadInput("finetuning_type must be full, freeze, lora or qlora, got '" + t + "'");
    if ((t == "lora" || t == "qlora") && opts.loraRank <= 0)
        core::throwBadInput("lora_rank must be positive, got " + std::to_string(opts.loraRank));
    TrainableSet set;
    set.type = t;
    set.state = std::make_shared<TrainableSet::State>();
    auto &st = *set.state;
    st.opts = opts;
    set.totalCount = model.parameterCount();

    const auto embed = model.model->embed_tokens->weight;
    const int64_t V = embed.size(0), C = embed.size(1);
    std::vector<int64_t> ids(newTokenIds);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (auto id : ids)
        if (id < 0 || id >= V)
            core::throwBadInput("new token id " + std::to_string(id) + " is outside the vocabulary of "
                                + std::to_string(V) + " rows",
                                "resize the token embeddings before applying fine-tuning");

    const auto named = model.named_parameters(/*recurse=*/true);
    if (t == "full") {
        ParamGroup decay{"decay", {}, {}, {}, true}, noDecay{"no_decay", {}, {}, {}, false};
        for (const auto &kv : named) {
            auto p = kv.value();
            p.set_requires_grad(true);
            const auto &n = kv.key();
            const bool nd = p.dim() < 2 || endsWith(n, ".bias") || n.find("norm") != std::string::npos
                            || n.find("embed_tokens") != std::string::npos;
            auto &g = nd ? noDecay : decay;
            g.names.push_back(n);
            g.params.push_back(p);
            g.rows.emplace_back();
            set.trainableCount += p.numel();
        }
        set.groups = {decay, noDecay};
        return set;
    }

    for (const auto &kv : named)
        kv.value().set_requires_grad(false);

    // New-token rows of the input embedding and, if untied, of lm_head.
    const bool rowsTrain = t == "freeze" || opts.trainNewTokenRows;
    if (rowsTrain && !ids.empty()) {
        st.rows = torch::tensor(ids, torch::TensorOptions().dtype(torch::kLong)).to(embed.device());
        auto mask = torch::zeros({V, 1}, torch::TensorOptions().dtype(torch::kFloat).device(embed.device()));
        mask.index_fill_(0, st.rows, 1.0); // [V, 1]
        ParamGroup rows{"new_rows", {}, {}, {}, false};
        auto addTable = [&](torch::Tensor p, const std::string &name) {
            p.set_requires_grad(true);
            // The other rows' gradient is zeroed so that clipping norms see only trained rows.
            p.register_hook([mask](const torch::Tensor &g) { return g * mask.to(g.scalar_type()); });
            rows.names.push_back(name);
            rows.params.push_back(p);
            rows.rows.push_back(st.rows);
            set.trainableCount += static_cast<int64_t>(ids.size()) * C;
        };
        st.embed = embed;
        addTable(embed, "model.embed_tokens.weight");
        if (model.lm_head) {
            st.head = model.lm_head->weight;
            addTable(st.head, "lm_head.weight");
        }
        set.groups.push_back(rows);
    }
    if (t == "freeze")
        return set;

    // LoRA / QLoRA adapters on the target projections.
    const std::set<std::string> targets(opts.loraTarget.begin(), opts.loraTarget.end());
    const double scale = opts.useRslora ? opts.loraAlpha / std::sqrt(double(opts.loraRank))
                                        : opts.loraAlpha / double(opts.loraRank);
    ParamGroup lora{"decay", {}, {}, {}, true};
    for (const auto &kv : model.named_modules("", /*include_self=*/false)) {
        auto proj = std::dynamic_pointer_cast<ProjectionImpl>(kv.value());
        if (!proj || !targets.count(lastComponent(kv.key())) || kv.key() == "lm_head")
            continue;
        auto a = std::make_shared<LoraAdapter>();
        const auto w = proj->weight;
        const int64_t out = w.size(0), in = w.size(1);
        const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(w.device());
        a->A = torch::empty({opts.loraRank, in}, fopts);
        torch::nn::init::kaiming_uniform_(a->A, std::sqrt(5.0)); // nn.Linear's default init
        a->A.set_requires_grad(true);
        a->B = torch::zeros({out, opts.loraRank}, fopts).set_requires_grad(true);
        a->scale = scale;
        a->dropout = opts.loraDropout;
        if (t == "qlora") {
            a->hasQuant = true;
            a->base = quantizeBlockwise(w, int(opts.quantizationBit), opts.quantizationBlockSize);
            st.quantBytes += a->base.bytes();
            st.replaced += w.numel() * w.element_size();
            torch::NoGradGuard noGrad;
            proj->weight.set_data(torch::empty({0}, w.options()));
        }
        proj->adapter = a;
        lora.names.push_back(kv.key() + ".lora_A.weight");
        lora.params.push_back(a->A);
        lora.rows.emplace_back();
        lora.names.push_back(kv.key() + ".lora_B.weight");
        lora.params.push_back(a->B);
        lora.rows.emplace_back();
        set.trainableCount += a->A.numel() + a->B.numel();
        set.totalCount += a->A.numel() + a->B.numel();
        st.lora.push_back({kv.key(), proj, a});
    }
    if (st.lora.empty())
        core::throwBadInput("lora_target matches no projection of the model",
                            "use names like q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    set.groups.insert(set.groups.begin(), lora);
    return set;
}

// ---------------------------------------------------------------------------------------------
// Gradient checkpointing
// ---------------------------------------------------------------------------------------------

namespace {

struct CheckpointHolder : torch::CustomClassHolder
{
    std::function<torch::Tensor(const torch::Tensor &)> fn;
    std::vector<torch::Tensor> params;
    torch::Tensor rngState; ///< CPU generator state at forward time
};

at::Generator cpuGenerator() { return at::detail::getDefaultCPUGenerator(); }

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction>
{
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx,
                                                  c10::intrusive_ptr<CheckpointHolder> holder,
                                                  const torch::Tensor &x,
                                                  at::TensorList /*params*/)
    {
        {
            auto gen = cpuGenerator();
            std::lock_guard<std::mutex> lock(gen.mutex());
            holder->rngState = gen.get_state();
        }
        ctx->save_for_backward({x});
        ctx->saved_data["holder"] = c10::IValue::make_capsule(holder);
        torch::NoGradGuard noGrad;
        return {holder->fn(x)};
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto holder = c10::static_intrusive_pointer_cast<CheckpointHolder>(
            ctx->saved_data["holder"].toCapsule());
        const auto x = ctx->get_saved_variables()[0];
        auto gen = cpuGenerator();
        torch::Tensor current;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            current = gen.get_state();
            gen.set_state(holder->rngState);
        }
        torch::Tensor y, xd;
        {
            torch::AutoGradMode enable(true);
            xd = x.detach().requires_grad_(x.requires_grad());
            y = holder->fn(xd);
        }
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(current);
        }
        std::vector<torch::Tensor> inputs;
        if (xd.requires_grad())
            inputs.push_back(xd);
        for (const auto &p : holder->params)
            inputs.push_back(p);
        torch::autograd::variable_list out(2 + holder->params.size());
        if (inputs.empty() || !y.requires_grad())
            return out;
        const auto g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
        size_t k = 0;
        if (xd.requires_grad())
            out[1] = g[k++];
        for (size_t i = 0; i < holder->params.size(); ++i)
            out[2 + i] = g[k++];
        return out;
    }
};

} // namespace

torch::Tensor checkpointed(const std::function<torch::Tensor(const torch::Tensor &)> &fn,
                           const torch::Tensor &x, const std::vector<torch::Tensor> &params)
{
    auto holder = c10::make_intrusive<CheckpointHolder>();
    holder->fn = fn;
    holder->params = params;
    return CheckpointFunction::apply(holder, x, at::TensorList(params))[0];
}

} // namespace genrec::train
