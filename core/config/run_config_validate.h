#pragma once
/// @file run_config_validate.h
/// Semantic checks of a RunConfig: ranges, allowed values, and the rules between fields.
/// Pure function of the config (no file system access), so the studio can run it on every edit.

#include "core/config/config_problem.h"
#include "core/config/run_config.h"

#include <string>
#include <vector>

namespace genrec::core {

/// Every problem at once, in schema order, each with path, message and hint.
std::vector<ConfigProblem> validateRunConfig(const RunConfig &config);

/// Built-in from-scratch model presets ("preset:<name>").
const std::vector<std::string> &modelPresetNames();

} // namespace genrec::core
