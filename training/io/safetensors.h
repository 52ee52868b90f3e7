#pragma once
/// @file safetensors.h
/// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors), without
/// Torch: the studio inspects model folders with it, and hf_folder_torch.h builds tensors on it.
///
/// File layout: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
/// "__metadata__": {"key": "value"}}`), then the data section; offsets are relative to the start
/// of the data section. Every tensor is stored row-major, little-endian.
///
/// The reader treats files as hostile: every malformed file throws core::Error(BadInput) naming
/// the file and the reason; it never reads outside the file and never overflows on shape
/// products.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace genrec::train {

// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------

/// The element types this project reads and writes (safetensors names in dtypeName()).
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

/// Bytes per element (Bool is one byte).
std::size_t dtypeSize(DType dtype);
/// The safetensors spelling: "F32", "BF16", "BOOL", …
std::string_view dtypeName(DType dtype);
/// Parses a safetensors dtype name; std::nullopt for names this project does not support.
std::optional<DType> dtypeFromName(std::string_view name);
/// F64, F32, F16 or BF16.
bool isFloatingDType(DType dtype);
/// The HF `torch_dtype` spelling of a floating dtype ("float32", "bfloat16", …); throws
/// core::Error(BadInput) for a non-floating one.
std::string torchDtypeName(DType dtype);
/// Parses "float32" | "bfloat16" | "float16" | "float64" (also "fp32", "bf16", "fp16");
/// std::nullopt otherwise.
std::optional<DType> dtypeFromTorchName(std::string_view name);

/// Limits on what the reader accepts. The defaults are generous for real checkpoints.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1024 * 1024;
inline constexpr std::size_t kMaxTensorRank = 16;

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// One tensor entry of a header, validated.
struct TensorInfo
{
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape; ///< every dim >= 0; empty = scalar
    std::uint64_t begin = 0;         ///< byte offset in the data section
    std::uint64_t end = 0;           ///< one past the last byte; end - begin == numel * size
    std::int64_t numel() const;
    std::uint64_t byteSize() const { return end - begin; }
};

/// A parsed and validated header.
struct SafetensorsHeader
{
    std::vector<TensorInfo> tensors;             ///< ordered by begin offset
    std::map<std::string, std::string> metadata; ///< `__metadata__` (string → string)
    const TensorInfo *find(std::string_view name) const;
};

/// Parses and validates a header JSON against a data section of `dataSize` bytes: known dtypes,
/// non-negative shapes without overflow, numel × dtype size == end − begin, offsets inside the
/// data section, no overlaps and no holes (the data section is covered exactly, like the
/// reference implementation demands). `source` names the file in messages.
/// Throws core::Error(BadInput) on any violation.
SafetensorsHeader parseSafetensorsHeader(std::string_view json, std::uint64_t dataSize,
                                         const std::string &source);

/// A read-only, memory-mapped safetensors file (falls back to reading it into memory where
/// mmap is unavailable). Move-only; the mapping lives as long as the object.
class SafetensorsFile
{
public:
    /// Opens, maps and validates `path`. Throws core::Error(BadInput) for a malformed file or
    /// one that cannot be opened (the message names the path and the reason).
    static SafetensorsFile open(const std::string &path);

    SafetensorsFile(SafetensorsFile &&) noexcept;
    SafetensorsFile &operator=(SafetensorsFile &&) noexcept;
    ~SafetensorsFile();

    const std::string &path() const { return m_path; }
    const SafetensorsHeader &header() const { return m_header; }
    const std::vector<TensorInfo> &tensors() const { return m_header.tensors; }
    const std::map<std::string, std::string> &metadata() const { return m_header.metadata; }
    /// nullptr when absent.
    const TensorInfo *find(std::string_view name) const { return m_header.find(name); }
    /// The raw little-endian bytes of one tensor of this file; valid while the object lives.
    /// Not necessarily aligned to the element size.
    std::span<const std::byte> bytes(const TensorInfo &info) const;
    /// Size of the whole file in bytes.
    std::uint64_t fileSize() const { return m_fileSize; }

private:
    SafetensorsFile() = default;
    struct Mapping;
    std::string m_path;
    std::unique_ptr<Mapping> m_mapping;
    std::uint64_t m_fileSize = 0;
    std::uint64_t m_dataStart = 0;
    SafetensorsHeader m_header;
};

/// The weight files of a model folder: either `model.safetensors` or the shards named by
/// `model.safetensors.index.json` (its `weight_map`).
struct SafetensorsSet
{
    std::vector<SafetensorsFile> files;
    /// tensor name → (index into files, the tensor's entry there); iteration is by name.
    std::map<std::string, std::pair<std::size_t, const TensorInfo *>> tensors;
    std::uint64_t totalBytes() const;
};

/// Parses `model.safetensors.index.json` text: tensor name → shard file name. Shard names must
/// be plain file names (no directories). Throws core::Error(BadInput) naming `source`.
std::map<std::string, std::string> parseSafetensorsIndex(std::string_view json,
                                                         const std::string &source);

/// Opens the weights of `dir`: the index if there is one (every listed tensor must be in its
/// shard; tensors a shard holds beyond the index are ignored, as transformers does), else
/// `model.safetensors`, else the only `*.safetensors` file. A tensor name in two files is an
/// error. Throws core::Error(BadInput) when there are no weights or a file is malformed.
SafetensorsSet openSafetensorsFolder(const std::string &dir);

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The declaration of one tensor to write.
struct TensorDecl
{
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
};

/// Streams a safetensors file: the header is written from the declarations, then each tensor's
/// bytes in order(). Writes to `<path>.tmp`; commit() fsyncs and renames it over `path`, so a
/// reader never sees a half-written file. Destroying an uncommitted writer removes the temp
/// file. I/O failures throw core::Error(Runtime) naming the path.
///
/// Tensors are laid out like the reference implementation: by element size (largest first),
/// then by name, so every tensor starts at an offset aligned to its element size; the header is
/// padded with spaces to a multiple of 8 bytes.
class SafetensorsWriter
{
public:
    SafetensorsWriter(std::string path, std::vector<TensorDecl> tensors,
                      const std::map<std::string, std::string> &metadata = {});
    ~SafetensorsWriter();
    SafetensorsWriter(const SafetensorsWriter &) = delete;
    SafetensorsWriter &operator=(const SafetensorsWriter &) = delete;

    /// The declarations in file order; write() must be called in this order.
    const std::vector<TensorDecl> &order() const { return m_tensors; }
    /// Appends the next tensor's bytes; `bytes.size()` must equal numel × dtype size of
    /// order()[i] where i is the number of write() calls so far (else core::Error(Runtime)).
    void write(std::span<const std::byte> bytes);
    /// Completes the file: every tensor written, fsync, atomic rename, fsync of the folder.
    void commit();

private:
    std::string m_path;
    std::string m_tmpPath;
    std::vector<TensorDecl> m_tensors;
    std::size_t m_next = 0;
    int m_fd = -1;
    bool m_committed = false;
};

/// A tensor in memory for writeSafetensors().
struct TensorData
{
    TensorDecl decl;
    std::span<const std::byte> bytes;
};

/// Writes all tensors at once (see SafetensorsWriter). Duplicate names throw BadInput.
void writeSafetensors(const std::string &path, const std::vector<TensorData> &tensors,
                      const std::map<std::string, std::string> &metadata = {});

// ---------------------------------------------------------------------------------------------
// State-dict matching
// ---------------------------------------------------------------------------------------------

/// A named tensor shape, for comparing what a model expects with what a checkpoint holds.
struct TensorShape
{
    std::string name;
    std::vector<std::int64_t> shape;
};

struct ShapeMismatch
{
    std::string name;
    std::vector<std::int64_t> expected;
    std::vector<std::int64_t> loaded;
};

/// The difference between an expected and a loaded set of tensors; lists are sorted by name.
struct StateDictDiff
{
    std::vector<std::string> missing;    ///< expected but not loaded
    std::vector<std::string> unexpected; ///< loaded but not expected
    std::vector<ShapeMismatch> shapeMismatches;
    bool empty() const { return missing.empty() && unexpected.empty() && shapeMismatches.empty(); }
    /// One line: "missing 2 tensors (a, b); unexpected 1 tensor (c); shape mismatch: d expected
    /// [2, 3] got [3, 2]", listing at most `maxListed` names per kind.
    std::string describe(std::size_t maxListed = 8) const;
};

/// Compares names and shapes (non-strict: returns the lists).
StateDictDiff diffStateDict(const std::vector<TensorShape> &expected,
                            const std::vector<TensorShape> &loaded);

/// Strict matching: throws core::Error(BadInput) "<source>: state dict does not match the
/// model: …" (see StateDictDiff::describe) unless the two sets agree exactly.
void checkStateDict(const std::vector<TensorShape> &expected,
                    const std::vector<TensorShape> &loaded, const std::string &source);

/// "[2, 3]"
std::string formatShape(const std::vector<std::int64_t> &shape);

} // namespace genrec::train
