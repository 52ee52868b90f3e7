#include "training/dist/data_parallel.h"

#include "core/common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace genrec::train::dist {

namespace {

struct Entry
{
    torch::Tensor p;
    torch::Tensor rows;          ///< undefined = all rows
    bool decay = true;
    int64_t count = 0;           ///< trained elements
    int64_t offset = 0;          ///< in the flat layout
    std::vector<int64_t> selShape; ///< shape of the trained selection
};

/// The trained selection of `t` (param or grad), flat, fp32, on `dev`.
torch::Tensor selectionFlat(const Entry &e, const torch::Tensor &t)
{
    auto s = e.rows.defined() ? t.index_select(0, e.rows) : t;
    return s.reshape({-1}).to(torch::kFloat);
}

/// Writes flat fp32 values into the trained selection of `t`.
void writeSelection(const Entry &e, torch::Tensor &t, const torch::Tensor &flat)
{
    auto v = flat.view(e.selShape).to(t.scalar_type());
    if (e.rows.defined())
        t.index_copy_(0, e.rows, v);
    else
        t.copy_(v);
}

torch::Tensor gradOrZeros(Entry &e)
{
    if (!e.p.grad().defined())
        e.p.mutable_grad() = torch::zeros_like(e.p);
    return e.p.grad();
}

} // namespace

struct DataParallel::State
{
    ProcessGroupContext *group = nullptr;
    int stage = 0;
    int64_t bucketElems = 0;
    std::vector<ParamGroup> groups; ///< as given (stage 0 optimiser: same state keys as one process)
    std::vector<Entry> entries;
    int64_t total = 0;        ///< L
    int64_t shard = 0;        ///< S = ceil(L / W)
    torch::Tensor gradShard;  ///< stage 2: [S] fp32, averaged gradient of this rank's shard
    bool haveShardGrad = false;

    int64_t shardBegin() const { return std::min(total, int64_t(group->rank()) * shard); }
    int64_t shardEnd() const { return std::min(total, int64_t(group->rank() + 1) * shard); }

    /// Copies flat grads [a, b) (of the padded layout) into out (zeros past L).
    void packGrads(int64_t a, int64_t b, torch::Tensor out)
    {
        out.zero_();
        for (auto &e : entries) {
            const int64_t lo = std::max(a, e.offset), hi = std::min(b, e.offset + e.count);
            if (lo >= hi || !e.p.grad().defined())
                continue;
            auto g = e.p.grad();
            auto sel = e.rows.defined() ? g.index_select(0, e.rows).reshape({-1}) : g.reshape({-1});
            out.narrow(0, lo - a, hi - lo).copy_(sel.narrow(0, lo - e.offset, hi - lo));
        }
    }

    void writeDataParallelJson(const std::string &dir) const
    {
        nlohmann::json j = {{"world_size", group->worldSize()}, {"zero_stage", stage}, {"trainable_elements", total}};
        std::ofstream f(fs::path(dir) / "data_parallel.json");
        f << j.dump(2) << "\n";
        if (!f)
            core::throwRuntime("cannot write " + dir + "/data_parallel.json");
    }

    void checkDataParallelJson(const std::string &dir) const
    {
        const auto path = fs::path(dir) / "data_parallel.json";
        std::ifstream f(path);
        if (!f)
            core::throwBadInput("checkpoint " + dir + " was written by a single process, resuming with " +
                                    std::to_string(group->worldSize()) + " ranks",
                                "resume it with nproc_per_node: 1 (the world size of a run cannot change)");
        nlohmann::json j;
        try {
            f >> j;
        } catch (const std::exception &ex) {
            core::throwBadInput(path.string() + ": " + ex.what());
        }
        const int w = j.value("world_size", 0);
        if (w != group->worldSize())
            core::throwBadInput("checkpoint " + dir + " was written by " + std::to_string(w) + " ranks, resuming with " +
                                    std::to_string(group->worldSize()),
                                "resume with nproc_per_node: " + std::to_string(w) +
                                    " (the global batch, data order and ZeRO shards depend on the world size)");
        if (j.value("zero_stage", -1) != stage)
            core::throwBadInput("checkpoint " + dir + " was written with zero_stage " +
                                    std::to_string(j.value("zero_stage", -1)) + ", resuming with " + std::to_string(stage),
                                "resume with the same zero_stage");
        if (j.value("trainable_elements", int64_t(-1)) != total)
            core::throwBadInput("checkpoint " + dir + ": trainable parameter layout differs",
                                "resume with the same model and finetuning_type");
    }
};

namespace {

/// Stage 0: the ordinary optimiser on every rank; rank 0 saves.
class ReplicatedOptimizer : public Optimizer
{
public:
    ReplicatedOptimizer(std::shared_ptr<DataParallel::State> st, std::unique_ptr<Optimizer> inner)
        : m_st(std::move(st)), m_inner(std::move(inner))
    {
    }
    void step() override { m_inner->step(); }
    void zeroGrad() override { m_inner->zeroGrad(); }
    void setLearningRate(double lr) override { m_inner->setLearningRate(lr); }
    double learningRate() const override { return m_inner->learningRate(); }
    int64_t stepCount() const override { return m_inner->stepCount(); }
    int64_t stateBytes() const override { return m_inner->stateBytes(); }
    void save(const std::string &dirIn) const override
    {
        const std::string dir = m_st->group->broadcastString(dirIn);
        if (m_st->group->rank() == 0) {
            m_inner->save(dir);
            m_st->writeDataParallelJson(dir);
        }
        m_st->group->barrier();
    }
    void load(const std::string &dirIn) override
    {
        const std::string dir = m_st->group->broadcastString(dirIn);
        m_st->checkDataParallelJson(dir);
        m_inner->load(dir);
    }

private:
    std::shared_ptr<DataParallel::State> m_st;
    std::unique_ptr<Optimizer> m_inner;
};

/// Stage 2: AdamW over this rank's shard of the flat layout. The shard is cut into segments (one
/// per parameter it touches); each segment is an fp32 stand-in tensor the inner optimiser (the
/// same makeOptimizer() code) updates; the results are all-gathered into the real parameters.
class ShardedOptimizer : public Optimizer
{
public:
    ShardedOptimizer(std::shared_ptr<DataParallel::State> st, const OptimizerOptions &o) : m_st(std::move(st))
    {
        const int64_t a = m_st->shardBegin(), b = m_st->shardEnd();
        ParamGroup decay, noDecay;
        decay.name = "decay";
        noDecay.name = "no_decay";
        noDecay.decay = false;
        const auto dev = m_st->group->device();
        for (size_t i = 0; i < m_st->entries.size(); ++i) {
            const auto &e = m_st->entries[i];
            const int64_t lo = std::max(a, e.offset), hi = std::min(b, e.offset + e.count);
            if (lo >= hi)
                continue;
            Segment s;
            s.entry = i;
            s.begin = lo - e.offset;
            s.length = hi - lo;
            s.shardOffset = lo - a;
            s.standIn = torch::zeros({s.length}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
            s.standIn.set_requires_grad(true);
            auto &g = e.decay ? decay : noDecay;
            g.names.push_back("shard." + std::to_string(i));
            g.params.push_back(s.standIn);
            g.rows.emplace_back();
            m_segments.push_back(s);
        }
        std::vector<ParamGroup> groups;
        if (!decay.params.empty())
            groups.push_back(decay);
        if (!noDecay.params.empty())
            groups.push_back(noDecay);
        m_inner = train::makeOptimizer(groups, o);
    }

    void step() override
    {
        torch::NoGradGuard noGrad;
        auto &st = *m_st;
        if (!st.haveShardGrad)
            core::throwRuntime("zero_stage 2: optimizer step without syncGradients()");
        for (auto &s : m_segments) {
            const auto &e = st.entries[s.entry];
            s.standIn.copy_(selectionFlat(e, e.p).narrow(0, s.begin, s.length));
            s.standIn.mutable_grad() = st.gradShard.narrow(0, s.shardOffset, s.length);
        }
        m_inner->step();
        // all-gather the updated shards: [W][S] → the real parameters
        auto send = torch::zeros({st.shard}, torch::TensorOptions().dtype(torch::kFloat).device(st.group->device()));
        for (const auto &s : m_segments)
            send.narrow(0, s.shardOffset, s.length).copy_(s.standIn);
        std::vector<torch::Tensor> parts;
        st.group->allgather(send, parts);
        const auto full = torch::cat(parts).narrow(0, 0, st.total);
        for (auto &e : st.entries) {
            auto data = e.p.detach();
            writeSelection(e, data, full.narrow(0, e.offset, e.count).to(e.p.device()));
        }
    }

    void zeroGrad() override
    {
        for (auto &e : m_st->entries)
            e.p.mutable_grad() = torch::Tensor();
        for (auto &s : m_segments)
            s.standIn.mutable_grad() = torch::Tensor();
        m_st->haveShardGrad = false;
    }
    void setLearningRate(double lr) override { m_inner->setLearningRate(lr); }
    double learningRate() const override { return m_inner->learningRate(); }
    int64_t stepCount() const override { return m_inner->stepCount(); }
    int64_t stateBytes() const override { return m_inner->stateBytes(); }

    void save(const std::string &dirIn) const override
    {
        auto &g = *m_st->group;
        const std::string dir = g.broadcastString(dirIn);
        m_inner->save((fs::path(dir) / "zero2" / ("rank" + std::to_string(g.rank()))).string());
        g.barrier();
        if (g.rank() == 0)
            m_st->writeDataParallelJson(dir);
        g.barrier();
    }
    void load(const std::string &dirIn) override
    {
        auto &g = *m_st->group;
        const std::string dir = g.broadcastString(dirIn);
        m_st->checkDataParallelJson(dir);
        m_inner->load((fs::path(dir) / "zero2" / ("rank" + std::to_string(g.rank()))).string());
    }

private:
    struct Segment
    {
        size_t entry = 0;
        int64_t begin = 0, length = 0, shardOffset = 0;
        torch::Tensor standIn;
    };
    std::shared_ptr<DataParallel::State> m_st;
    std::vector<Segment> m_segments;
    std::unique_ptr<Optimizer> m_inner;
};

} // namespace

DataParallel::DataParallel(ProcessGroupContext &group, const std::vector<ParamGroup> &groups, int zeroStage,
                           int64_t bucketBytes)
    : m_state(std::make_shared<State>())
{
    if (zeroStage != 0 && zeroStage != 2)
        core::throwBadInput("zero_stage must be 0 or 2, got " + std::to_string(zeroStage));
    auto &st = *m_state;
    st.group = &group;
    st.stage = zeroStage;
    st.bucketElems = std::max<int64_t>(1024, bucketBytes / 4);
    st.groups = groups;
    for (const auto &g : groups)
        for (size_t i = 0; i < g.params.size(); ++i) {
            Entry e;
            e.p = g.params[i];
            e.rows = i < g.rows.size() ? g.rows[i] : torch::Tensor();
            e.decay = g.decay;
            e.selShape = e.p.sizes().vec();
            if (e.rows.defined())
                e.selShape[0] = e.rows.numel();
            e.count = 1;
            for (auto d : e.selShape)
                e.count *= d;
            e.offset = st.total;
            st.total += e.count;
            st.entries.push_back(e);
        }
    const int64_t w = group.worldSize();
    st.shard = (st.total + w - 1) / w;
    // Every rank starts from rank 0's weights (as DDP does).
    torch::NoGradGuard noGrad;
    for (auto &e : st.entries) {
        auto data = e.p.detach();
        auto buf = data.to(group.device(), torch::kFloat).contiguous();
        group.broadcast(buf, 0);
        data.copy_(buf.to(data.device(), data.scalar_type()));
    }
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const { return m_state->group->rank(); }
int DataParallel::worldSize() const { return m_state->group->worldSize(); }
int DataParallel::zeroStage() const { return m_state->stage; }
ProcessGroupContext &DataParallel::group() { return *m_state->group; }
int64_t DataParallel::trainableElements() const { return m_state->total; }
std::pair<int64_t, int64_t> DataParallel::shardRange() const
{
    if (m_state->stage == 0)
        return {0, m_state->total};
    return {m_state->shardBegin(), m_state->shardEnd()};
}

void DataParallel::syncGradients()
{
    torch::NoGradGuard noGrad;
    auto &st = *m_state;
    auto &g = *st.group;
    const double inv = 1.0 / double(g.worldSize());
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(g.device());
    if (st.stage == 0) {
        // Buckets of whole tensors (one tensor larger than a bucket is a bucket of its own).
        size_t i = 0;
        while (i < st.entries.size()) {
            size_t j = i;
            int64_t n = 0;
            while (j < st.entries.size() && (j == i || n + st.entries[j].count <= st.bucketElems))
                n += st.entries[j++].count;
            auto buf = torch::empty({n}, f32);
            st.packGrads(st.entries[i].offset, st.entries[i].offset + n, buf);
            g.allreduceSum(buf);
            buf.mul_(inv);
            for (size_t k = i; k < j; ++k) {
                auto &e = st.entries[k];
                auto grad = gradOrZeros(e);
                writeSelection(e, grad, buf.narrow(0, e.offset - st.entries[i].offset, e.count).to(e.p.device()));
            }
            i = j;
        }
        return;
    }
    // Stage 2: bucketed reduce-scatter. Round k reduces piece k of every shard at once.
    const int64_t w = g.worldSize(), S = st.shard;
    st.gradShard = torch::zeros({S}, f32);
    const int64_t piece = std::max<int64_t>(1, std::min(S, st.bucketElems / w));
    for (int64_t k0 = 0; k0 < S; k0 += piece) {
        const int64_t len = std::min(piece, S - k0);
        auto buf = torch::empty({w * len}, f32);
        for (int64_t r = 0; r < w; ++r)
            st.packGrads(r * S + k0, r * S + k0 + len, buf.narrow(0, r * len, len));
        g.reduceScatterSum(buf);
        st.gradShard.narrow(0, k0, len).copy_(buf.narrow(0, g.rank() * len, len)).mul_(inv);
    }
    // ZeRO-2: the full gradients are no longer needed on this rank.
    for (auto &e : st.entries)
        e.p.mutable_grad() = torch::Tensor();
    st.haveShardGrad = true;
}

double DataParallel::clipGradNorm(double maxNorm)
{
    torch::NoGradGuard noGrad;
    auto &st = *m_state;
    double norm = 0;
    if (st.stage == 0) {
        double sq = 0;
        for (auto &e : st.entries)
            if (e.p.grad().defined())
                sq += (e.rows.defined() ? e.p.grad().index_select(0, e.rows) : e.p.grad())
                          .to(torch::kFloat64).pow(2).sum().item<double>();
        norm = std::sqrt(sq);
        if (maxNorm > 0 && std::isfinite(norm) && norm > maxNorm) {
            const double scale = maxNorm / (norm + 1e-6);
            for (auto &e : st.entries)
                if (e.p.grad().defined())
                    e.p.mutable_grad().mul_(scale);
        }
        return norm;
    }
    if (!st.haveShardGrad)
        core::throwRuntime("zero_stage 2: clipGradNorm() before syncGradients()");
    const double local = st.gradShard.to(torch::kFloat64).pow(2).sum().item<double>();
    norm = std::sqrt(st.group->allreduceSum(local));
    if (maxNorm > 0 && std::isfinite(norm) && norm > maxNorm)
        st.gradShard.mul_(maxNorm / (norm + 1e-6));
    return norm;
}

std::unique_ptr<Optimizer> DataParallel::makeOptimizer(const OptimizerOptions &options)
{
    if (m_state->stage == 0) {
        return std::make_unique<ReplicatedOptimizer>(m_state, train::makeOptimizer(m_state->groups, options));
    }
    return std::make_unique<ShardedOptimizer>(m_state, options);
}

} // namespace genrec::train::dist
