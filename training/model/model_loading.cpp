#include "training/model/model_loading.h"

#include "core/common/error.h"
#include "training/io/hf_folder_torch.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

namespace genrec::train {

Qwen2ForCausalLM loadCausalLm(const std::string &spec, const CausalLmLoadOptions &options)
{
    const bool cuda = options.device.is_cuda();
    if (isPresetName(spec)) {
        const ModelConfig config = presetModelConfig(spec, options.presetVocabSize);
        auto model = makeQwen2(config);
        torch::manual_seed(options.seed);
        model->initParameters(0.02);
        torch::Dtype dtype = torch::kFloat;
        if (options.dtype)
            dtype = *options.dtype;
        else if (cuda)
            dtype = toScalarType(dtypeFromTorchName(config.torchDtype).value_or(DType::F32));
        model->to(options.device, dtype);
        return model;
    }
    LoadOptions load;
    if (options.dtype)
        load.floatType = *options.dtype;
    else if (!cuda)
        load.floatType = torch::kFloat;
    HfModel hf = loadHfFolder(spec, load);
    auto model = makeQwen2(hf.config);
    std::vector<std::pair<std::string, torch::Tensor>> tensors(hf.tensors.begin(),
                                                               hf.tensors.end());
    if (!tensors.empty())
        model->to(tensors.front().second.scalar_type());
    model->loadStateDict(tensors, /*strict=*/true, spec);
    model->to(options.device);
    return model;
}

void saveCausalLm(Qwen2ForCausalLMImpl &model, const std::string &dir, const std::string &dtype)
{
    const auto type = dtypeFromTorchName(dtype);
    if (!type || !isFloatingDType(*type))
        core::throwBadInput("unsupported weight dtype '" + dtype + "'",
                            "use float32, bfloat16 or float16");
    StateDict tensors;
    for (auto &[name, t] : model.stateDict())
        tensors.emplace(name, t);
    SaveHfOptions save;
    save.dtype = *type;
    saveHfFolder(dir, model.config(), tensors, save);
}

void writeNpyFloat32(const std::string &path, const torch::Tensor &tensor)
{
    const auto t = tensor.detach().to(torch::kCPU, torch::kFloat).contiguous();
    std::string shape = "(";
    for (int64_t i = 0; i < t.dim(); ++i)
        shape += std::to_string(t.size(i)) + (i + 1 < t.dim() ? ", " : "");
    shape += t.dim() == 1 ? ",)" : ")";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f)
        core::throwRuntime("cannot write " + path + ": " + std::strerror(errno));
    const unsigned char preamble[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t len = static_cast<uint16_t>(header.size());
    const unsigned char lenBytes[2] = {static_cast<unsigned char>(len & 0xff),
                                       static_cast<unsigned char>(len >> 8)};
    bool ok = std::fwrite(preamble, 1, 8, f.get()) == 8
              && std::fwrite(lenBytes, 1, 2, f.get()) == 2
              && std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
    const size_t n = static_cast<size_t>(t.numel());
    ok = ok && std::fwrite(t.data_ptr<float>(), sizeof(float), n, f.get()) == n;
    ok = std::fflush(f.get()) == 0 && ok;
    if (!ok)
        core::throwRuntime("cannot write " + path + ": " + std::strerror(errno));
}

} // namespace genrec::train
