#include "core/data/dataset.h"

#include "core/common/error.h"
#include "core/data/csv_reader.h"
#include "core/data/py_literal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace genrec::core {

namespace {

std::string readAll(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throwBadInput(path + ": cannot open file", "check the dataset folder and dataset name");
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// First file in `dir` whose name starts with `prefix` and ends with `suffix` (sorted for determinism).
std::string findFile(const fs::path &dir, const std::string &prefix, const std::string &suffix)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return {};
    std::vector<std::string> hits;
    for (const auto &e : fs::directory_iterator(dir, ec)) {
        const std::string n = e.path().filename().string();
        if (n.size() >= prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
            hits.push_back(e.path().string());
    }
    std::sort(hits.begin(), hits.end());
    return hits.empty() ? std::string() : hits.front();
}

std::vector<std::string> datasetNamesIn(const fs::path &dir)
{
    std::set<std::string> names;
    std::error_code ec;
    for (const fs::path &d : {dir / "index", dir}) {
        if (!fs::is_directory(d, ec))
            continue;
        for (const auto &e : fs::directory_iterator(d, ec)) {
            const std::string n = e.path().filename().string();
            const std::string suffix = ".index.json";
            if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
                names.insert(n.substr(0, n.size() - suffix.size()));
        }
    }
    return {names.begin(), names.end()};
}

std::string splitSid(const std::string &sid, std::vector<std::string> &tokens)
{
    tokens.clear();
    size_t i = 0;
    while (i < sid.size()) {
        if (sid[i] != '<')
            return "SID '" + sid + "' is not a sequence of <token>s";
        const auto close = sid.find('>', i);
        if (close == std::string::npos)
            return "SID '" + sid + "' has an unclosed '<'";
        tokens.push_back(sid.substr(i, close - i + 1));
        i = close + 1;
    }
    if (tokens.empty())
        return "empty SID";
    return {};
}

void loadIndex(const std::string &path, Dataset &ds)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readAll(path));
    } catch (const nlohmann::json::parse_error &e) {
        throwBadInput(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what(),
                      "index.json maps item ids to SID token lists");
    }
    if (!j.is_object())
        throwBadInput(path + ": expected an object {\"<item id>\": [\"<a_1>\", ...]}");
    for (auto it = j.begin(); it != j.end(); ++it) {
        Item item;
        try {
            size_t used = 0;
            item.id = std::stoll(it.key(), &used);
            if (used != it.key().size())
                throw std::invalid_argument("trailing text");
        } catch (const std::exception &) {
            throwBadInput(path + ": key '" + it.key() + "' is not an item id");
        }
        if (!it.value().is_array() || it.value().empty())
            throwBadInput(path + ": item " + it.key() + ": expected a non-empty list of SID tokens");
        for (const auto &t : it.value()) {
            if (!t.is_string())
                throwBadInput(path + ": item " + it.key() + ": SID tokens must be strings");
            const std::string tok = t.get<std::string>();
            if (tok.size() < 3 || tok.front() != '<' || tok.back() != '>')
                throwBadInput(path + ": item " + it.key() + ": '" + tok + "' is not a <token>");
            item.sidTokens.push_back(tok);
            item.sid += tok;
        }
        ds.items.push_back(std::move(item));
    }
    std::sort(ds.items.begin(), ds.items.end(), [](const Item &a, const Item &b) { return a.id < b.id; });
    for (size_t k = 1; k < ds.items.size(); ++k)
        if (ds.items[k].id == ds.items[k - 1].id)
            throwBadInput(path + ": item " + std::to_string(ds.items[k].id) + " appears twice");
}

void loadItemMeta(const std::string &path, Dataset &ds)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readAll(path));
    } catch (const nlohmann::json::parse_error &e) {
        throwBadInput(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
    }
    if (!j.is_object())
        throwBadInput(path + ": expected an object {\"<item id>\": {\"title\": ...}}");
    for (auto it = j.begin(); it != j.end(); ++it) {
        int64_t id = 0;
        try {
            id = std::stoll(it.key());
        } catch (const std::exception &) {
            throwBadInput(path + ": key '" + it.key() + "' is not an item id");
        }
        Item *item = const_cast<Item *>(ds.item(id));
        if (!item)
            continue; // metadata for an item without a SID: unused
        if (!it.value().is_object())
            throwBadInput(path + ": item " + it.key() + ": expected an object");
        const auto &v = it.value();
        if (auto t = v.find("title"); t != v.end() && t->is_string())
            item->title = t->get<std::string>();
        if (auto d = v.find("description"); d != v.end() && d->is_string())
            item->description = d->get<std::string>();
    }
}

void loadSplit(const std::string &path, Dataset &ds, std::vector<Sample> &out, const ProgressFn &progress)
{
    CsvReader csv(path);
    std::vector<std::string> f;
    if (!csv.next(f))
        throwBadInput(path + ": empty file", "expected the header " + std::string("user_id,history_item_title,..."));
    const auto &cols = csvColumns();
    std::vector<int> at(cols.size(), -1);
    for (size_t c = 0; c < f.size(); ++c)
        for (size_t k = 0; k < cols.size(); ++k)
            if (f[c] == cols[k])
                at[k] = static_cast<int>(c);
    for (size_t k = 0; k < cols.size(); ++k)
        if (at[k] < 0 && (cols[k] == "user_id" || cols[k] == "history_item_id" || cols[k] == "item_id"))
            throwBadInput(path + ":1: missing column '" + cols[k] + "'",
                          "MiniOneRec CSVs have: user_id,history_item_title,item_title,history_item_id,"
                          "item_id,history_item_sid,item_sid");
    const size_t width = f.size();
    std::vector<std::string> tokens;
    int64_t rows = 0;
    while (csv.next(f)) {
        const std::string where = path + ":" + std::to_string(csv.recordLine());
        if (f.size() == 1 && f[0].empty())
            continue; // blank line
        if (f.size() != width)
            throwBadInput(where + ": expected " + std::to_string(width) + " columns, found " +
                              std::to_string(f.size()),
                          "list columns with commas must be quoted");
        auto col = [&](size_t k) -> const std::string & { return f[static_cast<size_t>(at[k])]; };
        Sample s;
        s.line = csv.recordLine();
        s.userId = col(0);
        try {
            s.history = parsePyIntList(col(3));
        } catch (const std::invalid_argument &e) {
            throwBadInput(where + ": column history_item_id: " + e.what(), "expected a list like [12, 7]");
        }
        try {
            size_t used = 0;
            s.target = std::stoll(col(4), &used);
            if (used != col(4).size())
                throw std::invalid_argument("x");
        } catch (const std::exception &) {
            throwBadInput(where + ": column item_id: '" + col(4) + "' is not an item id");
        }
        for (int64_t id : s.history)
            if (!ds.item(id))
                throwBadInput(where + ": column history_item_id: item " + std::to_string(id) +
                                  " is not in the index", "the CSV and index.json must come from one dataset");
        const Item *target = ds.item(s.target);
        if (!target)
            throwBadInput(where + ": column item_id: item " + std::to_string(s.target) + " is not in the index",
                          "the CSV and index.json must come from one dataset");
        if (at[6] >= 0 && col(6) != target->sid)
            throwBadInput(where + ": column item_sid: '" + col(6) + "' but index.json gives item " +
                              std::to_string(s.target) + " the SID '" + target->sid + "'");
        if (at[5] >= 0) {
            std::vector<std::string> sids;
            try {
                sids = parsePyStringList(col(5));
            } catch (const std::invalid_argument &e) {
                throwBadInput(where + ": column history_item_sid: " + e.what(),
                              "expected a Python list like ['<a_1><b_2><c_3>']");
            }
            if (sids.size() != s.history.size())
                throwBadInput(where + ": column history_item_sid: " + std::to_string(sids.size()) +
                              " SIDs for " + std::to_string(s.history.size()) + " history items");
            for (size_t k = 0; k < sids.size(); ++k)
                if (const std::string err = splitSid(sids[k], tokens); !err.empty())
                    throwBadInput(where + ": column history_item_sid: " + err);
        }
        if (at[1] >= 0) {
            try {
                const auto titles = parsePyStringList(col(1));
                if (titles.size() != s.history.size())
                    throwBadInput(where + ": column history_item_title: " + std::to_string(titles.size()) +
                                  " titles for " + std::to_string(s.history.size()) + " history items");
            } catch (const std::invalid_argument &e) {
                throwBadInput(where + ": column history_item_title: " + e.what(),
                              "expected a Python list of quoted titles");
            }
        }
        out.push_back(std::move(s));
        if (progress && (++rows % 1024) == 0 && !progress(rows, -1))
            throw Error(ErrorKind::Interrupted, "loading " + path + " cancelled");
    }
}

} // namespace

const std::vector<std::string> &csvColumns()
{
    static const std::vector<std::string> cols = {"user_id",         "history_item_title", "item_title",
                                                  "history_item_id", "item_id",            "history_item_sid",
                                                  "item_sid"};
    return cols;
}

std::string fnv1aHex(const std::string &data, uint64_t h)
{
    for (unsigned char c : data) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

DatasetFiles locateDataset(const std::string &dirIn, const std::string &nameIn)
{
    const fs::path dir(dirIn);
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throwBadInput(dirIn + ": not a folder", "dataset_dir must be a MiniOneRec-layout or flat dataset folder");
    std::string name = nameIn;
    if (name.empty()) {
        const auto names = datasetNamesIn(dir);
        if (names.empty())
            throwBadInput(dirIn + ": no <name>.index.json here or in index/", "is this a MiniOneRec dataset folder?");
        if (names.size() > 1) {
            std::string all;
            for (const auto &n : names)
                all += (all.empty() ? "" : ", ") + n;
            throwBadInput(dirIn + ": several datasets (" + all + ")", "pick one with --dataset / dataset:");
        }
        name = names.front();
    }
    DatasetFiles f;
    f.dir = dirIn;
    f.name = name;
    if (fs::exists(dir / "index" / (name + ".index.json"), ec)) {
        f.layout = "minionerec";
        f.index = (dir / "index" / (name + ".index.json")).string();
        f.items = (dir / "index" / (name + ".item.json")).string();
        f.train = findFile(dir / "train", name, ".csv");
        f.valid = findFile(dir / "valid", name, ".csv");
        f.test = findFile(dir / "test", name, ".csv");
        f.info = findFile(dir / "info", name, ".txt");
    } else if (fs::exists(dir / (name + ".index.json"), ec)) {
        f.layout = "flat";
        f.index = (dir / (name + ".index.json")).string();
        f.items = (dir / (name + ".item.json")).string();
        f.train = (dir / (name + ".train.csv")).string();
        f.valid = (dir / (name + ".valid.csv")).string();
        f.test = (dir / (name + ".test.csv")).string();
        if (fs::exists(dir / (name + ".info.txt"), ec))
            f.info = (dir / (name + ".info.txt")).string();
    } else {
        const auto names = datasetNamesIn(dir);
        std::string all;
        for (const auto &n : names)
            all += (all.empty() ? "" : ", ") + n;
        throwBadInput(dirIn + ": no dataset '" + name + "' (no index/" + name + ".index.json or " + name +
                          ".index.json)",
                      names.empty() ? "is this a MiniOneRec dataset folder?" : "datasets here: " + all);
    }
    for (auto *p : {&f.train, &f.valid, &f.test}) {
        const char *split = p == &f.train ? "train" : p == &f.valid ? "valid" : "test";
        if (p->empty() || !fs::exists(*p, ec))
            throwBadInput(dirIn + ": dataset '" + name + "' has no " + split + " CSV" +
                              (f.layout == "flat" ? " (" + name + "." + split + ".csv)" : " (" + std::string(split) + "/" + name + "*.csv)"));
    }
    if (!fs::exists(f.items, ec))
        throwBadInput(f.items + ": missing", "item.json holds the titles used by the title tasks");
    return f;
}

Dataset loadDataset(const std::string &dir, const std::string &name, const ProgressFn &progress)
{
    Dataset ds;
    ds.files = locateDataset(dir, name);
    ds.name = ds.files.name;
    loadIndex(ds.files.index, ds);
    ds.buildIndex();
    loadItemMeta(ds.files.items, ds);
    loadSplit(ds.files.train, ds, ds.train, progress);
    loadSplit(ds.files.valid, ds, ds.valid, progress);
    loadSplit(ds.files.test, ds, ds.test, progress);
    return ds;
}

void Dataset::buildIndex()
{
    m_index.clear();
    for (size_t k = 0; k < items.size(); ++k)
        m_index.emplace(items[k].id, static_cast<int64_t>(k));
}

const Item *Dataset::item(int64_t id) const
{
    const auto it = m_index.find(id);
    return it == m_index.end() ? nullptr : &items[static_cast<size_t>(it->second)];
}

std::string Dataset::titlesOf(const std::vector<int64_t> &ids) const
{
    std::string s;
    for (int64_t id : ids) {
        const Item *it = item(id);
        if (!s.empty())
            s += " | ";
        s += it ? it->title : std::to_string(id);
    }
    return s;
}

int64_t Dataset::indexOf(int64_t id) const
{
    const auto it = m_index.find(id);
    return it == m_index.end() ? -1 : it->second;
}

const std::vector<Sample> &Dataset::split(const std::string &s) const
{
    if (s == "train")
        return train;
    if (s == "valid")
        return valid;
    if (s == "test")
        return test;
    throwBadInput("unknown split '" + s + "'", "use train, valid or test");
}

std::vector<std::string> Dataset::sidVocabulary() const
{
    std::set<std::string> all; // std::string compares bytewise, like Python's str sort for ASCII
    for (const Item &i : items)
        all.insert(i.sidTokens.begin(), i.sidTokens.end());
    return {all.begin(), all.end()};
}

int Dataset::levels() const
{
    size_t n = 0;
    for (const Item &i : items)
        n = std::max(n, i.sidTokens.size());
    return static_cast<int>(n);
}

std::unordered_map<std::string, std::vector<int64_t>> Dataset::itemsBySid() const
{
    std::unordered_map<std::string, std::vector<int64_t>> out;
    for (const Item &i : items)
        out[i.sid].push_back(i.id);
    return out;
}

std::string Dataset::categoryPhrase() const
{
    std::string out;
    for (char c : name)
        out += c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string Dataset::dataHash() const
{
    uint64_t h = 1469598103934665603ull;
    std::string buf;
    for (const auto *split : {&train, &valid, &test}) {
        for (const Sample &s : *split) {
            buf.clear();
            buf += s.userId;
            for (int64_t id : s.history)
                buf += "," + std::to_string(id);
            buf += ">" + std::to_string(s.target) + ";";
            h = std::stoull(fnv1aHex(buf, h), nullptr, 16);
        }
        h = std::stoull(fnv1aHex("|", h), nullptr, 16);
    }
    for (const Item &i : items)
        h = std::stoull(fnv1aHex(std::to_string(i.id) + i.title + "\n", h), nullptr, 16);
    return fnv1aHex("", h);
}

std::string Dataset::sidHash() const
{
    std::string buf;
    for (const Item &i : items)
        buf += std::to_string(i.id) + "=" + i.sid + "\n";
    return fnv1aHex(buf);
}

} // namespace genrec::core
