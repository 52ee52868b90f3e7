// genrec devices [--json]: the CPU (cores, LibTorch threads, memory) and the CUDA devices LibTorch
// sees (name, memory, compute capability when this build has CUDA), plus the distributed backends
// compiled in. Used to pick gpu_ids / nproc_per_node and by `genrec estimate --device-memory`.
#include "app/cli/cli_common.h"

#include "training/dist/process_group.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#if defined(GENREC_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

namespace genrec::app {

void registerDevicesCommands(CLI::App &app, CliContext &ctx);

namespace {

int64_t meminfoBytes(const std::string &key)
{
    std::ifstream f("/proc/meminfo");
    std::string k;
    int64_t kb = 0;
    std::string unit;
    while (f >> k >> kb >> unit)
        if (k == key + ":")
            return kb * 1024;
    return 0;
}

std::string cpuModel()
{
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) {
            const auto p = line.find(':');
            return p == std::string::npos ? line : line.substr(p + 2);
        }
    return "";
}

nlohmann::json describe()
{
    nlohmann::json cpu = {{"type", "cpu"},
                          {"name", cpuModel()},
                          {"hardware_threads", std::thread::hardware_concurrency()},
                          {"torch_threads", torch::get_num_threads()},
                          {"memory_total_bytes", meminfoBytes("MemTotal")},
                          {"memory_available_bytes", meminfoBytes("MemAvailable")}};
    nlohmann::json cuda = nlohmann::json::array();
    const bool available = torch::cuda::is_available();
    const int64_t count = available ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
    for (int64_t i = 0; i < count; ++i) {
        nlohmann::json d = {{"type", "cuda"}, {"index", i}};
#if defined(GENREC_WITH_CUDA)
        const auto *p = at::cuda::getDeviceProperties(static_cast<int>(i));
        d["name"] = p->name;
        d["memory_total_bytes"] = static_cast<int64_t>(p->totalGlobalMem);
        d["compute_capability"] = std::to_string(p->major) + "." + std::to_string(p->minor);
        d["multiprocessors"] = p->multiProcessorCount;
        size_t freeB = 0, totalB = 0;
        if (cudaSetDevice(static_cast<int>(i)) == cudaSuccess && cudaMemGetInfo(&freeB, &totalB) == cudaSuccess)
            d["memory_free_bytes"] = static_cast<int64_t>(freeB);
#endif
        cuda.push_back(d);
    }
    return {{"cpu", cpu},
            {"cuda", cuda},
            {"cuda_available", available},
            {"torch", TORCH_VERSION},
#if defined(GENREC_WITH_CUDA)
            {"torch_cuda_build", true},
#else
            {"torch_cuda_build", false},
#endif
            {"distributed", {{"gloo", train::dist::glooAvailable()}, {"nccl", train::dist::ncclAvailable()}}}};
}

std::string gib(int64_t b)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(b) / double(1LL << 30));
    return buf;
}

} // namespace

void registerDevicesCommands(CLI::App &app, CliContext &ctx)
{
    auto *cmd = app.add_subcommand("devices", "List the CPU and the CUDA devices training can use");
    cmd->callback([&ctx] {
        ctx.action = [&ctx] {
            const auto doc = describe();
            if (ctx.json) {
                printJson(doc);
                return 0;
            }
            const auto &c = doc["cpu"];
            std::cout << "cpu     " << c["name"].get<std::string>() << ", " << c["hardware_threads"].get<unsigned>()
                      << " hardware threads, LibTorch uses " << c["torch_threads"].get<int>() << ", memory "
                      << gib(c["memory_total_bytes"].get<int64_t>()) << " (" << gib(c["memory_available_bytes"].get<int64_t>())
                      << " available)\n";
            if (doc["cuda"].empty())
                std::cout << "cuda    none" << (doc["torch_cuda_build"].get<bool>() ? "" : " (this LibTorch is CPU-only)") << "\n";
            for (const auto &d : doc["cuda"]) {
                std::cout << "cuda:" << d["index"].get<int64_t>();
                if (d.contains("name"))
                    std::cout << "  " << d["name"].get<std::string>() << ", " << gib(d["memory_total_bytes"].get<int64_t>())
                              << ", sm " << d["compute_capability"].get<std::string>();
                std::cout << "\n";
            }
            std::cout << "dist    gloo " << (doc["distributed"]["gloo"].get<bool>() ? "yes" : "no") << ", nccl "
                      << (doc["distributed"]["nccl"].get<bool>() ? "yes" : "no") << "\n";
            return 0;
        };
    });
}

} // namespace genrec::app
