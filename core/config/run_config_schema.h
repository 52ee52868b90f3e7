#pragma once
/// @file run_config_schema.h
/// The field table of RunConfig: one entry per YAML key with its type, help text, allowed values
/// and accessors. The YAML reader/writer, `--set` overrides, validation, config diffs and the
/// studio's generated forms all walk this one table, so there is no second schema.

#include "core/config/run_config.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace genrec::core {

enum class FieldType { Bool, Int, Float, String, StringList, IntList, FloatList };

/// A field's value, whatever its type.
using FieldValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>,
                                std::vector<int64_t>, std::vector<double>>;

/// One YAML key of RunConfig.
struct FieldSpec
{
    std::string key;                  ///< dotted path, e.g. "sft.learning_rate"
    FieldType type;
    std::string group;                ///< form group: Run, Model, Fine-tuning, Data, Devices, SFT, RL, Eval
    std::string help;                 ///< one line: what it does (and what it costs)
    std::vector<std::string> choices; ///< allowed values (String) or allowed items (StringList)
    std::optional<double> min;        ///< numeric lower bound (inclusive)
    std::optional<double> max;        ///< numeric upper bound (inclusive)
    bool isPath = false;              ///< a file or folder (forms show a browse button)
    std::function<FieldValue(const RunConfig &)> get;
    std::function<void(RunConfig &, const FieldValue &)> set;
};

/// Every field of RunConfig, in file order.
const std::vector<FieldSpec> &runConfigSchema();

/// The field with this dotted key, or nullptr.
const FieldSpec *findField(const std::string &key);

/// Renders a value as it is written in YAML flow style (`0.0003`, `[sft, rl]`, `"text"`).
std::string formatFieldValue(const FieldValue &value);

/// Keys whose values differ between two configs (in schema order).
std::vector<std::string> diffConfigs(const RunConfig &a, const RunConfig &b);

} // namespace genrec::core
