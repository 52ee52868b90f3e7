#pragma once
/// @file process_group.h
/// The process group of a data-parallel run, on PyTorch's own distributed engine (c10d):
/// rendezvous through c10d::TCPStore (rank 0 hosts it at MASTER_ADDR:MASTER_PORT), collectives
/// through ProcessGroupGloo on CPU or ProcessGroupNCCL on CUDA when the LibTorch it is built
/// against has CUDA + NCCL (compiled under USE_C10D_NCCL; chosen at run time when the run's
/// device is cuda and torch::cuda::is_available()).
///
/// Settings are torchrun's: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK,
/// LOCAL_WORLD_SIZE (env), or explicit values. One context per process; the trainer reads it
/// through dist::current() (null = a single-process run).

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace genrec::train::dist {

/// Where this process sits in the group.
struct DistSettings
{
    std::string masterAddr = "127.0.0.1";
    int port = 29500;
    int worldSize = 1;
    int rank = 0;
    int localRank = 0;
    int localWorldSize = 1;
    std::string device = "cpu";            ///< cpu | cuda (cuda: NCCL when built in, else Gloo)
    int cudaDevice = -1;                   ///< NCCL's device index (-1 = localRank); env GENREC_CUDA_DEVICE
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};

    /// From torchrun's environment variables; nullopt when WORLD_SIZE is unset or 1.
    /// Malformed values throw core::Error(BadInput) naming the variable.
    static std::optional<DistSettings> fromEnv();
};

/// True when this build can create a process group (Gloo headers found at configure time).
bool glooAvailable();
/// True when this build has the NCCL backend compiled in (CUDA LibTorch with USE_C10D_NCCL).
bool ncclAvailable();

/// An initialised c10d process group. Collectives block until complete; failures (a peer gone,
/// a timeout) throw core::Error(Runtime) naming the collective.
class ProcessGroupContext
{
public:
    explicit ProcessGroupContext(const DistSettings &s);
    ~ProcessGroupContext();
    ProcessGroupContext(const ProcessGroupContext &) = delete;
    ProcessGroupContext &operator=(const ProcessGroupContext &) = delete;

    int rank() const { return m_settings.rank; }
    int worldSize() const { return m_settings.worldSize; }
    int localRank() const { return m_settings.localRank; }
    const DistSettings &settings() const { return m_settings; }
    /// "gloo" | "nccl"
    std::string backendName() const;
    /// The device collectives run on (cpu for Gloo; for NCCL cuda:cudaDevice, i.e. the rank's
    /// gpu_ids entry that the launcher passes, else cuda:LOCAL_RANK).
    torch::Device device() const;

    /// In-place collectives on one dense tensor (on device()).
    void allreduceSum(torch::Tensor &t);
    void allreduceMax(torch::Tensor &t);
    void broadcast(torch::Tensor &t, int root = 0);
    /// Sums `t` over the ranks into root's `t` (other ranks' `t` is unspecified afterwards).
    void reduceSum(torch::Tensor &t, int root);
    /// Reduce-scatter of a flat buffer of worldSize equal chunks: afterwards chunk `rank()` of
    /// `flat` holds the sum over the ranks. NCCL: one reduce_scatter; Gloo (which has no
    /// reduce_scatter in LibTorch 1.13): one reduce per chunk to its owner (same bytes moved).
    void reduceScatterSum(torch::Tensor &flat);
    /// out[i] = rank i's `in` (all `in` have the same shape).
    void allgather(const torch::Tensor &in, std::vector<torch::Tensor> &out);
    void barrier();

    double allreduceSum(double v);
    int64_t allreduceSum(int64_t v);
    bool anyRank(bool v);
    /// Root's string on every rank (at most 64 KiB).
    std::string broadcastString(const std::string &s, int root = 0);

private:
    struct Impl;
    DistSettings m_settings;
    std::unique_ptr<Impl> m_impl;
};

/// The process-wide context (null for single-process runs).
ProcessGroupContext *current();
/// Creates the process-wide context (replacing a previous one); returns it.
ProcessGroupContext &initProcessGroup(const DistSettings &s);
/// Destroys the process-wide context.
void shutdownProcessGroup();

/// A TCP port that was free a moment ago on 127.0.0.1 (for tests and the local launcher).
int pickFreePort();

} // namespace genrec::train::dist
