#include "training/io/hf_folder.h"

#include "core/common/error.h"
#include "training/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace genrec::train {

namespace fs = std::filesystem;
using core::throwBadInput;
using core::throwRuntime;

namespace {
std::string errnoText()
{
    return std::strerror(errno);
}

void fsyncPath(const std::string &path, bool folder)
{
    const int fd = ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd); // best effort: some file systems refuse fsync on folders
        ::close(fd);
    }
}

std::string parentOf(const std::string &path)
{
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}
} // namespace

// ---------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------

const std::vector<std::string> &tokenizerFileNames()
{
    static const std::vector<std::string> names = {
        "tokenizer.json", "tokenizer_config.json", "vocab.json",
        "merges.txt",     "special_tokens_map.json", "added_tokens.json",
    };
    return names;
}

std::string ModelFolderInfo::summary() const
{
    char params[32];
    std::snprintf(params, sizeof params, "%.1fM parameters",
                  static_cast<double>(parameterCount ? parameterCount : storedParameterCount) / 1e6);
    std::string s = architecture.empty() ? std::string("unknown architecture") : architecture;
    s += ", ";
    s += params;
    if (!torchDtype.empty())
        s += ", " + torchDtype;
    s += ", " + std::to_string(weightFiles.size())
        + (weightFiles.size() == 1 ? " weight file" : " weight files");
    s += hasTokenizer ? ", tokenizer" : ", no tokenizer";
    return s;
}

ModelFolderInfo inspectModelFolder(const std::string &dir)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throwBadInput(dir + ": not a folder");
    const fs::path root(dir);
    ModelFolderInfo info;
    info.dir = dir;

    const fs::path configPath = root / "config.json";
    if (!fs::exists(configPath, ec)) {
        info.problems.push_back(configPath.string() + ": missing");
    } else {
        try {
            const std::string text = readTextFile(configPath.string());
            // The raw fields first, so an unsupported config still shows what it is.
            const auto raw = nlohmann::json::parse(text, nullptr, false);
            if (raw.is_object()) {
                if (raw.contains("architectures") && raw["architectures"].is_array()
                    && !raw["architectures"].empty() && raw["architectures"][0].is_string())
                    info.architecture = raw["architectures"][0].get<std::string>();
                else if (raw.contains("model_type") && raw["model_type"].is_string())
                    info.architecture = raw["model_type"].get<std::string>();
                for (const char *field : {"torch_dtype", "dtype"}) {
                    if (raw.contains(field) && raw[field].is_string()) {
                        info.torchDtype = raw[field].get<std::string>();
                        break;
                    }
                }
            }
            info.config = parseModelConfigJson(text, configPath.string());
            info.parameterCount = info.config->parameterCount();
        } catch (const core::Error &e) {
            info.problems.push_back(e.what());
        }
    }

    for (const std::string &name : tokenizerFileNames()) {
        if (fs::exists(root / name, ec))
            info.tokenizerFiles.push_back(name);
    }
    info.hasTokenizer = fs::exists(root / "tokenizer.json", ec);
    info.hasGenerationConfig = fs::exists(root / "generation_config.json", ec);
    info.sharded = fs::exists(root / "model.safetensors.index.json", ec);

    try {
        const SafetensorsSet set = openSafetensorsFolder(dir);
        std::set<std::string> dtypes;
        for (const SafetensorsFile &f : set.files)
            info.weightFiles.push_back(fs::path(f.path()).filename().string());
        std::vector<TensorShape> stored;
        for (const auto &[name, entry] : set.tensors) {
            info.storedParameterCount += entry.second->numel();
            info.weightBytes += entry.second->byteSize();
            dtypes.insert(std::string(dtypeName(entry.second->dtype)));
            if (info.config && info.config->tieWordEmbeddings && name == "lm_head.weight")
                continue;
            stored.push_back({name, entry.second->shape});
        }
        info.storedDTypes.assign(dtypes.begin(), dtypes.end());
        if (info.config) {
            std::vector<TensorShape> expected;
            for (const HfTensorSpec &s : hfTensorShapes(*info.config))
                expected.push_back({s.name, s.shape});
            const StateDictDiff diff = diffStateDict(expected, stored);
            if (!diff.empty())
                info.problems.push_back(dir + ": the weights do not match config.json: "
                                        + diff.describe());
        }
    } catch (const core::Error &e) {
        info.problems.push_back(e.what());
    }
    return info;
}

std::string generationConfigJson(const ModelConfig &config)
{
    nlohmann::json j = nlohmann::json::object();
    if (config.bosTokenId)
        j["bos_token_id"] = *config.bosTokenId;
    if (config.eosTokenId)
        j["eos_token_id"] = *config.eosTokenId;
    if (config.padTokenId)
        j["pad_token_id"] = *config.padTokenId;
    return j.dump(2) + "\n";
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

std::string readTextFile(const std::string &path, std::uint64_t maxBytes)
{
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
        throwBadInput(path + ": cannot open (" + errnoText() + ")");
    std::string text;
    char buffer[65536];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
        text.append(buffer, n);
        if (text.size() > maxBytes) {
            std::fclose(f);
            throwBadInput(path + ": larger than " + std::to_string(maxBytes) + " bytes");
        }
    }
    const bool failed = std::ferror(f);
    std::fclose(f);
    if (failed)
        throwBadInput(path + ": read failed");
    return text;
}

void writeTextFileDurably(const std::string &path, const std::string &text)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throwRuntime(path + ": cannot create (" + errnoText() + ")");
    const char *p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const std::string reason = errnoText();
            ::close(fd);
            throwRuntime(path + ": write failed (" + reason + ")",
                         "Check the free disk space and the folder's permissions.");
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0)
        throwRuntime(path + ": fsync failed (" + errnoText() + ")");
}

// ---------------------------------------------------------------------------------------------
// StagingDir
// ---------------------------------------------------------------------------------------------

namespace {
/// Throws unless `target` is absent, empty, or holds `marker` (a model folder: config.json).
void checkReplaceable(const std::string &target, const std::string &marker)
{
    std::error_code ec;
    const auto status = fs::symlink_status(target, ec);
    if (ec || status.type() == fs::file_type::not_found)
        return;
    if (status.type() != fs::file_type::directory)
        throwBadInput(target + ": exists and is not a folder; refusing to replace it");
    if (!fs::is_empty(target, ec) && !fs::exists(fs::path(target) / marker, ec))
        throwBadInput(target + ": exists, is not empty and holds no " + marker + "; refusing to "
                               "replace it",
                      "Choose a new or empty output folder.");
}
} // namespace

StagingDir::StagingDir(std::string target, std::string marker)
    : m_target(std::move(target)), m_marker(std::move(marker))
{
    while (m_target.size() > 1 && m_target.back() == '/')
        m_target.pop_back();
    if (m_target.empty())
        throwBadInput("empty output folder name");
    checkReplaceable(m_target, m_marker);
    std::error_code ec;
    fs::create_directories(parentOf(m_target), ec);
    std::string pattern = m_target + ".tmp-XXXXXX";
    if (!::mkdtemp(pattern.data()))
        throwRuntime(pattern + ": cannot create the staging folder (" + errnoText() + ")",
                     "Check that the output folder's parent exists and is writable.");
    m_path = pattern;
    // mkdtemp creates 0700; a model folder is shared like any other output.
    ::chmod(m_path.c_str(), 0755);
}

StagingDir::~StagingDir()
{
    if (!m_committed) {
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
}

void StagingDir::commit()
{
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(m_path, ec)) {
        if (entry.is_regular_file(ec))
            fsyncPath(entry.path().string(), false);
    }
    fsyncPath(m_path, true);
    checkReplaceable(m_target, m_marker);

    const auto status = fs::symlink_status(m_target, ec);
    const bool exists = !ec && status.type() != fs::file_type::not_found;
    if (!exists) {
        if (::rename(m_path.c_str(), m_target.c_str()) != 0)
            throwRuntime(m_target + ": cannot rename the new folder into place (" + errnoText()
                         + ")");
        m_committed = true;
        fsyncPath(parentOf(m_target), true);
        return;
    }
    if (::renameat2(AT_FDCWD, m_path.c_str(), AT_FDCWD, m_target.c_str(), RENAME_EXCHANGE) == 0) {
        // m_path now holds the previous folder.
        m_committed = true;
        fsyncPath(parentOf(m_target), true);
        fs::remove_all(m_path, ec);
        return;
    }
    // File systems without RENAME_EXCHANGE: move the old folder aside first (not atomic, but
    // never loses the new folder).
    std::string aside = m_target + ".old-XXXXXX";
    if (!::mkdtemp(aside.data()))
        throwRuntime(aside + ": cannot create (" + errnoText() + ")");
    if (::rename(m_target.c_str(), aside.c_str()) != 0)
        throwRuntime(m_target + ": cannot move the previous folder aside (" + errnoText() + ")");
    if (::rename(m_path.c_str(), m_target.c_str()) != 0) {
        const std::string reason = errnoText();
        ::rename(aside.c_str(), m_target.c_str());
        throwRuntime(m_target + ": cannot rename the new folder into place (" + reason + ")");
    }
    m_committed = true;
    fsyncPath(parentOf(m_target), true);
    fs::remove_all(aside, ec);
}

} // namespace genrec::train
