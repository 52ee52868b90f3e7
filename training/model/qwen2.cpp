#include "training/model/qwen2.h"

#include "core/common/error.h"
#include "training/model/fused_ops.h"
#include "training/finetune/finetune.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace genrec::train {

namespace {

int64_t headDimOf(const ModelConfig &config)
{
    if (config.headDim > 0)
        return config.headDim;
    return config.numAttentionHeads > 0 ? config.hiddenSize / config.numAttentionHeads : 0;
}

void checkConfig(const ModelConfig &c)
{
    const auto need = [](bool ok, const std::string &what) {
        if (!ok)
            core::throwBadInput("model config: " + what);
    };
    need(c.vocabSize > 0, "vocab_size must be positive");
    need(c.hiddenSize > 0, "hidden_size must be positive");
    need(c.intermediateSize > 0, "intermediate_size must be positive");
    need(c.numHiddenLayers > 0, "num_hidden_layers must be positive");
    need(c.numAttentionHeads > 0, "num_attention_heads must be positive");
    need(c.numKeyValueHeads > 0 && c.numAttentionHeads % c.numKeyValueHeads == 0,
         "num_attention_heads (" + std::to_string(c.numAttentionHeads)
             + ") must be a multiple of num_key_value_heads ("
             + std::to_string(c.numKeyValueHeads) + ")");
    const int64_t d = headDimOf(c);
    need(d > 0 && d % 2 == 0, "head_dim must be positive and even, got " + std::to_string(d));
    need(c.headDim > 0 || c.hiddenSize % c.numAttentionHeads == 0,
         "hidden_size must be a multiple of num_attention_heads when head_dim is not given");
}

/// x [B, T, N, D] with tables cos/sin [Bc, T, D/2] → rotated, transposed [B, N, T, D].
torch::Tensor applyRope(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin)
{
    const int64_t half = x.size(3) / 2;
    const auto x1 = x.narrow(3, 0, half);  // [B, T, N, D/2]
    const auto x2 = x.narrow(3, half, half);
    const auto c = cos.unsqueeze(2);       // [Bc, T, 1, D/2]
    const auto s = sin.unsqueeze(2);
    auto out = torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, 3); // [B, T, N, D]
    return out.transpose(1, 2).contiguous();                     // [B, N, T, D]
}

/// The frozen weights of a concatenated projection (q|k|v or gate|up).
struct FrozenCat : torch::CustomClassHolder
{
    std::vector<torch::Tensor> w; ///< [out_i, in] each
    std::vector<torch::Tensor> b; ///< [out_i] each, or empty
};

/// y = x·[W1; W2; …]ᵀ (+ [b1; b2; …]) for weights that do not train: forward is the same
/// linear as the unfrozen path, but backward keeps only references to the weights (no
/// concatenated copy of the weights, no copy of x). x [..., in] → [..., Σ out_i].
struct FrozenCatLinearFn : public torch::autograd::Function<FrozenCatLinearFn>
{
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx,
                                                  const torch::Tensor &x,
                                                  c10::intrusive_ptr<FrozenCat> h)
    {
        // The same operation as the unfrozen path (bit-identical outputs); the concatenated
        // weight is a temporary here, not kept for backward.
        const auto dtype = x.scalar_type();
        const auto w = h->w.size() == 1 ? h->w[0].to(dtype) : torch::cat(h->w).to(dtype);
        torch::Tensor b;
        if (!h->b.empty())
            b = h->b.size() == 1 ? h->b[0].to(dtype) : torch::cat(h->b).to(dtype);
        auto y = torch::linear(x, w, b);
        ctx->saved_data["h"] = c10::IValue::make_capsule(h);
        return {y};
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto h = c10::static_intrusive_pointer_cast<FrozenCat>(ctx->saved_data["h"].toCapsule());
        const auto g = grads[0].reshape({-1, grads[0].size(-1)}); // [N, Σ out]
        torch::Tensor dx;
        int64_t col = 0;
        for (const auto &wi : h->w) {
            const int64_t o = wi.size(0);
            const auto w = wi.to(g.scalar_type());
            const auto gi = g.narrow(1, col, o);
            dx = dx.defined() ? dx.addmm_(gi, w) : torch::mm(gi, w); // [N, in]
            col += o;
        }
        auto sizes = grads[0].sizes().vec();
        sizes.back() = dx.size(1);
        return {dx.view(sizes), torch::Tensor()};
    }
};

bool anyRequiresGrad(const std::vector<torch::Tensor> &ts)
{
    for (const auto &t : ts)
        if (t.defined() && t.requires_grad())
            return true;
    return false;
}

/// x·[W…]ᵀ + [b…] for frozen weights (FrozenCatLinearFn).
torch::Tensor frozenCatLinear(const torch::Tensor &x, std::vector<torch::Tensor> w,
                              std::vector<torch::Tensor> b)
{
    auto h = c10::make_intrusive<FrozenCat>();
    h->w = std::move(w);
    h->b = std::move(b);
    return FrozenCatLinearFn::apply(x.contiguous(), h)[0];
}

/// logits = hidden·Wᵀ where the rows `ids` of W are also the leaf `rows` (equal values, kept in
/// sync): the gradient goes to hidden and to `rows` only ([R, C]), never to the [V, C] table.
/// hidden [N, C], w [V, C], rows [R, C], ids [R] → [N, V].
struct HeadRowsFn : public torch::autograd::Function<HeadRowsFn>
{
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx,
                                                  const torch::Tensor &hidden, const torch::Tensor &rows,
                                                  const torch::Tensor &w, const torch::Tensor &ids)
    {
        ctx->save_for_backward({hidden, w, ids});
        return {torch::linear(hidden, w.to(hidden.scalar_type()))};
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const auto &hidden = saved[0], &w = saved[1], &ids = saved[2];
        const auto &g = grads[0]; // [N, V]
        torch::Tensor dh, dr;
        if (ctx->needs_input_grad(0))
            dh = torch::matmul(g, w.to(g.scalar_type())); // [N, C]
        if (ctx->needs_input_grad(1))
            dr = torch::matmul(g.index_select(-1, ids).t(), hidden).to(w.scalar_type()); // [R, C]
        return {dh, dr, torch::Tensor(), torch::Tensor()};
    }
};

/// The parameters of `module` (and of the adapters of its projections) that require grad: what
/// a recomputation checkpoint around the module differentiates.
std::vector<torch::Tensor> trainableParameters(const torch::nn::Module &module)
{
    std::vector<torch::Tensor> params;
    for (const auto &p : module.parameters())
        if (p.requires_grad())
            params.push_back(p);
    for (const auto &m : module.modules())
        if (auto *proj = dynamic_cast<ProjectionImpl *>(m.get()); proj && proj->adapter)
            for (const auto &p : proj->adapter->parameters())
                if (p.requires_grad())
                    params.push_back(p);
    return params;
}

bool allOnes(const torch::Tensor &mask)
{
    return mask.numel() == 0 || mask.min().item<int64_t>() != 0;
}

} // namespace

torch::Dtype computeDtypeFor(torch::Dtype storage, const torch::Device &device)
{
    if (device.is_cpu() && (storage == torch::kBFloat16 || storage == torch::kHalf))
        return torch::kFloat;
    return storage;
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

ProjectionImpl::ProjectionImpl(int64_t inFeatures, int64_t outFeatures, bool hasBias)
{
    weight = register_parameter("weight", torch::empty({outFeatures, inFeatures}));
    if (hasBias)
        bias = register_parameter("bias", torch::empty({outFeatures}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor &x)
{
    if (adapter)
        return adapter->forward(*this, x);
    if (x.requires_grad() && torch::GradMode::is_enabled() && x.device().is_cpu()
        && !anyRequiresGrad({weight, bias}))
        return frozenCatLinear(x, {weight}, bias.defined() ? std::vector<torch::Tensor>{bias}
                                                           : std::vector<torch::Tensor>{});
    const auto dtype = x.scalar_type();
    return torch::linear(x, weight.to(dtype), bias.defined() ? bias.to(dtype) : torch::Tensor());
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_)
{
    weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor &x)
{
    if (useFused && fused::applies(x))
        return fused::rmsNorm(x, weight, eps);
    const auto dtype = x.scalar_type();
    const auto xf = x.to(torch::kFloat);
    const auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight.to(dtype) * y.to(dtype);
}

EmbeddingImpl::EmbeddingImpl(int64_t rows, int64_t dim)
{
    weight = register_parameter("weight", torch::empty({rows, dim}));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor &ids, torch::Dtype dtype)
{
    return torch::embedding(weight, ids).to(dtype); // [B, T, C]
}

// ---------------------------------------------------------------------------------------------
// Attention, MLP, decoder layer
// ---------------------------------------------------------------------------------------------

Qwen2AttentionImpl::Qwen2AttentionImpl(const ModelConfig &config)
    : m_heads(config.numAttentionHeads),
      m_kvHeads(config.numKeyValueHeads),
      m_headDim(headDimOf(config))
{
    const int64_t C = config.hiddenSize;
    q_proj = register_module("q_proj", Projection(C, m_heads * m_headDim, config.attentionBias));
    k_proj = register_module("k_proj", Projection(C, m_kvHeads * m_headDim, config.attentionBias));
    v_proj = register_module("v_proj", Projection(C, m_kvHeads * m_headDim, config.attentionBias));
    o_proj = register_module("o_proj",
                             Projection(m_heads * m_headDim, C, config.attentionOutputBias));
    if (config.qkNorm) {
        q_norm = register_module("q_norm", RmsNorm(m_headDim, config.rmsNormEps));
        k_norm = register_module("k_norm", RmsNorm(m_headDim, config.rmsNormEps));
    }
}

torch::Tensor Qwen2AttentionImpl::forward(const torch::Tensor &x, const AttentionContext &ctx,
                                          int64_t layer)
{
    const int64_t B = x.size(0), T = x.size(1);
    const int64_t H = m_heads, K = m_kvHeads, D = m_headDim, G = H / K;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    if (ctx.fused) {
        // One GEMM for q, k and v: the weights are concatenated per call (a copy of C·(H+2K)·D
        // floats), the checkpoint keys stay separate.
        torch::Tensor qkv; // [B, T, (H+2K)·D]
        if (q_proj->adapter || k_proj->adapter || v_proj->adapter) {
            qkv = torch::cat({q_proj(x), k_proj(x), v_proj(x)}, 2);
        } else if (!anyRequiresGrad({q_proj->weight, k_proj->weight, v_proj->weight, q_proj->bias,
                                     k_proj->bias, v_proj->bias})) {
            qkv = frozenCatLinear(x, {q_proj->weight, k_proj->weight, v_proj->weight},
                                  q_proj->bias.defined()
                                      ? std::vector<torch::Tensor>{q_proj->bias, k_proj->bias, v_proj->bias}
                                      : std::vector<torch::Tensor>{});
        } else {
            const auto dtype = x.scalar_type();
            const auto w = torch::cat({q_proj->weight, k_proj->weight, v_proj->weight}).to(dtype);
            const auto b = q_proj->bias.defined()
                               ? torch::cat({q_proj->bias, k_proj->bias, v_proj->bias}).to(dtype)
                               : torch::Tensor();
            qkv = torch::linear(x, w, b);
        }
        if (q_norm) {
            const auto qn = q_norm(qkv.narrow(2, 0, H * D).view({B, T, H, D}));
            const auto kn = k_norm(qkv.narrow(2, H * D, K * D).view({B, T, K, D}));
            qkv = torch::cat({qn.view({B, T, H * D}), kn.view({B, T, K * D}),
                              qkv.narrow(2, (H + K) * D, K * D)},
                             2);
        }
        return o_proj(fused::attention(qkv, ctx.cos, ctx.sin, ctx.keyMask, H, K, D, scale));
    }
    auto q = q_proj(x).view({B, T, H, D});
    auto k = k_proj(x).view({B, T, K, D});
    auto v = v_proj(x).view({B, T, K, D}).transpose(1, 2); // [B, K, T, D]
    if (q_norm) {
        q = q_norm(q);
        k = k_norm(k);
    }
    q = applyRope(q, ctx.cos, ctx.sin); // [B, H, T, D]
    k = applyRope(k, ctx.cos, ctx.sin); // [B, K, T, D]
    if (ctx.cache)
        std::tie(k, v) = ctx.cache->append(layer, k, v.contiguous()); // [B, K, S, D]
    const int64_t S = k.size(2);

    // Query heads h = kv·G + g share kv head `kv`: group them as rows of one matmul per kv head
    // instead of repeating K and V.
    const auto qg = q.view({B, K, G * T, D});
    auto scores = torch::matmul(qg, k.transpose(2, 3)).view({B, K, G, T, S}); // [B, K, G, T, S]
    scores = ctx.bias.defined() ? torch::add(ctx.bias, scores, scale) : scores * scale;
    const auto probs = torch::softmax(scores, -1, torch::kFloat).to(x.scalar_type());
    auto y = torch::matmul(probs.view({B, K, G * T, S}), v);        // [B, K, G*T, D]
    y = y.view({B, H, T, D}).transpose(1, 2).reshape({B, T, H * D}); // [B, T, H*D]
    return o_proj(y);
}

Qwen2MlpImpl::Qwen2MlpImpl(const ModelConfig &config)
{
    const int64_t C = config.hiddenSize, I = config.intermediateSize;
    gate_proj = register_module("gate_proj", Projection(C, I, false));
    up_proj = register_module("up_proj", Projection(C, I, false));
    down_proj = register_module("down_proj", Projection(I, C, false));
}

torch::Tensor Qwen2MlpImpl::hidden(const torch::Tensor &x)
{
    if (useFused && fused::applies(x)) {
        torch::Tensor gateUp; // [B, T, 2I]
        if (gate_proj->adapter || up_proj->adapter) {
            gateUp = torch::cat({gate_proj(x), up_proj(x)}, -1);
        } else if (!anyRequiresGrad({gate_proj->weight, up_proj->weight})) {
            gateUp = frozenCatLinear(x, {gate_proj->weight, up_proj->weight}, {});
        } else {
            const auto w = torch::cat({gate_proj->weight, up_proj->weight}).to(x.scalar_type());
            gateUp = torch::linear(x, w);
        }
        return fused::swiglu(gateUp, /*gradInPlace=*/true); // [B, T, I]
    }
    return torch::silu(gate_proj(x)) * up_proj(x);
}

Qwen2DecoderLayerImpl::Qwen2DecoderLayerImpl(const ModelConfig &config)
{
    input_layernorm = register_module("input_layernorm",
                                      RmsNorm(config.hiddenSize, config.rmsNormEps));
    self_attn = register_module("self_attn", Qwen2Attention(config));
    post_attention_layernorm = register_module("post_attention_layernorm",
                                               RmsNorm(config.hiddenSize, config.rmsNormEps));
    mlp = register_module("mlp", Qwen2Mlp(config));
}

torch::Tensor Qwen2DecoderLayerImpl::forward(const torch::Tensor &x, const AttentionContext &ctx,
                                             int64_t layer)
{
    auto a = self_attn(input_layernorm(x), ctx, layer);
    const auto h = x + (ctx.dropout > 0 ? torch::dropout(a, ctx.dropout, true) : a);
    torch::Tensor m;
    if (ctx.recomputeMlp) {
        auto params = trainableParameters(*post_attention_layernorm);
        const auto more = trainableParameters(*mlp);
        params.insert(params.end(), more.begin(), more.end());
        const auto &down = mlp->down_proj;
        if (!down->adapter && !down->bias.defined() && !down->weight.requires_grad()) {
            // A frozen down projection closes the block: backward maps the gradient through
            // its weight and recomputes only norm, gate|up and SwiGLU.
            m = checkpointed([this](const torch::Tensor &in) {
                                 return mlp->hidden(post_attention_layernorm(in));
                             },
                             h, params, down->weight);
        } else {
            m = checkpointed([this](const torch::Tensor &in) { return mlp(post_attention_layernorm(in)); },
                             h, params);
        }
    } else {
        m = mlp(post_attention_layernorm(h));
    }
    return h + (ctx.dropout > 0 ? torch::dropout(m, ctx.dropout, true) : m);
}

Qwen2ModelImpl::Qwen2ModelImpl(const ModelConfig &config)
{
    embed_tokens = register_module("embed_tokens", Embedding(config.vocabSize, config.hiddenSize));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < config.numHiddenLayers; ++i)
        layers->push_back(Qwen2DecoderLayer(config));
    norm = register_module("norm", RmsNorm(config.hiddenSize, config.rmsNormEps));
}

// ---------------------------------------------------------------------------------------------
// The causal LM
// ---------------------------------------------------------------------------------------------

Qwen2ForCausalLMImpl::Qwen2ForCausalLMImpl(const ModelConfig &config) : m_config(config)
{
    checkConfig(config);
    model = register_module("model", Qwen2Model(config));
    if (!config.tieWordEmbeddings)
        lm_head = register_module("lm_head",
                                  Projection(config.hiddenSize, config.vocabSize, false));
}

Qwen2ForCausalLM makeQwen2(const ModelConfig &config)
{
    return Qwen2ForCausalLM(config);
}

torch::Dtype Qwen2ForCausalLMImpl::paramDtype() const
{
    return model->embed_tokens->weight.scalar_type();
}

torch::Device Qwen2ForCausalLMImpl::device() const
{
    return model->embed_tokens->weight.device();
}

torch::Dtype Qwen2ForCausalLMImpl::computeDtype() const
{
    return computeDtypeFor(paramDtype(), device());
}

void Qwen2ForCausalLMImpl::setFusedKernels(bool enabled)
{
    m_fusedKernels = enabled;
    for (const auto &module : modules()) {
        if (auto *norm = dynamic_cast<RmsNormImpl *>(module.get()))
            norm->useFused = enabled;
        else if (auto *mlp = dynamic_cast<Qwen2MlpImpl *>(module.get()))
            mlp->useFused = enabled;
    }
}

int64_t Qwen2ForCausalLMImpl::parameterCount() const
{
    int64_t n = 0;
    for (const auto &p : parameters())
        n += p.numel();
    return n;
}

torch::Tensor Qwen2ForCausalLMImpl::forward(const torch::Tensor &inputIds,
                                            const torch::Tensor &attentionMask, KvCache *cache)
{
    if (inputIds.dim() != 2)
        core::throwBadInput("Qwen2 forward: input_ids must be [B, T], got "
                            + std::to_string(inputIds.dim()) + " dims");
    const int64_t B = inputIds.size(0), T = inputIds.size(1);
    const auto dev = device();
    const auto dtype = computeDtype();
    const int64_t past = cache ? cache->length() : 0;
    if (cache && past > 0 && cache->batchSize() != B)
        core::throwBadInput("Qwen2 forward: batch of " + std::to_string(B)
                            + " rows does not match the cache's " +
                            std::to_string(cache->batchSize()));
    const int64_t S = past + T;
    const auto longOpts = torch::TensorOptions().dtype(torch::kLong).device(dev);

    torch::Tensor newMask;
    if (attentionMask.defined()) {
        if (attentionMask.sizes() != inputIds.sizes())
            core::throwBadInput("Qwen2 forward: attention_mask shape must equal input_ids shape");
        newMask = attentionMask.to(longOpts);
    }
    const bool padded = (newMask.defined() && !allOnes(newMask))
                        || (cache && past > 0 && !cache->unpadded());
    if (!newMask.defined() && (cache || padded))
        newMask = torch::ones({B, T}, longOpts);

    AttentionContext ctx;
    ctx.cache = cache;
    ctx.fused = m_fusedKernels && !cache && dev.is_cpu() && dtype == torch::kFloat;
    torch::Tensor pos; // [Bc, T]
    if (padded) {
        const auto full = past > 0 ? torch::cat({cache->mask(), newMask}, 1) : newMask; // [B, S]
        pos = (full.cumsum(1) - 1).clamp_min(0).narrow(1, past, T);
        if (ctx.fused) {
            ctx.keyMask = full; // the fused kernel applies the same rule as the bias below
        } else {
            // Query i (absolute past+i) sees key j when j <= past+i and j is a token; it always
            // sees itself, so a padding query's row is never empty (no NaN; its output is unused).
            const auto qi = torch::arange(past, S, longOpts).unsqueeze(1); // [T, 1]
            const auto kj = torch::arange(0, S, longOpts).unsqueeze(0);    // [1, S]
            const auto allowed = (kj <= qi).logical_and(full.unsqueeze(1).to(torch::kBool))
                                     .logical_or(kj == qi);                // [B, T, S]
            ctx.bias = torch::zeros({B, T, S}, torch::TensorOptions().dtype(dtype).device(dev))
                           .masked_fill(allowed.logical_not(),
                                        -std::numeric_limits<double>::infinity())
                           .view({B, 1, 1, T, S});
        }
    } else {
        pos = torch::arange(past, S, longOpts).unsqueeze(0); // [1, T]
        if (T > 1 && !ctx.fused) {
            ctx.bias = torch::full({T, S}, -std::numeric_limits<double>::infinity(),
                                   torch::TensorOptions().dtype(dtype).device(dev))
                           .triu(past + 1)
                           .view({1, 1, 1, T, S});
        }
    }
    const int64_t D = headDimOf(m_config);
    const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(dev);
    const auto invFreq = 1.0 / torch::pow(m_config.ropeTheta,
                                          torch::arange(0, D, 2, fopts) / static_cast<double>(D));
    const auto angles = pos.to(torch::kFloat).unsqueeze(2) * invFreq; // [Bc, T, D/2]
    ctx.cos = angles.cos().to(dtype);
    ctx.sin = angles.sin().to(dtype);

    syncTrainedRows();
    auto x = model->embed_tokens->forward(inputIds.to(longOpts), dtype); // [B, T, C]
    if (m_rows.embed.defined() && torch::GradMode::is_enabled()) {
        // Positions holding a trained token read their row from the row tensor (same values),
        // so that their gradient lands there.
        const auto flatIds = inputIds.to(longOpts).reshape({-1});        // [B*T]
        const auto slot = m_rows.slot.index_select(0, flatIds);           // [B*T]
        const auto where = slot.ge(0).nonzero().squeeze(1);               // [n]
        if (where.numel() > 0) {
            const auto rows = m_rows.embed.index_select(0, slot.index_select(0, where)).to(dtype);
            x = x.reshape({B * T, -1}).index_copy(0, where, rows).view({B, T, -1});
        }
    }
    if (m_dropout > 0 && is_training() && torch::GradMode::is_enabled()) {
        ctx.dropout = m_dropout;
        x = torch::dropout(x, m_dropout, true);
    }
    int64_t index = 0;
    const bool recompute = m_gradientCheckpointing && is_training() && !cache
                           && torch::GradMode::is_enabled();
    ctx.recomputeMlp = m_mlpRecompute && !recompute && is_training() && !cache
                       && torch::GradMode::is_enabled();
    for (const auto &layer : *model->layers) {
        auto *l = layer->as<Qwen2DecoderLayerImpl>();
        const int64_t i = index++;
        if (!recompute) {
            x = l->forward(x, ctx, i);
            continue;
        }
        x = checkpointed([l, ctx, i](const torch::Tensor &h) { return l->forward(h, ctx, i); },
                         x, trainableParameters(*l));
    }
    if (cache)
        cache->commit(newMask);
    return model->norm(x); // [B, T, C]
}

torch::Tensor Qwen2ForCausalLMImpl::headWeight() const
{
    return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

void Qwen2ForCausalLMImpl::syncTrainedRows() const
{
    if (!m_rows.ids.defined())
        return;
    torch::NoGradGuard noGrad;
    const auto copy = [&](const torch::Tensor &rows, const torch::Tensor &table, int64_t &version) {
        if (!rows.defined() || int64_t(rows._version()) == version)
            return;
        table.index_copy_(0, m_rows.ids, rows.to(table.scalar_type()));
        version = int64_t(rows._version());
    };
    copy(m_rows.embed, model->embed_tokens->weight, m_rows.embedVersion);
    copy(lm_head ? m_rows.head : torch::Tensor(), lm_head ? lm_head->weight : torch::Tensor(),
         m_rows.headVersion);
}

torch::Tensor Qwen2ForCausalLMImpl::logits(const torch::Tensor &hidden)
{
    const auto &rows = lm_head ? m_rows.head : m_rows.embed;
    if (rows.defined() && torch::GradMode::is_enabled()) {
        syncTrainedRows();
        const int64_t C = hidden.size(-1);
        auto sizes = hidden.sizes().vec();
        sizes.back() = -1;
        return HeadRowsFn::apply(hidden.reshape({-1, C}), rows, headWeight(), m_rows.ids)[0].view(sizes);
    }
    return torch::linear(hidden, headWeight().to(hidden.scalar_type())); // [..., V]
}

torch::Tensor Qwen2ForCausalLMImpl::logitsAt(const torch::Tensor &hidden,
                                             const torch::Tensor &positions)
{
    const int64_t C = hidden.size(-1);
    const auto flat = hidden.reshape({-1, C}); // [B*T, C]
    torch::Tensor index = positions;
    if (positions.scalar_type() == torch::kBool)
        index = positions.reshape({-1}).nonzero().squeeze(1);
    const auto rows = flat.index_select(0, index.to(torch::kLong).to(hidden.device())); // [N, C]
    return logits(rows);                                                               // [N, V]
}

torch::Tensor Qwen2ForCausalLMImpl::logitsForRows(const torch::Tensor &hidden,
                                                  const torch::Tensor &rowIds)
{
    const auto w = headWeight().index_select(0, rowIds.to(torch::kLong).to(hidden.device()));
    return torch::linear(hidden, w.to(hidden.scalar_type())); // [..., R]
}

void Qwen2ForCausalLMImpl::initParameters(double std)
{
    torch::NoGradGuard noGrad;
    for (auto &item : named_parameters()) {
        const std::string &name = item.key();
        auto &p = item.value();
        if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0)
            p.zero_();
        else if (name.find("norm.") != std::string::npos)
            p.fill_(1.0);
        else
            p.normal_(0.0, std);
    }
}

std::vector<std::pair<std::string, torch::Tensor>> Qwen2ForCausalLMImpl::stateDict() const
{
    syncTrainedRows();
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto &item : named_parameters())
        out.emplace_back(item.key(), item.value().detach());
    return out;
}

StateDictLoadReport Qwen2ForCausalLMImpl::loadStateDict(
    const std::vector<std::pair<std::string, torch::Tensor>> &tensors, bool strict,
    const std::string &source)
{
    torch::NoGradGuard noGrad;
    auto params = named_parameters();
    StateDictLoadReport report;
    std::set<std::string> seen;
    for (const auto &[name, src] : tensors) {
        auto *param = params.find(name);
        if (!param) {
            const bool tiedHead = !lm_head && name == "lm_head.weight";
            const bool invFreq = name.size() > 9
                                 && name.compare(name.size() - 9, 9, ".inv_freq") == 0;
            (tiedHead || invFreq ? report.ignored : report.unexpected).push_back(name);
            continue;
        }
        if (param->sizes() != src.sizes()) {
            std::ostringstream msg;
            msg << source << ": tensor " << name << " has shape " << src.sizes()
                << " but the model expects " << param->sizes();
            core::throwBadInput(msg.str(), "check that config.json belongs to these weights");
        }
        param->copy_(src);
        seen.insert(name);
        report.loaded.push_back(name);
    }
    for (const auto &item : params)
        if (!seen.count(item.key()))
            report.missing.push_back(item.key());
    std::sort(report.missing.begin(), report.missing.end());
    std::sort(report.unexpected.begin(), report.unexpected.end());
    if (strict && (!report.missing.empty() || !report.unexpected.empty())) {
        const auto list = [](const std::vector<std::string> &names) {
            std::string s;
            for (size_t i = 0; i < names.size() && i < 8; ++i)
                s += (i ? ", " : "") + names[i];
            if (names.size() > 8)
                s += ", …";
            return s;
        };
        std::string msg = source + ": state dict does not match the model:";
        if (!report.missing.empty())
            msg += " missing " + std::to_string(report.missing.size()) + " (" +
                   list(report.missing) + ")";
        if (!report.unexpected.empty())
            msg += std::string(report.missing.empty() ? "" : ";") + " unexpected " +
                   std::to_string(report.unexpected.size()) + " (" + list(report.unexpected) +
                   ")";
        core::throwBadInput(msg, "check that config.json belongs to these weights");
    }
    return report;
}

void Qwen2ForCausalLMImpl::resizeTokenEmbeddings(int64_t newRows)
{
    if (newRows <= 0)
        core::throwBadInput("resizeTokenEmbeddings: row count must be positive, got " +
                            std::to_string(newRows));
    torch::NoGradGuard noGrad;
    const auto resize = [newRows](torch::Tensor &param) {
        const int64_t old = param.size(0);
        if (old == newRows)
            return;
        torch::Tensor data;
        if (newRows < old) {
            data = param.narrow(0, 0, newRows).clone();
        } else {
            data = torch::empty({newRows, param.size(1)}, param.options());
            data.narrow(0, 0, old).copy_(param);
            const auto mean = param.to(torch::kDouble).mean(0).to(param.scalar_type()); // [C]
            data.narrow(0, old, newRows - old).copy_(mean.unsqueeze(0).expand(
                {newRows - old, param.size(1)}));
        }
        param.mutable_grad() = torch::Tensor();
        param.set_data(data);
    };
    resize(model->embed_tokens->weight);
    if (lm_head)
        resize(lm_head->weight);
    m_config.vocabSize = newRows;
}

torch::Tensor causalLmLoss(Qwen2ForCausalLMImpl &model, const torch::Tensor &hidden,
                           const torch::Tensor &labels)
{
    const int64_t T = hidden.size(1);
    const auto target = labels.to(torch::kLong).to(hidden.device()).narrow(1, 1, T - 1); // [B, T-1]
    const auto supervised = target.ne(kIgnoreIndex);                                     // [B, T-1]
    const auto where = supervised.nonzero();                                             // [N, 2]
    if (where.size(0) == 0)
        return hidden.sum().to(torch::kFloat) * 0.0;
    const auto flat = where.select(1, 0) * T + where.select(1, 1); // [N] indices into B*T
    const auto logits = model.logitsAt(hidden, flat);              // [N, V]
    const auto targets = target.masked_select(supervised);          // [N]
    if (model.fusedKernels() && fused::applies(logits))
        return fused::crossEntropy(logits, targets, /*gradInPlace=*/true); // logits are ours
    return torch::cross_entropy_loss(logits.to(torch::kFloat), targets);
}

// ---------------------------------------------------------------------------------------------
// KvCache
// ---------------------------------------------------------------------------------------------

int64_t KvCache::batchSize() const
{
    return m_mask.defined() ? m_mask.size(0) : 0;
}

std::pair<torch::Tensor, torch::Tensor> KvCache::append(int64_t layer, const torch::Tensor &k,
                                                        const torch::Tensor &v)
{
    if (static_cast<int64_t>(m_layers.size()) <= layer)
        m_layers.resize(layer + 1);
    Layer &l = m_layers[layer];
    const int64_t T = k.size(2), need = m_length + T;
    const int64_t capacity = l.k.defined() ? l.k.size(2) : 0;
    if (capacity < need) {
        const int64_t grown = std::max(need + 16, 2 * capacity);
        auto nk = torch::empty({k.size(0), k.size(1), grown, k.size(3)}, k.options());
        auto nv = torch::empty({v.size(0), v.size(1), grown, v.size(3)}, v.options());
        if (m_length > 0) {
            nk.narrow(2, 0, m_length).copy_(l.k.narrow(2, 0, m_length));
            nv.narrow(2, 0, m_length).copy_(l.v.narrow(2, 0, m_length));
        }
        l.k = nk;
        l.v = nv;
    }
    l.k.narrow(2, m_length, T).copy_(k);
    l.v.narrow(2, m_length, T).copy_(v);
    return {l.k.narrow(2, 0, need), l.v.narrow(2, 0, need)};
}

void KvCache::commit(const torch::Tensor &newMask)
{
    m_mask = m_mask.defined() ? torch::cat({m_mask, newMask}, 1) : newMask;
    m_length += newMask.size(1);
    m_unpadded = m_unpadded && allOnes(newMask);
}

void KvCache::reorderRows(const torch::Tensor &rows)
{
    if (!m_mask.defined())
        return;
    const auto index = rows.to(torch::kLong).to(m_mask.device());
    for (auto &l : m_layers) {
        l.k = l.k.index_select(0, index);
        l.v = l.v.index_select(0, index);
    }
    m_mask = m_mask.index_select(0, index);
}

void KvCache::expandRows(int64_t factor)
{
    if (!m_mask.defined() || factor == 1)
        return;
    const auto rows = torch::arange(m_mask.size(0), torch::TensorOptions().dtype(torch::kLong)
                                                        .device(m_mask.device()))
                          .repeat_interleave(factor);
    reorderRows(rows);
}

void KvCache::clear()
{
    m_layers.clear();
    m_mask = torch::Tensor();
    m_length = 0;
    m_unpadded = true;
}

} // namespace genrec::train
