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
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include <dlfcn.h>
#include <malloc.h>

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

/// What LoraLinearFn needs besides its differentiable inputs.
struct LoraHolder : torch::CustomClassHolder
{
    torch::Tensor bias;     ///< frozen base bias (compute dtype) or undefined
    bool hasQuant = false;
    QuantizedTensor base;   ///< when hasQuant: dequantised again in backward, never saved
    bool lora = true;       ///< false: base projection only (disabled adapter over a quantised base)
    double scale = 1.0;
    double dropout = 0.0;   ///< > 0: dropout on the adapter's input (training only)
};

/// y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ with a hand-written backward that keeps only what the
/// gradients need: the adapter input (x itself, shared with the other projections reading the
/// same x, when there is no dropout; else dropout(x) and a 1-byte mask), the rank-r
/// intermediate, and W by reference (a quantised W is dequantised again in backward instead of
/// being kept in fp32). The base W and bias are frozen: no gradient for them.
/// x [..., in], w [out, in] (empty for a quantised base), A [r, in], B [out, r] → [..., out].
struct LoraLinearFn : public torch::autograd::Function<LoraLinearFn>
{
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx,
                                                  const torch::Tensor &x, const torch::Tensor &w,
                                                  const torch::Tensor &A, const torch::Tensor &B,
                                                  c10::intrusive_ptr<LoraHolder> h)
    {
        const auto dtype = x.scalar_type();
        const int64_t in = x.size(-1);
        const auto x2 = x.reshape({-1, in}); // [N, in]
        torch::Tensor y;
        {
            const auto wd = h->hasQuant ? dequantize(h->base, dtype) : w.to(dtype); // [out, in]
            y = h->bias.defined() ? torch::addmm(h->bias, x2, wd.t()) : torch::mm(x2, wd.t());
        }
        torch::Tensor xd = x2, mask, low;
        if (h->lora) {
            if (h->dropout > 0) {
                mask = torch::empty(x2.sizes(), x2.options().dtype(torch::kByte)).bernoulli_(1.0 - h->dropout);
                xd = x2 * mask * (1.0 / (1.0 - h->dropout));
            }
            low = torch::mm(xd, A.to(dtype).t());              // [N, r]
            y.addmm_(low, B.to(dtype).t(), 1.0, h->scale);     // [N, out]
        }
        ctx->save_for_backward({h->hasQuant ? torch::Tensor() : w, A, B, xd, low, mask});
        ctx->saved_data["h"] = c10::IValue::make_capsule(h);
        auto sizes = x.sizes().vec();
        sizes.back() = y.size(1);
        return {y.view(sizes)};
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto h = c10::static_intrusive_pointer_cast<LoraHolder>(ctx->saved_data["h"].toCapsule());
        const auto saved = ctx->get_saved_variables();
        const auto &w = saved[0], &A = saved[1], &B = saved[2], &xd = saved[3], &low = saved[4],
                   &mask = saved[5];
        const auto g = grads[0].reshape({-1, grads[0].size(-1)}); // [N, out]
        const auto dtype = g.scalar_type();
        torch::Tensor dx, dA, dB;
        if (ctx->needs_input_grad(0)) {
            const auto wd = h->hasQuant ? dequantize(h->base, dtype) : w.to(dtype);
            dx = torch::mm(g, wd); // [N, in]
        }
        if (h->lora) {
            const auto gl = torch::mm(g, B.to(dtype)).mul_(h->scale); // [N, r]
            if (dx.defined()) {
                auto dl = torch::mm(gl, A.to(dtype)); // [N, in]
                if (mask.defined())
                    dl.mul_(mask).mul_(1.0 / (1.0 - h->dropout));
                dx.add_(dl);
            }
            if (ctx->needs_input_grad(2))
                dA = torch::mm(gl.t(), xd).to(A.scalar_type()); // [r, in]
            if (ctx->needs_input_grad(3))
                dB = torch::mm(g.t(), low).mul_(h->scale).to(B.scalar_type()); // [out, r]
        }
        if (dx.defined()) {
            auto sizes = grads[0].sizes().vec();
            sizes.back() = dx.size(1);
            dx = dx.view(sizes);
        }
        return {dx, torch::Tensor(), dA, dB, torch::Tensor()};
    }
};

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
        // Disabled adapters take the same path (same base computation, bit-identical to the
        // enabled adapter while B = 0: the RL reference is the policy with adapters off).
        auto h = c10::make_intrusive<LoraHolder>();
        if (proj.bias.defined())
            h->bias = proj.bias.to(dtype);
        h->hasQuant = hasQuant;
        if (hasQuant)
            h->base = base;
        h->lora = enabled;
        h->scale = scale;
        h->dropout = proj.is_training() ? dropout : 0.0;
        return LoraLinearFn::apply(x.contiguous(), proj.weight, A, B, h)[0];
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
    torch::Tensor embed;  ///< [R, C] trained rows of the embedding, when new rows train
    torch::Tensor head;   ///< [R, C] trained rows of an untied lm_head
    torch::Tensor embedTable, headTable; ///< the tables those rows belong to
    torch::Tensor rows;   ///< int64 [R] token ids
    Qwen2ForCausalLMImpl *model = nullptr; ///< when rows train (for syncTrainedRows())
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

void TrainableSet::afterStep()
{
    if (state && state->model)
        state->model->syncTrainedRows();
}

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
    if (state->model)
        state->model->syncTrainedRows();
    if (state->embed.defined()) {
        tensors["base_model.model.model.embed_tokens.weight"] = state->embedTable.detach();
        modulesToSave.push_back("embed_tokens");
    }
    if (state->head.defined()) {
        tensors["base_model.model.lm_head.weight"] = state->headTable.detach();
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
    if (state->embed.defined() && tensors.count("base_model.model.model.embed_tokens.weight")) {
        take("base_model.model.model.embed_tokens.weight", state->embedTable);
        state->embed.copy_(state->embedTable.index_select(0, state->rows));
    }
    if (state->head.defined() && tensors.count("base_model.model.lm_head.weight")) {
        take("base_model.model.lm_head.weight", state->headTable);
        state->head.copy_(state->headTable.index_select(0, state->rows));
    }
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

namespace {

/// glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed, after which
/// tensors of that size come from the heap and freed ones stay resident, fragmented between
/// live ones: measured on preset:base, batch 8 × 128, peak RSS exceeded the live tensor bytes by
/// 170-400 MiB (LoRA 1197 MiB → 751 MiB with a fixed threshold). A fixed 128 KiB threshold (glibc's
/// initial value) keeps every tensor buffer above it in its own mapping, returned on free.
/// GENREC_MMAP_THRESHOLD (bytes) overrides the value; 0 keeps glibc's dynamic threshold. Not
/// applied when the executable links jemalloc (genrec_link_allocator in cmake), which is the
/// faster answer: the fixed threshold costs a page fault per page of every large tensor.
void useFixedMmapThreshold()
{
#if defined(__GLIBC__)
    static std::once_flag once;
    std::call_once(once, [] {
        if (::dlsym(RTLD_DEFAULT, "mallctl")) // jemalloc serves malloc in this process
            return;
        long long bytes = 128 * 1024;
        if (const char *env = std::getenv("GENREC_MMAP_THRESHOLD"); env && *env)
            bytes = std::atoll(env);
        if (bytes > 0)
            mallopt(M_MMAP_THRESHOLD, static_cast<int>(std::min<long long>(bytes, 1LL << 30)));
    });
#endif
}

} // namespace

TrainableSet applyFinetuning(Qwen2ForCausalLMImpl &model, const FinetuneOptions &opts,
                             const std::vector<int64_t> &newTokenIds)
{
    useFixedMmapThreshold();
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

    // New-token rows of the input embedding and, if untied, of lm_head. They train as separate
    // [R, C] leaves (Qwen2ForCausalLMImpl::TrainedRows): the tables stay frozen, so autograd
    // never builds a dense [V, C] table gradient and the original rows cannot change. The group
    // lists each leaf with rows 0..R-1 (optimiser state [R, C], as for a row-restricted table).
    const bool rowsTrain = t == "freeze" || opts.trainNewTokenRows;
    if (rowsTrain && !ids.empty()) {
        const auto longOpts = torch::TensorOptions().dtype(torch::kLong).device(embed.device());
        st.rows = torch::tensor(ids, torch::TensorOptions().dtype(torch::kLong)).to(embed.device());
        const int64_t R = st.rows.numel();
        Qwen2ForCausalLMImpl::TrainedRows tr;
        tr.ids = st.rows;
        tr.slot = torch::full({V}, -1, longOpts).index_copy_(0, st.rows, torch::arange(R, longOpts));
        const auto all = torch::arange(R, longOpts);
        ParamGroup rows{"new_rows", {}, {}, {}, false};
        auto addRows = [&](const torch::Tensor &table, const std::string &name) {
            torch::NoGradGuard noGrad;
            auto leaf = table.index_select(0, st.rows).detach().clone(); // [R, C]
            leaf.set_requires_grad(true);
            rows.names.push_back(name);
            rows.params.push_back(leaf);
            rows.rows.push_back(all);
            set.trainableCount += R * C;
            return leaf;
        };
        st.embedTable = embed;
        st.embed = tr.embed = addRows(embed, "model.embed_tokens.weight");
        tr.embedVersion = int64_t(tr.embed._version());
        if (model.lm_head) {
            st.headTable = model.lm_head->weight;
            st.head = tr.head = addRows(st.headTable, "lm_head.weight");
            tr.headVersion = int64_t(tr.head._version());
        }
        model.setTrainedRows(tr);
        st.model = &model;
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
    torch::Tensor outWeight; ///< optional frozen [out, k] projection applied to fn's result
    torch::Tensor rngState;  ///< CPU generator state at forward time
    torch::Device device = torch::kCPU; ///< x's device: on CUDA its generator is saved too
    torch::Tensor deviceRngState;       ///< that generator's state at forward time
};

at::Generator cpuGenerator() { return at::detail::getDefaultCPUGenerator(); }

/// The generator state of `gen` (under its lock).
torch::Tensor generatorState(at::Generator gen)
{
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
}

void setGeneratorState(at::Generator gen, const torch::Tensor &state)
{
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
}

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction>
{
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx,
                                                  c10::intrusive_ptr<CheckpointHolder> holder,
                                                  const torch::Tensor &x,
                                                  at::TensorList /*params*/)
    {
        // Dropout draws from the CPU generator, and on CUDA from the device's: the recomputation
        // in backward must draw the same numbers.
        holder->rngState = generatorState(cpuGenerator());
        holder->device = x.device();
        if (x.is_cuda())
            holder->deviceRngState = generatorState(at::globalContext().defaultGenerator(x.device()));
        ctx->save_for_backward({x});
        ctx->saved_data["holder"] = c10::IValue::make_capsule(holder);
        torch::NoGradGuard noGrad;
        auto y = holder->fn(x);
        if (holder->outWeight.defined())
            y = torch::linear(y, holder->outWeight.to(y.scalar_type()));
        return {y};
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto holder = c10::static_intrusive_pointer_cast<CheckpointHolder>(
            ctx->saved_data["holder"].toCapsule());
        const auto x = ctx->get_saved_variables()[0];
        auto gen = cpuGenerator();
        const auto current = generatorState(gen);
        setGeneratorState(gen, holder->rngState);
        torch::Tensor currentDevice;
        if (holder->deviceRngState.defined()) {
            auto dgen = at::globalContext().defaultGenerator(holder->device);
            currentDevice = generatorState(dgen);
            setGeneratorState(dgen, holder->deviceRngState);
        }
        torch::Tensor y, xd;
        {
            torch::AutoGradMode enable(true);
            xd = x.detach().requires_grad_(x.requires_grad());
            y = holder->fn(xd);
        }
        setGeneratorState(gen, current);
        if (currentDevice.defined())
            setGeneratorState(at::globalContext().defaultGenerator(holder->device), currentDevice);
        std::vector<torch::Tensor> inputs;
        if (xd.requires_grad())
            inputs.push_back(xd);
        for (const auto &p : holder->params)
            inputs.push_back(p);
        torch::autograd::variable_list out(2 + holder->params.size());
        if (inputs.empty() || !y.requires_grad())
            return out;
        auto gy = grads[0];
        if (holder->outWeight.defined()) { // d(y·Wᵀ)/dy = g·W
            const auto &w = holder->outWeight;
            gy = torch::matmul(gy, w.to(gy.scalar_type()));
        }
        const auto g = torch::autograd::grad({y}, inputs, {gy}, /*retain_graph=*/false,
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
                           const torch::Tensor &x, const std::vector<torch::Tensor> &params,
                           const torch::Tensor &outWeight)
{
    auto holder = c10::make_intrusive<CheckpointHolder>();
    holder->fn = fn;
    holder->params = params;
    holder->outWeight = outWeight.defined() ? outWeight.detach() : outWeight;
    return CheckpointFunction::apply(holder, x, at::TensorList(params))[0];
}

} // namespace genrec::train
