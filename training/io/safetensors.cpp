#include "training/io/safetensors.h"

#include "core/common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <unordered_set>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace genrec::train {

namespace fs = std::filesystem;
using core::throwBadInput;
using core::throwRuntime;

namespace {

constexpr const char *kCorruptHint =
    "The file is corrupt, truncated or not a safetensors file; re-download or re-export it.";

[[noreturn]] void fail(const std::string &source, const std::string &reason)
{
    throwBadInput(source + ": " + reason, kCorruptHint);
}

std::string errnoText()
{
    return std::strerror(errno);
}

/// Multiplies shape dims into an element count; std::nullopt on overflow past int64.
std::optional<std::uint64_t> checkedNumel(const std::vector<std::int64_t> &shape)
{
    std::uint64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n))
            return std::nullopt;
    }
    if (n > static_cast<std::uint64_t>(INT64_MAX))
        return std::nullopt;
    return n;
}

std::string quoteName(std::string_view name)
{
    std::string s = "'";
    s.append(name.substr(0, 200));
    if (name.size() > 200)
        s += "…";
    s += "'";
    return s;
}

/// The first bytes of a JSON value for messages.
std::string preview(const nlohmann::json &value)
{
    std::string s = value.dump();
    if (s.size() > 80)
        s = s.substr(0, 80) + "…";
    return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------

namespace {
struct DTypeRow
{
    DType dtype;
    std::string_view name;
    std::size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4},  {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},    {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
};
const DTypeRow &row(DType dtype)
{
    for (const DTypeRow &r : kDTypes) {
        if (r.dtype == dtype)
            return r;
    }
    return kDTypes[1];
}
} // namespace

std::size_t dtypeSize(DType dtype)
{
    return row(dtype).size;
}

std::string_view dtypeName(DType dtype)
{
    return row(dtype).name;
}

std::optional<DType> dtypeFromName(std::string_view name)
{
    for (const DTypeRow &r : kDTypes) {
        if (r.name == name)
            return r.dtype;
    }
    return std::nullopt;
}

bool isFloatingDType(DType dtype)
{
    return dtype == DType::F64 || dtype == DType::F32 || dtype == DType::F16
        || dtype == DType::BF16;
}

std::string torchDtypeName(DType dtype)
{
    switch (dtype) {
    case DType::F64:
        return "float64";
    case DType::F32:
        return "float32";
    case DType::F16:
        return "float16";
    case DType::BF16:
        return "bfloat16";
    default:
        throwBadInput("dtype " + std::string(dtypeName(dtype)) + " is not a floating type");
    }
}

std::optional<DType> dtypeFromTorchName(std::string_view name)
{
    if (name == "float32" || name == "fp32" || name == "float")
        return DType::F32;
    if (name == "bfloat16" || name == "bf16")
        return DType::BF16;
    if (name == "float16" || name == "fp16" || name == "half")
        return DType::F16;
    if (name == "float64" || name == "double")
        return DType::F64;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------------------------

std::int64_t TensorInfo::numel() const
{
    return static_cast<std::int64_t>(checkedNumel(shape).value_or(0));
}

const TensorInfo *SafetensorsHeader::find(std::string_view name) const
{
    for (const TensorInfo &t : tensors) {
        if (t.name == name)
            return &t;
    }
    return nullptr;
}

namespace {

/// Parses with a callback that rejects duplicate keys (nlohmann keeps the last silently, which
/// would let two readers disagree about a file) and nesting deeper than the format has.
nlohmann::json parseStrictJson(std::string_view text, int maxDepth, const std::string &source,
                               const std::string &what)
{
    using json = nlohmann::json;
    std::vector<std::unordered_set<std::string>> keys;
    auto callback = [&](int depth, json::parse_event_t event, json &parsed) {
        if (depth > maxDepth)
            fail(source, what + " is nested deeper than the format allows");
        switch (event) {
        case json::parse_event_t::object_start:
            keys.emplace_back();
            break;
        case json::parse_event_t::object_end:
            if (!keys.empty())
                keys.pop_back();
            break;
        case json::parse_event_t::key:
            if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
                fail(source, what + " has the key " + quoteName(parsed.get<std::string>()) + " twice");
            break;
        default:
            break;
        }
        return true;
    };
    try {
        return json::parse(text.begin(), text.end(), callback);
    } catch (const json::exception &e) {
        fail(source, what + " is not valid JSON (" + e.what() + ")");
    }
}

std::vector<std::int64_t> parseShape(const nlohmann::json &value, const std::string &source,
                                     const std::string &name)
{
    if (!value.is_array())
        fail(source, "tensor " + name + ": shape must be an array of non-negative integers");
    if (value.size() > kMaxTensorRank)
        fail(source, "tensor " + name + ": shape has " + std::to_string(value.size())
                         + " dimensions (at most " + std::to_string(kMaxTensorRank) + ")");
    std::vector<std::int64_t> shape;
    for (const auto &d : value) {
        if (!d.is_number_unsigned() || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            fail(source, "tensor " + name + ": shape " + preview(value)
                             + " has a negative or non-integer dimension");
        shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }
    return shape;
}

} // namespace

SafetensorsHeader parseSafetensorsHeader(std::string_view text, std::uint64_t dataSize,
                                         const std::string &source)
{
    const nlohmann::json root = parseStrictJson(text, 3, source, "the header");
    if (!root.is_object())
        fail(source, "the header is not a JSON object");

    SafetensorsHeader header;
    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string &key = it.key();
        const nlohmann::json &value = it.value();
        if (key == "__metadata__") {
            if (!value.is_object())
                fail(source, "__metadata__ must be an object of strings");
            for (auto m = value.begin(); m != value.end(); ++m) {
                if (!m.value().is_string())
                    fail(source, "__metadata__ value " + quoteName(m.key()) + " is not a string");
                header.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string name = quoteName(key);
        if (!value.is_object())
            fail(source, "tensor " + name + ": entry is not an object");
        TensorInfo info;
        info.name = key;

        const auto dtypeIt = value.find("dtype");
        if (dtypeIt == value.end() || !dtypeIt->is_string())
            fail(source, "tensor " + name + ": missing dtype");
        const auto dtype = dtypeFromName(dtypeIt->get<std::string>());
        if (!dtype)
            fail(source, "tensor " + name + ": unknown or unsupported dtype "
                             + quoteName(dtypeIt->get<std::string>())
                             + " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        info.dtype = *dtype;

        const auto shapeIt = value.find("shape");
        if (shapeIt == value.end())
            fail(source, "tensor " + name + ": missing shape");
        info.shape = parseShape(*shapeIt, source, name);

        const auto offIt = value.find("data_offsets");
        if (offIt == value.end() || !offIt->is_array() || offIt->size() != 2
            || !(*offIt)[0].is_number_unsigned() || !(*offIt)[1].is_number_unsigned())
            fail(source, "tensor " + name + ": data_offsets must be two non-negative integers");
        info.begin = (*offIt)[0].get<std::uint64_t>();
        info.end = (*offIt)[1].get<std::uint64_t>();
        if (info.end < info.begin)
            fail(source, "tensor " + name + ": data_offsets end " + std::to_string(info.end)
                             + " is before begin " + std::to_string(info.begin));
        if (info.end > dataSize)
            fail(source, "tensor " + name + ": data_offsets [" + std::to_string(info.begin) + ", "
                             + std::to_string(info.end) + "] are out of range of the "
                             + std::to_string(dataSize)
                             + "-byte data section (truncated file?)");

        const auto numel = checkedNumel(info.shape);
        std::uint64_t bytes = 0;
        if (!numel || __builtin_mul_overflow(*numel, dtypeSize(info.dtype), &bytes))
            fail(source, "tensor " + name + ": shape " + formatShape(info.shape)
                             + " overflows the element count");
        if (bytes != info.end - info.begin)
            fail(source, "tensor " + name + ": shape " + formatShape(info.shape) + " of "
                             + std::string(dtypeName(info.dtype)) + " needs "
                             + std::to_string(bytes) + " bytes but data_offsets span "
                             + std::to_string(info.end - info.begin)
                             + " (shape/dtype size mismatch)");
        header.tensors.push_back(std::move(info));
    }

    std::sort(header.tensors.begin(), header.tensors.end(),
              [](const TensorInfo &a, const TensorInfo &b) {
                  return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
              });
    std::uint64_t covered = 0;
    const TensorInfo *previous = nullptr;
    for (const TensorInfo &t : header.tensors) {
        if (t.begin < covered)
            fail(source, "tensor " + quoteName(t.name) + " overlaps tensor "
                             + quoteName(previous ? previous->name : "") + " (overlapping data_offsets)");
        if (t.begin > covered)
            fail(source, "the data section has a hole of " + std::to_string(t.begin - covered)
                             + " bytes before tensor " + quoteName(t.name));
        covered = t.end;
        previous = &t;
    }
    if (covered != dataSize)
        fail(source, "the data section has " + std::to_string(dataSize - covered)
                         + " bytes that belong to no tensor");
    return header;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile
// ---------------------------------------------------------------------------------------------

struct SafetensorsFile::Mapping
{
    void *address = MAP_FAILED;
    std::size_t length = 0;
    std::vector<std::byte> buffer; ///< used when mmap is unavailable
    const std::byte *data = nullptr;

    ~Mapping()
    {
        if (address != MAP_FAILED)
            ::munmap(address, length);
    }
};

SafetensorsFile::SafetensorsFile(SafetensorsFile &&) noexcept = default;
SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::string &path)
{
    SafetensorsFile file;
    file.m_path = path;
    file.m_mapping = std::make_unique<Mapping>();

    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throwBadInput(path + ": cannot open (" + errnoText() + ")");
    struct FdCloser
    {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};

    struct stat st{};
    if (::fstat(fd, &st) != 0)
        throwBadInput(path + ": cannot stat (" + errnoText() + ")");
    if (!S_ISREG(st.st_mode))
        fail(path, "not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    file.m_fileSize = size;
    if (size < 8)
        fail(path, "the file has " + std::to_string(size)
                       + " bytes, too short for the 8-byte header length (truncated file)");

    Mapping &m = *file.m_mapping;
    m.length = static_cast<std::size_t>(size);
    m.address = ::mmap(nullptr, m.length, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m.address != MAP_FAILED) {
        m.data = static_cast<const std::byte *>(m.address);
    } else {
        m.buffer.resize(m.length);
        std::size_t done = 0;
        while (done < m.length) {
            const ssize_t n = ::pread(fd, m.buffer.data() + done, m.length - done,
                                      static_cast<off_t>(done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throwBadInput(path + ": read failed (" + (n < 0 ? errnoText() : "short read")
                              + ")");
            done += static_cast<std::size_t>(n);
        }
        m.data = m.buffer.data();
    }

    std::uint64_t headerLength = 0;
    std::memcpy(&headerLength, m.data, 8);
    if (headerLength > kMaxSafetensorsHeaderBytes)
        fail(path, "header length " + std::to_string(headerLength) + " exceeds the limit of "
                       + std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
    if (headerLength > size - 8)
        fail(path, "header length " + std::to_string(headerLength)
                       + " is larger than the file (" + std::to_string(size)
                       + " bytes; truncated file?)");
    file.m_dataStart = 8 + headerLength;
    const std::string_view json(reinterpret_cast<const char *>(m.data + 8),
                                static_cast<std::size_t>(headerLength));
    file.m_header = parseSafetensorsHeader(json, size - file.m_dataStart, path);
    return file;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo &info) const
{
    // The header was validated against the file size, so this is in range for our own entries.
    return {m_mapping->data + m_dataStart + info.begin, static_cast<std::size_t>(info.byteSize())};
}

// ---------------------------------------------------------------------------------------------
// Sharded folders
// ---------------------------------------------------------------------------------------------

std::uint64_t SafetensorsSet::totalBytes() const
{
    std::uint64_t total = 0;
    for (const auto &[name, entry] : tensors)
        total += entry.second->byteSize();
    return total;
}

std::map<std::string, std::string> parseSafetensorsIndex(std::string_view text,
                                                         const std::string &source)
{
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &e) {
        throwBadInput(source + ": not valid JSON (" + e.what() + ")");
    }
    if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object())
        throwBadInput(source + ": missing the \"weight_map\" object");
    std::map<std::string, std::string> map;
    for (auto it = root["weight_map"].begin(); it != root["weight_map"].end(); ++it) {
        if (!it.value().is_string())
            throwBadInput(source + ": weight_map entry " + quoteName(it.key()) + " is not a string");
        const std::string shard = it.value().get<std::string>();
        if (shard.empty() || shard == "." || shard == ".."
            || shard.find_first_of("/\\") != std::string::npos)
            throwBadInput(source + ": weight_map entry " + quoteName(it.key()) + " names "
                          + quoteName(shard) + ", which is not a plain file name in the folder");
        map[it.key()] = shard;
    }
    if (map.empty())
        throwBadInput(source + ": weight_map is empty");
    return map;
}

namespace {
std::string readTextFile(const fs::path &path)
{
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        throwBadInput(path.string() + ": cannot read (" + ec.message() + ")");
    if (size > kMaxSafetensorsHeaderBytes)
        throwBadInput(path.string() + ": file is too large (" + std::to_string(size) + " bytes)");
    std::string text(static_cast<std::size_t>(size), '\0');
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
        throwBadInput(path.string() + ": cannot open (" + errnoText() + ")");
    const std::size_t n = std::fread(text.data(), 1, text.size(), f);
    std::fclose(f);
    text.resize(n);
    return text;
}
} // namespace

SafetensorsSet openSafetensorsFolder(const std::string &dir)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throwBadInput(dir + ": not a folder");
    const fs::path root(dir);
    SafetensorsSet set;

    const fs::path index = root / "model.safetensors.index.json";
    if (fs::exists(index, ec)) {
        const auto map = parseSafetensorsIndex(readTextFile(index), index.string());
        std::map<std::string, std::size_t> shardIndex;
        for (const auto &[name, shard] : map) {
            if (!shardIndex.count(shard)) {
                shardIndex[shard] = set.files.size();
                set.files.push_back(SafetensorsFile::open((root / shard).string()));
            }
        }
        for (const auto &[name, shard] : map) {
            const std::size_t i = shardIndex[shard];
            const TensorInfo *info = set.files[i].find(name);
            if (!info)
                throwBadInput(set.files[i].path() + ": tensor " + quoteName(name)
                                  + " is listed in model.safetensors.index.json but not stored here",
                              kCorruptHint);
            set.tensors[name] = {i, info};
        }
        return set;
    }

    fs::path single = root / "model.safetensors";
    if (!fs::exists(single, ec)) {
        std::vector<fs::path> found;
        for (const auto &entry : fs::directory_iterator(root, ec)) {
            if (entry.path().extension() == ".safetensors")
                found.push_back(entry.path());
        }
        std::sort(found.begin(), found.end());
        if (found.empty()) {
            const bool hasBin = fs::exists(root / "pytorch_model.bin", ec)
                || fs::exists(root / "pytorch_model.bin.index.json", ec);
            throwBadInput(dir + ": no model.safetensors or model.safetensors.index.json",
                          hasBin ? "pytorch_model.bin is not supported; re-save the model with "
                                   "save_pretrained(..., safe_serialization=True)"
                                 : "Point to a Hugging Face model folder with safetensors weights.");
        }
        if (found.size() > 1) {
            std::string names;
            for (const auto &p : found)
                names += (names.empty() ? "" : ", ") + p.filename().string();
            throwBadInput(dir + ": several .safetensors files (" + names
                          + ") and no model.safetensors.index.json to say which belong together");
        }
        single = found.front();
    }
    set.files.push_back(SafetensorsFile::open(single.string()));
    for (const TensorInfo &t : set.files.front().tensors())
        set.tensors[t.name] = {0, &t};
    return set;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

namespace {
void writeAll(int fd, const void *data, std::size_t size, const std::string &path)
{
    const auto *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throwRuntime(path + ": write failed (" + errnoText() + ")",
                         "Check the free disk space and the folder's permissions.");
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void syncFolderOf(const std::string &path)
{
    fs::path parent = fs::path(path).parent_path();
    if (parent.empty())
        parent = ".";
    const int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd); // best effort: some file systems refuse fsync on folders
        ::close(dfd);
    }
}
} // namespace

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<TensorDecl> tensors,
                                     const std::map<std::string, std::string> &metadata)
    : m_path(std::move(path)), m_tmpPath(m_path + ".tmp"), m_tensors(std::move(tensors))
{
    std::set<std::string> names;
    for (const TensorDecl &t : m_tensors) {
        if (t.name == "__metadata__" || !names.insert(t.name).second)
            throwBadInput(m_path + ": tensor name " + quoteName(t.name) + " is duplicated or reserved");
        if (!checkedNumel(t.shape))
            throwBadInput(m_path + ": tensor " + quoteName(t.name) + " has an invalid shape "
                          + formatShape(t.shape));
    }
    std::stable_sort(m_tensors.begin(), m_tensors.end(),
                     [](const TensorDecl &a, const TensorDecl &b) {
                         const auto sa = dtypeSize(a.dtype), sb = dtypeSize(b.dtype);
                         return sa != sb ? sa > sb : a.name < b.name;
                     });

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const TensorDecl &t : m_tensors) {
        const std::uint64_t bytes = *checkedNumel(t.shape) * dtypeSize(t.dtype);
        nlohmann::ordered_json entry;
        entry["dtype"] = std::string(dtypeName(t.dtype));
        entry["shape"] = t.shape;
        entry["data_offsets"] = {offset, offset + bytes};
        header[t.name] = std::move(entry);
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');

    m_fd = ::open(m_tmpPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throwRuntime(m_tmpPath + ": cannot create (" + errnoText() + ")",
                     "Check that the folder exists and is writable.");
    const std::uint64_t length = text.size();
    writeAll(m_fd, &length, 8, m_tmpPath);
    writeAll(m_fd, text.data(), text.size(), m_tmpPath);
}

SafetensorsWriter::~SafetensorsWriter()
{
    if (m_fd >= 0)
        ::close(m_fd);
    if (!m_committed)
        ::unlink(m_tmpPath.c_str());
}

void SafetensorsWriter::write(std::span<const std::byte> bytes)
{
    if (m_next >= m_tensors.size())
        throwRuntime(m_path + ": more tensors written than declared");
    const TensorDecl &t = m_tensors[m_next];
    const std::uint64_t expected = *checkedNumel(t.shape) * dtypeSize(t.dtype);
    if (bytes.size() != expected)
        throwRuntime(m_path + ": tensor " + quoteName(t.name) + " has " + std::to_string(bytes.size())
                     + " bytes, expected " + std::to_string(expected));
    writeAll(m_fd, bytes.data(), bytes.size(), m_tmpPath);
    ++m_next;
}

void SafetensorsWriter::commit()
{
    if (m_next != m_tensors.size())
        throwRuntime(m_path + ": " + std::to_string(m_tensors.size() - m_next)
                     + " declared tensors were not written");
    if (::fsync(m_fd) != 0)
        throwRuntime(m_tmpPath + ": fsync failed (" + errnoText() + ")");
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        throwRuntime(m_tmpPath + ": close failed (" + errnoText() + ")");
    if (::rename(m_tmpPath.c_str(), m_path.c_str()) != 0)
        throwRuntime(m_path + ": cannot rename the temporary file into place (" + errnoText()
                     + ")");
    m_committed = true;
    syncFolderOf(m_path);
}

void writeSafetensors(const std::string &path, const std::vector<TensorData> &tensors,
                      const std::map<std::string, std::string> &metadata)
{
    std::vector<TensorDecl> decls;
    std::map<std::string, const TensorData *> byName;
    for (const TensorData &t : tensors) {
        decls.push_back(t.decl);
        byName[t.decl.name] = &t;
    }
    SafetensorsWriter writer(path, std::move(decls), metadata);
    for (const TensorDecl &d : writer.order())
        writer.write(byName.at(d.name)->bytes);
    writer.commit();
}

// ---------------------------------------------------------------------------------------------
// State-dict matching
// ---------------------------------------------------------------------------------------------

std::string formatShape(const std::vector<std::int64_t> &shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

StateDictDiff diffStateDict(const std::vector<TensorShape> &expected,
                            const std::vector<TensorShape> &loaded)
{
    std::map<std::string, const TensorShape *> want, have;
    for (const TensorShape &t : expected)
        want[t.name] = &t;
    for (const TensorShape &t : loaded)
        have[t.name] = &t;
    StateDictDiff diff;
    for (const auto &[name, t] : want) {
        const auto it = have.find(name);
        if (it == have.end())
            diff.missing.push_back(name);
        else if (it->second->shape != t->shape)
            diff.shapeMismatches.push_back({name, t->shape, it->second->shape});
    }
    for (const auto &[name, t] : have) {
        if (!want.count(name))
            diff.unexpected.push_back(name);
    }
    return diff;
}

std::string StateDictDiff::describe(std::size_t maxListed) const
{
    std::ostringstream out;
    auto list = [&](const char *what, const std::vector<std::string> &names) {
        if (names.empty())
            return;
        if (out.tellp() > 0)
            out << "; ";
        out << what << ' ' << names.size() << (names.size() == 1 ? " tensor (" : " tensors (");
        for (std::size_t i = 0; i < names.size() && i < maxListed; ++i)
            out << (i ? ", " : "") << names[i];
        if (names.size() > maxListed)
            out << ", … " << names.size() - maxListed << " more";
        out << ')';
    };
    list("missing", missing);
    list("unexpected", unexpected);
    if (!shapeMismatches.empty()) {
        if (out.tellp() > 0)
            out << "; ";
        out << "shape mismatch: ";
        for (std::size_t i = 0; i < shapeMismatches.size() && i < maxListed; ++i) {
            const ShapeMismatch &m = shapeMismatches[i];
            out << (i ? ", " : "") << m.name << " expected " << formatShape(m.expected) << " got "
                << formatShape(m.loaded);
        }
        if (shapeMismatches.size() > maxListed)
            out << ", … " << shapeMismatches.size() - maxListed << " more";
    }
    return out.str();
}

void checkStateDict(const std::vector<TensorShape> &expected,
                    const std::vector<TensorShape> &loaded, const std::string &source)
{
    const StateDictDiff diff = diffStateDict(expected, loaded);
    if (!diff.empty())
        throwBadInput(source + ": state dict does not match the model: " + diff.describe(),
                      "Check that config.json belongs to these weights (architecture, sizes, "
                      "tie_word_embeddings).");
}

} // namespace genrec::train
