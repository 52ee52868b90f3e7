#pragma once
/// @file run_config_yaml.h
/// RunConfig <-> YAML. The only place that knows YAML (style rule 9).

#include "core/config/config_problem.h"
#include "core/config/run_config.h"

#include <string>
#include <vector>

namespace genrec::core {

/// Result of reading a YAML config: the config (defaults where keys are absent) and every problem
/// found while reading (syntax errors, unknown keys with a did-you-mean, type errors with the line).
struct ConfigParseResult
{
    RunConfig config;
    std::vector<ConfigProblem> problems;
};

/// Parses YAML text. `source` names the file in problems ("<stdin>" for standard input).
/// Never throws for bad input: everything lands in `problems`.
ConfigParseResult parseRunConfigYaml(const std::string &text, const std::string &source);

/// Writes the full config (every key, defaults included). With comments, each key carries its
/// one-line help and the groups get banners, as `genrec config init` prints.
std::string runConfigToYaml(const RunConfig &config, bool withComments);

/// Applies one `key=value` override (value in YAML syntax: `0.001`, `[sft, rl]`, `true`).
/// Returns the problems (unknown key, bad value); the config is unchanged for a bad override.
std::vector<ConfigProblem> applyOverride(RunConfig &config, const std::string &assignment);

/// Reads text, applies overrides, validates. Every problem (syntax, unknown keys, types, overrides,
/// then semantic checks with the YAML line of their key) lands in `problems`; never throws.
ConfigParseResult checkRunConfigText(const std::string &text, const std::string &source,
                                     const std::vector<std::string> &overrides = {});

/// Reads text, applies overrides, validates; throws core::Error(BadInput) listing every problem.
RunConfig loadRunConfig(const std::string &text, const std::string &source,
                        const std::vector<std::string> &overrides = {});

/// Closest known keys to an unknown one (for "did you mean"), best first, at most 3.
std::vector<std::string> suggestKeys(const std::string &unknownKey);

} // namespace genrec::core
