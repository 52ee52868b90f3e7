#include "training/dist/process_group.h"

#include "core/common/error.h"

#include <torch/version.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/cuda.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace genrec::train::dist {

namespace {

// LibTorch 2.x splits ProcessGroup (the dispatcher) from Backend (Gloo, NCCL); 1.13 has the
// backends derive from ProcessGroup. Both expose the same collective methods.
#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif

int envInt(const char *name, int fallback, bool *present = nullptr)
{
    const char *v = std::getenv(name);
    if (present)
        *present = v && *v;
    if (!v || !*v)
        return fallback;
    char *end = nullptr;
    const long x = std::strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < 0 || x > 1 << 20)
        core::throwBadInput(std::string("environment variable ") + name + "='" + v + "' is not a non-negative integer",
                            "set it as torchrun does");
    return static_cast<int>(x);
}

ProcessGroupContext *&slot()
{
    static ProcessGroupContext *p = nullptr;
    return p;
}
std::unique_ptr<ProcessGroupContext> &owner()
{
    static std::unique_ptr<ProcessGroupContext> p;
    return p;
}

} // namespace

std::optional<DistSettings> DistSettings::fromEnv()
{
    bool hasWorld = false;
    DistSettings s;
    s.worldSize = envInt("WORLD_SIZE", 1, &hasWorld);
    if (!hasWorld || s.worldSize <= 1)
        return std::nullopt;
    s.rank = envInt("RANK", 0);
    s.localRank = envInt("LOCAL_RANK", s.rank);
    s.localWorldSize = envInt("LOCAL_WORLD_SIZE", s.worldSize);
    s.port = envInt("MASTER_PORT", s.port);
    if (const char *a = std::getenv("MASTER_ADDR"); a && *a)
        s.masterAddr = a;
    if (const char *d = std::getenv("GENREC_DIST_DEVICE"); d && *d)
        s.device = d;
    bool hasCuda = false;
    const int cudaDevice = envInt("GENREC_CUDA_DEVICE", -1, &hasCuda);
    if (hasCuda)
        s.cudaDevice = cudaDevice;
    if (s.rank >= s.worldSize)
        core::throwBadInput("RANK " + std::to_string(s.rank) + " is not below WORLD_SIZE " + std::to_string(s.worldSize));
    if (s.port <= 0 || s.port > 65535)
        core::throwBadInput("MASTER_PORT " + std::to_string(s.port) + " is not a TCP port");
    return s;
}

bool glooAvailable()
{
#ifdef USE_C10D_GLOO
    return true;
#else
    return false;
#endif
}

bool ncclAvailable()
{
#ifdef USE_C10D_NCCL
    return true;
#else
    return false;
#endif
}

struct ProcessGroupContext::Impl
{
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<BackendBase> pg;
    std::string backend;
    torch::Device device = torch::kCPU;

    void run(const c10::intrusive_ptr<c10d::Work> &w, const char *what)
    {
        try {
            w->wait();
        } catch (const std::exception &e) {
            core::throwRuntime(std::string("distributed ") + what + " failed: " + e.what(),
                               "a peer rank died or timed out; the launcher reports which");
        }
    }
};

ProcessGroupContext::ProcessGroupContext(const DistSettings &s) : m_settings(s), m_impl(std::make_unique<Impl>())
{
    if (s.worldSize < 1 || s.rank < 0 || s.rank >= s.worldSize)
        core::throwBadInput("distributed: rank " + std::to_string(s.rank) + " of world size " + std::to_string(s.worldSize));
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(s.port);
    so.isServer = s.rank == 0;
    so.numWorkers = static_cast<std::size_t>(s.worldSize);
    so.waitWorkers = true;
    so.timeout = s.timeout;
    try {
        m_impl->store = c10::make_intrusive<c10d::TCPStore>(s.masterAddr, so);
    } catch (const std::exception &e) {
        core::throwRuntime("distributed: rendezvous at " + s.masterAddr + ":" + std::to_string(s.port) + " failed: " + e.what(),
                           "check MASTER_ADDR / MASTER_PORT and that every rank was started");
    }
    bool useNccl = false;
#ifdef USE_C10D_NCCL
    useNccl = s.device == "cuda" && torch::cuda::is_available();
    if (useNccl) {
        m_impl->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(s.cudaDevice >= 0 ? s.cudaDevice : s.localRank));
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = s.timeout;
        m_impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(m_impl->store, s.rank, s.worldSize, opts);
        m_impl->backend = "nccl";
    }
#endif
    if (!useNccl) {
#ifdef USE_C10D_GLOO
        auto opts = c10d::ProcessGroupGloo::Options::create(s.timeout);
        if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
            opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else if (s.localWorldSize == s.worldSize) // one node: loopback
            opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
            opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        try {
            m_impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(m_impl->store, s.rank, s.worldSize, opts);
        } catch (const std::exception &e) {
            core::throwRuntime(std::string("distributed: Gloo process group failed: ") + e.what());
        }
        m_impl->backend = "gloo";
#else
        core::throwBadInput("distributed training needs c10d's Gloo backend, which this build lacks",
                            "build with the Gloo headers (Debian: libgloo-dev) or use one process");
#endif
    }
}

ProcessGroupContext::~ProcessGroupContext() = default;

std::string ProcessGroupContext::backendName() const { return m_impl->backend; }
torch::Device ProcessGroupContext::device() const { return m_impl->device; }

void ProcessGroupContext::allreduceSum(torch::Tensor &t)
{
    std::vector<torch::Tensor> v{t};
    m_impl->run(m_impl->pg->allreduce(v), "all-reduce");
}

void ProcessGroupContext::allreduceMax(torch::Tensor &t)
{
    std::vector<torch::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    m_impl->run(m_impl->pg->allreduce(v, o), "all-reduce");
}

void ProcessGroupContext::broadcast(torch::Tensor &t, int root)
{
    std::vector<torch::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    m_impl->run(m_impl->pg->broadcast(v, o), "broadcast");
}

void ProcessGroupContext::reduceSum(torch::Tensor &t, int root)
{
    std::vector<torch::Tensor> v{t};
    c10d::ReduceOptions o;
    o.rootRank = root;
    m_impl->run(m_impl->pg->reduce(v, o), "reduce");
}

void ProcessGroupContext::reduceScatterSum(torch::Tensor &flat)
{
    const int64_t w = worldSize();
    TORCH_CHECK(flat.dim() == 1 && flat.numel() % w == 0, "reduceScatterSum: flat buffer of world-size chunks");
    const int64_t chunk = flat.numel() / w;
    if (m_impl->backend == "nccl") {
        std::vector<torch::Tensor> out{flat.narrow(0, rank() * chunk, chunk)};
        std::vector<std::vector<torch::Tensor>> in(1);
        for (int64_t r = 0; r < w; ++r)
            in[0].push_back(flat.narrow(0, r * chunk, chunk));
        auto res = out[0].clone();
        std::vector<torch::Tensor> outs{res};
        m_impl->run(m_impl->pg->reduce_scatter(outs, in), "reduce-scatter");
        out[0].copy_(res);
        return;
    }
    for (int64_t r = 0; r < w; ++r) {
        auto part = flat.narrow(0, r * chunk, chunk); // contiguous view
        reduceSum(part, static_cast<int>(r));
    }
}

void ProcessGroupContext::allgather(const torch::Tensor &in, std::vector<torch::Tensor> &out)
{
    out.clear();
    for (int r = 0; r < worldSize(); ++r)
        out.push_back(torch::empty_like(in));
    std::vector<std::vector<torch::Tensor>> outs{out};
    std::vector<torch::Tensor> ins{in};
    m_impl->run(m_impl->pg->allgather(outs, ins), "all-gather");
    out = outs[0];
}

void ProcessGroupContext::barrier()
{
    // A tiny all-reduce: Gloo's barrier and NCCL's both work, this one also checks liveness.
    auto t = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(device()));
    allreduceSum(t);
}

double ProcessGroupContext::allreduceSum(double v)
{
    auto t = torch::full({1}, v, torch::TensorOptions().dtype(torch::kDouble).device(device()));
    allreduceSum(t);
    return t.cpu().item<double>();
}

int64_t ProcessGroupContext::allreduceSum(int64_t v)
{
    auto t = torch::full({1}, v, torch::TensorOptions().dtype(torch::kLong).device(device()));
    allreduceSum(t);
    return t.cpu().item<int64_t>();
}

bool ProcessGroupContext::anyRank(bool v)
{
    auto t = torch::full({1}, v ? 1 : 0, torch::TensorOptions().dtype(torch::kInt).device(device()));
    allreduceMax(t);
    return t.cpu().item<int>() != 0;
}

std::string ProcessGroupContext::broadcastString(const std::string &s, int root)
{
    constexpr int64_t kMax = 64 * 1024;
    if (rank() == root && static_cast<int64_t>(s.size()) > kMax)
        core::throwRuntime("distributed: string too long to broadcast");
    auto t = torch::zeros({kMax + 8}, torch::kUInt8);
    if (rank() == root) {
        const int64_t n = static_cast<int64_t>(s.size());
        std::memcpy(t.data_ptr<uint8_t>(), &n, 8);
        std::memcpy(t.data_ptr<uint8_t>() + 8, s.data(), s.size());
    }
    auto dt = t.to(device());
    broadcast(dt, root);
    t = dt.cpu();
    int64_t n = 0;
    std::memcpy(&n, t.data_ptr<uint8_t>(), 8);
    return std::string(reinterpret_cast<const char *>(t.data_ptr<uint8_t>()) + 8, static_cast<size_t>(n));
}

ProcessGroupContext *current() { return slot(); }

ProcessGroupContext &initProcessGroup(const DistSettings &s)
{
    owner().reset();
    slot() = nullptr;
    owner() = std::make_unique<ProcessGroupContext>(s);
    slot() = owner().get();
    return *slot();
}

void shutdownProcessGroup()
{
    slot() = nullptr;
    owner().reset();
}

int pickFreePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        core::throwRuntime("cannot create a socket to pick a free port");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        ::close(fd);
        core::throwRuntime("cannot bind a socket to pick a free port");
    }
    const int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

} // namespace genrec::train::dist
