#include "core/data/synth.h"

#include "core/common/error.h"
#include "core/data/csv_reader.h"
#include "core/data/py_literal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

namespace fs = std::filesystem;

namespace genrec::core {

namespace {

/// splitmix64: tiny, portable, and the same sequence everywhere.
struct Rng
{
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
    double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
    template <class T>
    void shuffle(std::vector<T> &v)
    {
        for (size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[static_cast<size_t>(below(static_cast<int64_t>(i)))]);
    }
};

const char *const kCategories[] = {"Writing", "Paper", "Desk", "Filing"};
const char *const kTypes[4][4] = {
    {"Gel Pen", "Ballpoint Pen", "Highlighter", "Pencil"},
    {"Notebook", "Sticky Notes", "Copy Paper", "Index Cards"},
    {"Stapler", "Desk Lamp", "Tape Dispenser", "Monitor Stand"},
    {"File Folder", "Binder", "Label Maker", "Envelope"},
};
const char *const kAdjectives[] = {"Classic", "Premium", "Compact", "Eco", "Pro", "Soft-Grip", "Bold", "Slim"};
const char *const kBrands[] = {"Acme", "Writer's Choice", "OfficeLine", "Nordic", "Quill & Co"};
const char *const kPacks[] = {"", ", 12-Pack", ", 3-Pack", " (Assorted Colors)", ", \"Jumbo\" Size"};

void writeFile(const fs::path &p, const std::string &text)
{
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out)
        throwRuntime(p.string() + ": cannot write file", "check free disk space and permissions");
}

} // namespace

void writeSynthDataset(const std::string &outDir, const SynthOptions &o)
{
    if (o.users < 10 || o.users > 1000000)
        throwBadInput("--users must be between 10 and 1000000, got " + std::to_string(o.users));
    if (o.items < 32 || o.items > 65536)
        throwBadInput("--items must be between 32 and 65536, got " + std::to_string(o.items));
    if (o.name.empty() || o.name.find_first_of("/\\ ") != std::string::npos)
        throwBadInput("--name '" + o.name + "' must be a plain file-name prefix");

    Rng rng{o.seed * 0x2545F4914F6CDD1Dull + 17};
    const int64_t nA = 4, nB = 4;
    const int64_t nC = (o.items + nA * nB - 1) / (nA * nB);
    // Codes are permuted so that code numbers carry no order, like RQ-VAE codebooks.
    auto perm = [&rng](int64_t n) {
        std::vector<int64_t> p(static_cast<size_t>(n));
        std::iota(p.begin(), p.end(), 0);
        rng.shuffle(p);
        return p;
    };
    const auto codeA = perm(nA * 4), codeB = perm(nB * 8), codeC = perm(std::max<int64_t>(nC, 16));

    struct ItemRec
    {
        int64_t a, b, c;
        std::vector<std::string> sid;
        std::string title, description;
    };
    std::vector<ItemRec> items(static_cast<size_t>(o.items));
    for (int64_t i = 0; i < o.items; ++i) {
        ItemRec &it = items[static_cast<size_t>(i)];
        it.a = i / (nB * nC);
        it.b = (i / nC) % nB;
        it.c = i % nC;
        it.sid = {"<a_" + std::to_string(codeA[static_cast<size_t>(it.a)]) + ">",
                  "<b_" + std::to_string(codeB[static_cast<size_t>(it.a * nB + it.b) % codeB.size()]) + ">",
                  "<c_" + std::to_string(codeC[static_cast<size_t>(it.c)]) + ">"};
        const char *type = kTypes[it.a % 4][it.b % 4];
        it.title = std::string(kBrands[it.c % 5]) + " " + kAdjectives[(it.c / 5) % 8] + " " + type +
                   kPacks[(it.c + it.b) % 5];
        it.description = "A " + std::string(kAdjectives[(it.c / 5) % 8]) + " " + type + " from the " +
                         kCategories[it.a % 4] + " range.";
    }
    // A few deliberate SID collisions (as real RQ indices have): the last variant of some types
    // shares the SID of the first.
    for (int64_t t = 0; t < nA * nB; t += 5) {
        const int64_t last = t * nC + nC - 1;
        if (nC > 2 && last < o.items)
            items[static_cast<size_t>(last)].sid = items[static_cast<size_t>(t * nC)].sid;
    }

    // Users: one or two favourite product types; the next item usually continues the variant
    // sequence of the current type (a learnable sequential pattern), else another favourite.
    struct Event
    {
        int64_t user, item, time;
    };
    std::vector<std::vector<int64_t>> seqs(static_cast<size_t>(o.users));
    std::vector<std::vector<int64_t>> times(static_cast<size_t>(o.users));
    for (int64_t u = 0; u < o.users; ++u) {
        const int64_t fav1 = rng.below(nA * nB);
        const int64_t fav2 = rng.unit() < 0.5 ? fav1 : (fav1 / nB) * nB + rng.below(nB);
        const int64_t len = 5 + rng.below(10);
        int64_t type = fav1, variant = rng.below(nC);
        int64_t t = rng.below(1000);
        for (int64_t k = 0; k < len; ++k) {
            const int64_t item = std::min<int64_t>(type * nC + variant, o.items - 1);
            seqs[static_cast<size_t>(u)].push_back(item);
            times[static_cast<size_t>(u)].push_back(t);
            t += 1 + rng.below(10);
            const double r = rng.unit();
            if (r < 0.65) {
                variant = (variant + 1) % nC;
            } else if (r < 0.85) {
                type = rng.unit() < 0.5 ? fav1 : fav2;
                variant = rng.below(nC);
            } else {
                type = rng.below(nA * nB);
                variant = rng.below(nC);
            }
        }
    }

    // Samples as MiniOneRec builds them: every position i >= 1, history = the last <= 10 items,
    // sorted globally by target time, split 8:1:1.
    struct Row
    {
        int64_t user, time;
        std::vector<int64_t> history;
        int64_t target;
    };
    std::vector<Row> rows;
    for (int64_t u = 0; u < o.users; ++u) {
        const auto &s = seqs[static_cast<size_t>(u)];
        for (size_t i = 1; i < s.size(); ++i) {
            Row r{u, times[static_cast<size_t>(u)][i], {}, s[i]};
            r.history.assign(s.begin() + static_cast<long>(i >= 10 ? i - 10 : 0), s.begin() + static_cast<long>(i));
            rows.push_back(std::move(r));
        }
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Row &x, const Row &y) { return x.time < y.time; });
    const size_t n = rows.size();
    const size_t nTrain = static_cast<size_t>(0.8 * static_cast<double>(n));
    const size_t nValid = static_cast<size_t>(0.9 * static_cast<double>(n));

    const fs::path root(outDir);
    std::error_code ec;
    const bool flat = o.flat;
    for (const char *d : {"train", "valid", "test", "index", "info"})
        fs::create_directories(flat ? root : root / d, ec);
    if (ec)
        throwRuntime(outDir + ": cannot create folder: " + ec.message());

    nlohmann::ordered_json index = nlohmann::ordered_json::object();
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    std::string info;
    for (int64_t i = 0; i < o.items; ++i) {
        const ItemRec &it = items[static_cast<size_t>(i)];
        index[std::to_string(i)] = it.sid;
        meta[std::to_string(i)] = {{"title", it.title},
                                   {"description", it.description},
                                   {"brand", kBrands[it.c % 5]},
                                   {"categories", kCategories[it.a % 4]}};
        info += it.sid[0] + it.sid[1] + it.sid[2] + "\t" + it.title + "\t" + std::to_string(i) + "\n";
    }
    const std::string ds = o.name;
    writeFile(flat ? root / (ds + ".index.json") : root / "index" / (ds + ".index.json"), index.dump() + "\n");
    writeFile(flat ? root / (ds + ".item.json") : root / "index" / (ds + ".item.json"), meta.dump(1) + "\n");
    writeFile(flat ? root / (ds + ".info.txt") : root / "info" / (ds + "_synth.txt"), info);

    auto sidOf = [&](int64_t id) {
        const auto &s = items[static_cast<size_t>(id)].sid;
        return s[0] + s[1] + s[2];
    };
    auto writeSplit = [&](const char *split, size_t from, size_t to) {
        std::string csv;
        for (size_t k = 0; k < 7; ++k) {
            static const char *cols[] = {"user_id", "history_item_title", "item_title", "history_item_id",
                                         "item_id", "history_item_sid", "item_sid"};
            csv += std::string(k ? "," : "") + cols[k];
        }
        csv += "\n";
        for (size_t k = from; k < to; ++k) {
            const Row &r = rows[k];
            std::vector<std::string> titles, sids;
            for (int64_t h : r.history) {
                titles.push_back(items[static_cast<size_t>(h)].title);
                sids.push_back(sidOf(h));
            }
            csv += "A" + std::to_string(r.user) + "," + csvQuote(pyReprList(titles)) + "," +
                   csvQuote(items[static_cast<size_t>(r.target)].title) + "," + csvQuote(pyReprList(r.history)) +
                   "," + std::to_string(r.target) + "," + csvQuote(pyReprList(sids)) + "," + sidOf(r.target) + "\n";
        }
        writeFile(flat ? root / (ds + "." + split + ".csv") : root / split / (ds + "_synth.csv"), csv);
    };
    writeSplit("train", 0, nTrain);
    writeSplit("valid", nTrain, nValid);
    writeSplit("test", nValid, n);
}

} // namespace genrec::core
