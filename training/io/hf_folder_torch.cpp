#include "training/io/hf_folder_torch.h"

#include "core/common/error.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>

namespace genrec::train {

namespace fs = std::filesystem;
using core::throwBadInput;
using core::throwRuntime;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

at::ScalarType toScalarType(DType dtype)
{
    switch (dtype) {
    case DType::F64:
        return at::kDouble;
    case DType::F32:
        return at::kFloat;
    case DType::F16:
        return at::kHalf;
    case DType::BF16:
        return at::kBFloat16;
    case DType::I64:
        return at::kLong;
    case DType::I32:
        return at::kInt;
    case DType::I16:
        return at::kShort;
    case DType::I8:
        return at::kChar;
    case DType::U8:
        return at::kByte;
    case DType::Bool:
        return at::kBool;
    }
    return at::kFloat;
}

DType fromScalarType(at::ScalarType type)
{
    switch (type) {
    case at::kDouble:
        return DType::F64;
    case at::kFloat:
        return DType::F32;
    case at::kHalf:
        return DType::F16;
    case at::kBFloat16:
        return DType::BF16;
    case at::kLong:
        return DType::I64;
    case at::kInt:
        return DType::I32;
    case at::kShort:
        return DType::I16;
    case at::kChar:
        return DType::I8;
    case at::kByte:
        return DType::U8;
    case at::kBool:
        return DType::Bool;
    default:
        throwBadInput(std::string("tensor type ") + c10::toString(type)
                      + " cannot be stored in safetensors by this project");
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

at::Tensor tensorFromSafetensors(const SafetensorsFile &file, const TensorInfo &info,
                                 std::optional<at::ScalarType> floatType)
{
    const auto bytes = file.bytes(info);
    // A copy through memcpy: the mapping is read-only and may be unaligned for the element type.
    const at::ScalarType stored = info.dtype == DType::Bool ? at::kByte : toScalarType(info.dtype);
    at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(stored)); // [shape]
    if (!bytes.empty())
        std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    if (info.dtype == DType::Bool)
        return t.ne(0);
    if (floatType && isFloatingDType(info.dtype) && stored != *floatType)
        return t.to(*floatType);
    return t;
}

namespace {
void checkCancel(const LoadOptions &options, std::int64_t done, std::int64_t total,
                 const std::string &source)
{
    if (options.progress && !options.progress(done, total))
        throw core::Error(core::ErrorKind::Interrupted, source + ": loading cancelled");
}

StateDict loadSet(const SafetensorsSet &set, const LoadOptions &options, const std::string &source)
{
    const auto total = static_cast<std::int64_t>(set.totalBytes());
    std::int64_t done = 0;
    checkCancel(options, done, total, source);
    StateDict tensors;
    tensors.reserve(set.tensors.size());
    for (const auto &[name, entry] : set.tensors) {
        tensors.emplace(name,
                        tensorFromSafetensors(set.files[entry.first], *entry.second,
                                              options.floatType));
        done += static_cast<std::int64_t>(entry.second->byteSize());
        checkCancel(options, done, total, source);
    }
    return tensors;
}
} // namespace

StateDict loadSafetensors(const std::string &path, const LoadOptions &options)
{
    SafetensorsSet set;
    set.files.push_back(SafetensorsFile::open(path));
    for (const TensorInfo &t : set.files.front().tensors())
        set.tensors[t.name] = {0, &t};
    return loadSet(set, options, path);
}

StateDict loadSafetensorsFolder(const std::string &dir, const LoadOptions &options)
{
    return loadSet(openSafetensorsFolder(dir), options, dir);
}

std::vector<TensorShape> tensorShapes(const StateDict &tensors)
{
    std::vector<TensorShape> shapes;
    shapes.reserve(tensors.size());
    for (const auto &[name, t] : tensors)
        shapes.push_back({name, t.sizes().vec()});
    return shapes;
}

namespace {
std::vector<TensorShape> expectedShapes(const ModelConfig &config)
{
    std::vector<TensorShape> shapes;
    for (const HfTensorSpec &s : hfTensorShapes(config))
        shapes.push_back({s.name, s.shape});
    return shapes;
}
} // namespace

HfModel loadHfFolder(const std::string &dir, const LoadOptions &options)
{
    const std::string configPath = (fs::path(dir) / "config.json").string();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throwBadInput(dir + ": not a folder");
    if (!fs::exists(configPath, ec))
        throwBadInput(configPath + ": missing",
                      "A model folder needs config.json next to its weights.");
    HfModel model;
    model.config = parseModelConfigJson(readTextFile(configPath), configPath);
    // Validate all headers against the config before reading any tensor data.
    const SafetensorsSet set = openSafetensorsFolder(dir);
    if (options.strict) {
        std::vector<TensorShape> stored;
        for (const auto &[name, entry] : set.tensors) {
            if (!(model.config.tieWordEmbeddings && name == "lm_head.weight"))
                stored.push_back({name, entry.second->shape});
        }
        checkStateDict(expectedShapes(model.config), stored, dir);
    }
    model.tensors = loadSet(set, options, dir);
    if (model.config.tieWordEmbeddings)
        model.tensors.erase("lm_head.weight");
    return model;
}

// ---------------------------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------------------------

void saveSafetensors(const std::string &path, const StateDict &tensors, DType floatType,
                     const std::map<std::string, std::string> &metadata)
{
    if (floatType != DType::F32 && floatType != DType::BF16 && floatType != DType::F16)
        throwBadInput(path + ": weights can be saved as F32, BF16 or F16, not "
                      + std::string(dtypeName(floatType)));
    std::vector<TensorDecl> decls;
    decls.reserve(tensors.size());
    for (const auto &[name, t] : tensors) {
        const DType stored = fromScalarType(t.scalar_type());
        decls.push_back({name, isFloatingDType(stored) ? floatType : stored, t.sizes().vec()});
    }
    SafetensorsWriter writer(path, std::move(decls), metadata);
    const at::ScalarType floatScalar = toScalarType(floatType);
    for (const TensorDecl &d : writer.order()) {
        const at::Tensor &source = tensors.at(d.name);
        const at::ScalarType target =
            isFloatingDType(fromScalarType(source.scalar_type())) ? floatScalar
                                                                  : source.scalar_type();
        // One tensor at a time on the CPU keeps the extra memory to the largest tensor.
        const at::Tensor cpu = source.detach().to(at::kCPU, target).contiguous(); // [shape]
        writer.write({static_cast<const std::byte *>(cpu.data_ptr()),
                      static_cast<std::size_t>(cpu.nbytes())});
    }
    writer.commit();
}

void saveHfFolder(const std::string &dir, const ModelConfig &config, const StateDict &tensors,
                  const SaveHfOptions &options)
{
    ModelConfig saved = config;
    saved.torchDtype = torchDtypeName(options.dtype);
    const std::string configJson = modelConfigToJson(saved); // validates

    StateDict weights;
    for (const auto &[name, t] : tensors) {
        if (!(saved.tieWordEmbeddings && name == "lm_head.weight"))
            weights.emplace(name, t);
    }
    const StateDictDiff diff = diffStateDict(expectedShapes(saved), tensorShapes(weights));
    if (!diff.empty())
        throwRuntime(dir + ": the tensors to save do not match the model config: "
                     + diff.describe());
    for (const auto &[name, text] : options.extraFiles) {
        if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".."
            || name == "config.json" || name == "generation_config.json"
            || name == "model.safetensors")
            throwBadInput(dir + ": '" + name + "' cannot be written as an extra file");
    }

    StagingDir staging(dir);
    const fs::path root(staging.path());
    writeTextFileDurably((root / "config.json").string(), configJson);
    writeTextFileDurably((root / "generation_config.json").string(), generationConfigJson(saved));
    for (const auto &[name, text] : options.extraFiles)
        writeTextFileDurably((root / name).string(), text);
    if (options.writeExtraFiles)
        options.writeExtraFiles(staging.path());
    saveSafetensors((root / "model.safetensors").string(), weights, options.dtype);
    staging.commit();
}

} // namespace genrec::train
