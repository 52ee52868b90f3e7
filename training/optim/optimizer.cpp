#include "training/optim/optimizer.h"

#include "core/common/error.h"
#include "core/config/run_config.h"
#include "training/io/hf_folder_torch.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace genrec::train {

OptimizerOptions OptimizerOptions::fromTrainArgs(const core::TrainArgs &a)
{
    OptimizerOptions o;
    o.kind = a.optim;
    o.learningRate = a.learningRate;
    o.weightDecay = a.weightDecay;
    o.beta1 = a.adamBeta1;
    o.beta2 = a.adamBeta2;
    o.eps = a.adamEpsilon;
    return o;
}

namespace {

/// Where m and v live. load() returns fp32 tensors [R, ...] the step may update in place;
/// store() is called after the update.
class StateStore
{
public:
    virtual ~StateStore() = default;
    virtual void load(size_t i, torch::Tensor &m, torch::Tensor &v) = 0;
    virtual void store(size_t i, const torch::Tensor &m, const torch::Tensor &v) = 0;
    virtual int64_t bytes() const = 0;
    /// Named raw tensors for save(); load from the same names.
    virtual StateDict raw() const = 0;
    virtual void restore(const StateDict &d) = 0;
};

torch::Tensor need(const StateDict &d, const std::string &key, const torch::Tensor &like)
{
    auto it = d.find(key);
    if (it == d.end())
        core::throwBadInput("optimizer state: missing " + key, "resume with the same settings");
    if (it->second.sizes() != like.sizes())
        core::throwBadInput("optimizer state: " + key + " has a different shape");
    return it->second;
}

/// fp32 tensors in ordinary memory (adamw_torch).
class Fp32Store : public StateStore
{
public:
    explicit Fp32Store(const std::vector<std::vector<int64_t>> &shapes, torch::Device dev)
    {
        for (const auto &s : shapes) {
            m.push_back(torch::zeros(s, torch::TensorOptions().dtype(torch::kFloat).device(dev)));
            v.push_back(torch::zeros_like(m.back()));
        }
    }
    void load(size_t i, torch::Tensor &mm, torch::Tensor &vv) override { mm = m[i]; vv = v[i]; }
    void store(size_t, const torch::Tensor &, const torch::Tensor &) override {}
    int64_t bytes() const override
    {
        int64_t b = 0;
        for (size_t i = 0; i < m.size(); ++i)
            b += 4 * (m[i].numel() + v[i].numel());
        return b;
    }
    StateDict raw() const override
    {
        StateDict d;
        for (size_t i = 0; i < m.size(); ++i) {
            d[std::to_string(i) + ".exp_avg"] = m[i];
            d[std::to_string(i) + ".exp_avg_sq"] = v[i];
        }
        return d;
    }
    void restore(const StateDict &d) override
    {
        torch::NoGradGuard g;
        for (size_t i = 0; i < m.size(); ++i) {
            m[i].copy_(need(d, std::to_string(i) + ".exp_avg", m[i]));
            v[i].copy_(need(d, std::to_string(i) + ".exp_avg_sq", v[i]));
        }
    }

protected:
    Fp32Store() = default;
    std::vector<torch::Tensor> m, v;
};

/// fp32 states inside one MAP_SHARED mapping of an unlinked temporary file (paged_adamw_32bit):
/// the kernel may write cold state pages back to the file and drop them from RAM under memory
/// pressure, and fault them back in on the next step. The file is unlinked right after creation,
/// so it disappears with the process.
class PagedStore : public Fp32Store
{
public:
    PagedStore(const std::vector<std::vector<int64_t>> &shapes, const std::string &dirIn)
    {
        int64_t total = 0;
        std::vector<int64_t> counts;
        for (const auto &s : shapes) {
            int64_t n = 1;
            for (auto d : s)
                n *= d;
            counts.push_back(n);
            total += 2 * n;
        }
        m_len = std::max<int64_t>(total * 4, 4096);
        std::string dir = dirIn;
        if (dir.empty()) {
            const char *t = std::getenv("TMPDIR");
            dir = t && *t ? t : "/tmp";
        }
        std::string tmpl = dir + "/genrec-paged-adamw-XXXXXX";
        const int fd = ::mkstemp(tmpl.data());
        if (fd < 0)
            core::throwRuntime("paged_adamw_32bit: cannot create a state file in " + dir);
        ::unlink(tmpl.c_str());
        if (::ftruncate(fd, m_len) != 0) {
            ::close(fd);
            core::throwRuntime("paged_adamw_32bit: cannot size the state file in " + dir);
        }
        m_ptr = ::mmap(nullptr, m_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (m_ptr == MAP_FAILED)
            core::throwRuntime("paged_adamw_32bit: mmap of the state file failed");
        auto *base = static_cast<float *>(m_ptr); // zero-filled by ftruncate
        for (size_t i = 0; i < shapes.size(); ++i) {
            m.push_back(torch::from_blob(base, shapes[i], torch::kFloat));
            base += counts[i];
            v.push_back(torch::from_blob(base, shapes[i], torch::kFloat));
            base += counts[i];
        }
    }
    ~PagedStore() override
    {
        m.clear();
        v.clear();
        if (m_ptr && m_ptr != MAP_FAILED)
            ::munmap(m_ptr, m_len);
    }

private:
    void *m_ptr = nullptr;
    int64_t m_len = 0;
};

/// Blockwise 8-bit states (adamw_8bit). Each block of `block` elements keeps one fp32 absmax and
/// uint8 codes. The values are companded before linear coding so that small entries of a block
/// keep resolution: m (signed): code = 127·sign·√(|m|/absmax) + 128; v (≥ 0):
/// code = 255·(v/absmax)^¼. Decoding inverts that. Dequantise → fp32 update → requantise.
class EightBitStore : public StateStore
{
public:
    EightBitStore(const std::vector<std::vector<int64_t>> &shapes, torch::Device dev, int64_t block)
        : m_block(block)
    {
        for (const auto &s : shapes) {
            int64_t n = 1;
            for (auto d : s)
                n *= d;
            const int64_t nb = (n + block - 1) / block;
            auto u8 = torch::TensorOptions().dtype(torch::kUInt8).device(dev);
            auto f = torch::TensorOptions().dtype(torch::kFloat).device(dev);
            Slot sl;
            sl.shape = s;
            sl.n = n;
            sl.mCodes = torch::full({nb * block}, 128, u8);
            sl.vCodes = torch::zeros({nb * block}, u8);
            sl.mScale = torch::zeros({nb}, f);
            sl.vScale = torch::zeros({nb}, f);
            m_slots.push_back(sl);
        }
    }
    void load(size_t i, torch::Tensor &mm, torch::Tensor &vv) override
    {
        const auto &s = m_slots[i];
        const int64_t nb = s.mScale.numel();
        const auto mc = (s.mCodes.to(torch::kFloat) - 128.0).div(127.0).view({nb, m_block});
        mm = (mc.sign() * mc.pow(2) * s.mScale.unsqueeze(1)).view({-1}).narrow(0, 0, s.n).view(s.shape);
        const auto vc = s.vCodes.to(torch::kFloat).div(255.0).view({nb, m_block});
        vv = (vc.pow(4) * s.vScale.unsqueeze(1)).view({-1}).narrow(0, 0, s.n).view(s.shape).clone();
        mm = mm.clone();
    }
    void store(size_t i, const torch::Tensor &mm, const torch::Tensor &vv) override
    {
        auto &s = m_slots[i];
        const int64_t nb = s.mScale.numel();
        auto blocks = [&](const torch::Tensor &t) {
            auto f = t.reshape({-1});
            if (nb * m_block != s.n)
                f = torch::cat({f, torch::zeros({nb * m_block - s.n}, f.options())});
            return f.view({nb, m_block}); // [nb, block]
        };
        const auto mb = blocks(mm), vb = blocks(vv);
        s.mScale = mb.abs().amax(1);
        s.vScale = vb.amax(1);
        const auto mn = mb / s.mScale.clamp_min(1e-30).unsqueeze(1);  // [-1, 1]
        s.mCodes = (mn.sign() * mn.abs().sqrt() * 127.0).round().add(128).clamp(1, 255)
                       .to(torch::kUInt8).view({-1});
        const auto vn = vb / s.vScale.clamp_min(1e-30).unsqueeze(1);  // [0, 1]
        s.vCodes = (vn.pow(0.25) * 255.0).round().clamp(0, 255).to(torch::kUInt8).view({-1});
    }
    int64_t bytes() const override
    {
        int64_t b = 0;
        for (const auto &s : m_slots)
            b += s.mCodes.numel() + s.vCodes.numel() + 4 * (s.mScale.numel() + s.vScale.numel());
        return b;
    }
    StateDict raw() const override
    {
        StateDict d;
        for (size_t i = 0; i < m_slots.size(); ++i) {
            const auto k = std::to_string(i);
            d[k + ".exp_avg.codes"] = m_slots[i].mCodes;
            d[k + ".exp_avg.absmax"] = m_slots[i].mScale;
            d[k + ".exp_avg_sq.codes"] = m_slots[i].vCodes;
            d[k + ".exp_avg_sq.absmax"] = m_slots[i].vScale;
        }
        return d;
    }
    void restore(const StateDict &d) override
    {
        for (size_t i = 0; i < m_slots.size(); ++i) {
            const auto k = std::to_string(i);
            auto &s = m_slots[i];
            s.mCodes = need(d, k + ".exp_avg.codes", s.mCodes).to(s.mCodes.device());
            s.mScale = need(d, k + ".exp_avg.absmax", s.mScale).to(s.mScale.device());
            s.vCodes = need(d, k + ".exp_avg_sq.codes", s.vCodes).to(s.vCodes.device());
            s.vScale = need(d, k + ".exp_avg_sq.absmax", s.vScale).to(s.vScale.device());
        }
    }

private:
    struct Slot
    {
        std::vector<int64_t> shape;
        int64_t n = 0;
        torch::Tensor mCodes, vCodes, mScale, vScale;
    };
    int64_t m_block;
    std::vector<Slot> m_slots;
};

class AdamW : public Optimizer
{
public:
    AdamW(const std::vector<ParamGroup> &groups, const OptimizerOptions &o) : m_opts(o)
    {
        std::vector<std::vector<int64_t>> shapes;
        torch::Device dev = torch::kCPU;
        for (const auto &g : groups) {
            for (size_t i = 0; i < g.params.size(); ++i) {
                Entry e;
                e.p = g.params[i];
                e.rows = i < g.rows.size() ? g.rows[i] : torch::Tensor();
                e.decay = g.decay;
                auto shape = e.p.sizes().vec();
                if (e.rows.defined())
                    shape[0] = e.rows.numel();
                shapes.push_back(shape);
                dev = e.p.device();
                m_entries.push_back(e);
            }
        }
        if (o.kind == "adamw_torch")
            m_store = std::make_unique<Fp32Store>(shapes, dev);
        else if (o.kind == "adamw_8bit")
            m_store = std::make_unique<EightBitStore>(shapes, dev, o.blockSize);
        else if (o.kind == "paged_adamw_32bit")
            m_store = std::make_unique<PagedStore>(shapes, o.pagedDir);
        else
            core::throwBadInput("optim must be adamw_torch, adamw_8bit or paged_adamw_32bit, got '"
                                + o.kind + "'");
    }

    void step() override
    {
        torch::NoGradGuard noGrad;
        ++m_step;
        const double bc1 = 1.0 - std::pow(m_opts.beta1, double(m_step));
        const double bc2 = 1.0 - std::pow(m_opts.beta2, double(m_step));
        const double lr = m_opts.learningRate;
        for (size_t i = 0; i < m_entries.size(); ++i) {
            auto &e = m_entries[i];
            auto grad = e.p.grad();
            if (!grad.defined())
                continue;
            torch::Tensor m, v;
            m_store->load(i, m, v);
            const auto dev = m.device();
            auto g = (e.rows.defined() ? grad.index_select(0, e.rows) : grad).to(dev, torch::kFloat);
            auto p = (e.rows.defined() ? e.p.index_select(0, e.rows) : e.p).to(dev, torch::kFloat);
            m.mul_(m_opts.beta1).add_(g, 1.0 - m_opts.beta1);
            v.mul_(m_opts.beta2).addcmul_(g, g, 1.0 - m_opts.beta2);
            if (e.decay && m_opts.weightDecay != 0)
                p.mul_(1.0 - lr * m_opts.weightDecay);
            const auto denom = (v / bc2).sqrt_().add_(m_opts.eps);
            p.addcdiv_(m, denom, -lr / bc1);
            m_store->store(i, m, v);
            const auto out = p.to(e.p.device(), e.p.scalar_type());
            if (e.rows.defined())
                e.p.index_copy_(0, e.rows, out);
            else if (!out.is_same(e.p))
                e.p.copy_(out);
        }
    }

    void zeroGrad() override
    {
        for (auto &e : m_entries)
            e.p.mutable_grad() = torch::Tensor();
    }
    void setLearningRate(double lr) override { m_opts.learningRate = lr; }
    double learningRate() const override { return m_opts.learningRate; }
    int64_t stepCount() const override { return m_step; }
    int64_t stateBytes() const override { return m_store->bytes(); }

    void save(const std::string &dir) const override
    {
        std::filesystem::create_directories(dir);
        saveSafetensors(dir + "/optimizer.safetensors", m_store->raw(), DType::F32, {{"format", "pt"}});
        nlohmann::json j = {{"kind", m_opts.kind}, {"step", m_step}, {"lr", m_opts.learningRate},
                            {"params", m_entries.size()}, {"block_size", m_opts.blockSize}};
        std::ofstream f(dir + "/optimizer.json");
        f << j.dump(2) << "\n";
        if (!f)
            core::throwRuntime("cannot write " + dir + "/optimizer.json");
    }

    void load(const std::string &dir) override
    {
        std::ifstream f(dir + "/optimizer.json");
        if (!f)
            core::throwBadInput("cannot read " + dir + "/optimizer.json");
        nlohmann::json j;
        try {
            f >> j;
        } catch (const std::exception &ex) {
            core::throwBadInput(dir + "/optimizer.json: " + ex.what());
        }
        if (j.value("kind", "") != m_opts.kind)
            core::throwBadInput(dir + "/optimizer.json: saved by " + j.value("kind", "?")
                                + ", resuming with " + m_opts.kind);
        if (j.value("params", size_t(0)) != m_entries.size())
            core::throwBadInput(dir + "/optimizer.json: parameter count differs");
        m_store->restore(loadSafetensors(dir + "/optimizer.safetensors"));
        m_step = j.value("step", int64_t(0));
    }

private:
    struct Entry
    {
        torch::Tensor p, rows;
        bool decay = true;
    };
    OptimizerOptions m_opts;
    std::vector<Entry> m_entries;
    std::unique_ptr<StateStore> m_store;
    int64_t m_step = 0;
};

} // namespace

std::unique_ptr<Optimizer> makeOptimizer(const std::vector<ParamGroup> &groups,
                                         const OptimizerOptions &options)
{
    return std::make_unique<AdamW>(groups, options);
}

} // namespace genrec::train
