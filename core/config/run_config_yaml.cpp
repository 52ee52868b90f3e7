#include "core/config/run_config_yaml.h"

#include "core/common/error.h"
#include "core/config/run_config_schema.h"
#include "core/config/run_config_validate.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace genrec::core {

namespace {

int editDistance(const std::string &a, const std::string &b)
{
    std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        prev[j] = static_cast<int>(j);
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = static_cast<int>(i);
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string lastSegment(const std::string &key)
{
    const auto dot = key.rfind('.');
    return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string typeName(FieldType t)
{
    switch (t) {
    case FieldType::Bool:
        return "a boolean (true/false)";
    case FieldType::Int:
        return "an integer";
    case FieldType::Float:
        return "a number";
    case FieldType::String:
        return "a string";
    case FieldType::StringList:
        return "a list of strings";
    case FieldType::IntList:
        return "a list of integers";
    case FieldType::FloatList:
        return "a list of numbers";
    }
    return "a value";
}

template <class T>
T scalarAs(const YAML::Node &n)
{
    if (!n.IsScalar())
        throw YAML::BadConversion(n.Mark());
    return n.as<T>();
}

/// Converts a YAML node to the field's type; throws YAML::Exception on mismatch.
FieldValue convertNode(const FieldSpec &f, const YAML::Node &n)
{
    auto asList = [&n]<class T>(T *) {
        std::vector<T> out;
        if (n.IsNull())
            return out;
        if (n.IsScalar()) {
            out.push_back(n.as<T>());
            return out;
        }
        if (!n.IsSequence())
            throw YAML::BadConversion(n.Mark());
        for (const auto &item : n)
            out.push_back(scalarAs<T>(item));
        return out;
    };
    switch (f.type) {
    case FieldType::Bool:
        return scalarAs<bool>(n);
    case FieldType::Int:
        return scalarAs<int64_t>(n);
    case FieldType::Float:
        return scalarAs<double>(n);
    case FieldType::String:
        return n.IsNull() ? std::string() : scalarAs<std::string>(n);
    case FieldType::StringList:
        return asList(static_cast<std::string *>(nullptr));
    case FieldType::IntList:
        return asList(static_cast<int64_t *>(nullptr));
    case FieldType::FloatList:
        return asList(static_cast<double *>(nullptr));
    }
    throw YAML::BadConversion(n.Mark());
}

void unknownKeyProblem(const std::string &path, int line, const std::string &source,
                       std::vector<ConfigProblem> &problems)
{
    ConfigProblem p;
    p.path = path;
    p.line = line;
    p.source = source;
    p.message = "unknown key";
    const auto s = suggestKeys(path);
    if (!s.empty()) {
        std::string joined;
        for (size_t i = 0; i < s.size(); ++i)
            joined += (i ? " or " : "") + s[i];
        p.hint = "did you mean " + joined + "?";
    } else {
        p.hint = "run `genrec config init` to see every key";
    }
    problems.push_back(std::move(p));
}

bool isSection(const std::string &prefix)
{
    for (const FieldSpec &f : runConfigSchema())
        if (f.key.rfind(prefix + ".", 0) == 0)
            return true;
    return false;
}

void walk(const YAML::Node &node, const std::string &prefix, RunConfig &cfg,
          const std::string &source, std::vector<ConfigProblem> &problems)
{
    for (const auto &kv : node) {
        const int line = kv.first.Mark().line + 1;
        std::string key;
        try {
            key = kv.first.as<std::string>();
        } catch (const YAML::Exception &) {
            problems.push_back({prefix, "keys must be plain strings", "", source, line});
            continue;
        }
        const std::string path = prefix.empty() ? key : prefix + "." + key;
        const FieldSpec *f = findField(path);
        if (!f) {
            if (kv.second.IsMap() && isSection(path))
                walk(kv.second, path, cfg, source, problems);
            else if (isSection(path))
                problems.push_back({path, "expected a section (a mapping of keys)", "", source, line});
            else
                unknownKeyProblem(path, line, source, problems);
            continue;
        }
        try {
            f->set(cfg, convertNode(*f, kv.second));
        } catch (const YAML::Exception &) {
            std::string got = kv.second.IsScalar() ? "'" + kv.second.Scalar() + "'"
                              : kv.second.IsSequence() ? "a list"
                              : kv.second.IsMap()      ? "a mapping"
                                                       : "nothing";
            problems.push_back({path, "expected " + typeName(f->type) + ", got " + got,
                                "example: " + lastSegment(path) + ": " + formatFieldValue(f->get(RunConfig())),
                                source, kv.second.Mark().line + 1});
        }
    }
}

std::string escapeComment(const std::string &s)
{
    std::string out = s;
    std::replace(out.begin(), out.end(), '\n', ' ');
    return out;
}

} // namespace

std::string ConfigProblem::toString() const
{
    std::string out;
    if (!source.empty()) {
        out += source;
        if (line > 0)
            out += ":" + std::to_string(line);
        out += ": ";
    }
    if (!path.empty())
        out += path + ": ";
    out += message;
    if (!hint.empty())
        out += " (hint: " + hint + ")";
    return out;
}

void throwIfProblems(const std::vector<ConfigProblem> &problems)
{
    if (problems.empty())
        return;
    std::string msg;
    for (size_t i = 0; i < problems.size(); ++i)
        msg += (i ? "\n" : "") + problems[i].toString();
    throw Error(ErrorKind::BadInput, msg);
}

std::vector<std::string> suggestKeys(const std::string &unknownKey)
{
    std::vector<std::pair<int, std::string>> scored;
    const std::string last = lastSegment(unknownKey);
    for (const FieldSpec &f : runConfigSchema()) {
        int d = editDistance(unknownKey, f.key);
        // A key put in the wrong section (learning_rate at the top) matches on its last segment.
        const int dLast = editDistance(last, lastSegment(f.key));
        d = std::min(d, dLast == 0 ? 0 : dLast + 1);
        scored.emplace_back(d, f.key);
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    std::vector<std::string> out;
    const int limit = std::max<int>(2, static_cast<int>(last.size()) / 3);
    for (const auto &[d, key] : scored) {
        if (d > limit || out.size() == 3)
            break;
        if (d > scored.front().first + 1)
            break;
        out.push_back(key);
    }
    return out;
}

ConfigParseResult parseRunConfigYaml(const std::string &text, const std::string &source)
{
    ConfigParseResult r;
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException &e) {
        r.problems.push_back({"", "YAML syntax error: " + e.msg, "check indentation and quoting",
                              source, e.mark.line + 1});
        return r;
    }
    if (root.IsNull())
        return r;
    if (!root.IsMap()) {
        r.problems.push_back({"", "expected a mapping of keys at the top level",
                              "start from `genrec config init`", source, root.Mark().line + 1});
        return r;
    }
    walk(root, "", r.config, source, r.problems);
    return r;
}

std::string runConfigToYaml(const RunConfig &config, bool withComments)
{
    std::ostringstream out;
    if (withComments) {
        out << "# GenRec Studio run configuration.\n"
               "# Run it:       genrec train run.yaml [--set key=value ...]\n"
               "# Check it:     genrec config validate run.yaml\n"
               "# Defaults reproduce MiniOneRec's scripts; every key is documented inline.\n";
    }
    std::string section;
    std::string group;
    for (const FieldSpec &f : runConfigSchema()) {
        const auto dot = f.key.find('.');
        const std::string sec = dot == std::string::npos ? "" : f.key.substr(0, dot);
        const std::string name = dot == std::string::npos ? f.key : f.key.substr(dot + 1);
        if (sec != section) {
            section = sec;
            if (withComments)
                out << "\n# " << f.group << " stage\n";
            out << section << ":\n";
        } else if (sec.empty() && f.group != group && withComments) {
            out << "\n# " << f.group << "\n";
        }
        group = f.group;
        const std::string indent = sec.empty() ? "" : "  ";
        std::string line = indent + name + ": " + formatFieldValue(f.get(config));
        if (withComments) {
            if (line.size() < 44)
                line.resize(44, ' ');
            line += "  # " + escapeComment(f.help);
            if (!f.choices.empty() && f.type == FieldType::String) {
                std::string c;
                for (const auto &ch : f.choices)
                    c += (c.empty() ? "" : "|") + ch;
                if (f.help.find(c) == std::string::npos && f.help.find(f.choices[0] + ":") == std::string::npos)
                    line += " [" + c + "]";
            }
        }
        out << line << "\n";
    }
    return out.str();
}

std::vector<ConfigProblem> applyOverride(RunConfig &config, const std::string &assignment)
{
    std::vector<ConfigProblem> problems;
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
        problems.push_back({"", "override '" + assignment + "' is not key=value",
                            "e.g. --set sft.learning_rate=1e-4", "--set", 0});
        return problems;
    }
    const std::string key = assignment.substr(0, eq);
    const std::string value = assignment.substr(eq + 1);
    const FieldSpec *f = findField(key);
    if (!f) {
        unknownKeyProblem(key, 0, "--set", problems);
        return problems;
    }
    try {
        YAML::Node n = YAML::Load(value.empty() ? "\"\"" : value);
        f->set(config, convertNode(*f, n));
    } catch (const YAML::Exception &) {
        problems.push_back({key, "expected " + typeName(f->type) + ", got '" + value + "'",
                            "example: --set " + key + "=" + formatFieldValue(f->get(RunConfig())),
                            "--set", 0});
    }
    return problems;
}

ConfigParseResult checkRunConfigText(const std::string &text, const std::string &source,
                                     const std::vector<std::string> &overrides)
{
    ConfigParseResult r = parseRunConfigYaml(text, source);
    for (const std::string &o : overrides) {
        auto p = applyOverride(r.config, o);
        r.problems.insert(r.problems.end(), p.begin(), p.end());
    }
    const bool syntaxError = !r.problems.empty() && r.problems.front().path.empty();
    if (!syntaxError) {
        // Validation problems get the YAML line of their key when we can find it.
        auto v = validateRunConfig(r.config);
        std::map<std::string, int> lines;
        try {
            YAML::Node root = YAML::Load(text);
            std::function<void(const YAML::Node &, const std::string &)> index =
                [&](const YAML::Node &n, const std::string &prefix) {
                    if (!n.IsMap())
                        return;
                    for (const auto &kv : n) {
                        const std::string k = kv.first.as<std::string>("");
                        const std::string path = prefix.empty() ? k : prefix + "." + k;
                        lines[path] = kv.first.Mark().line + 1;
                        index(kv.second, path);
                    }
                };
            index(root, "");
        } catch (const YAML::Exception &) {
        }
        for (auto &p : v) {
            p.source = source;
            if (auto it = lines.find(p.path); it != lines.end())
                p.line = it->second;
        }
        r.problems.insert(r.problems.end(), v.begin(), v.end());
    }
    return r;
}

RunConfig loadRunConfig(const std::string &text, const std::string &source,
                        const std::vector<std::string> &overrides)
{
    ConfigParseResult r = checkRunConfigText(text, source, overrides);
    throwIfProblems(r.problems);
    return r.config;
}

} // namespace genrec::core
