#pragma once
/// @file config_problem.h
/// One problem found in a run configuration: where (file, line, field path), what, and what to do.

#include <string>
#include <vector>

namespace genrec::core {

struct ConfigProblem
{
    std::string path;    ///< dotted field path, e.g. "sft.learning_rate" (may be empty for syntax errors)
    std::string message; ///< what is wrong
    std::string hint;    ///< what to do about it (may be empty)
    std::string source;  ///< file name or "<stdin>" or "--set" (may be empty)
    int line = 0;        ///< 1-based YAML line, 0 when unknown

    /// `source:line: path: message (hint: …)` on one line.
    std::string toString() const;
};

/// Throws core::Error(BadInput) listing every problem (one per line) when `problems` is not empty.
void throwIfProblems(const std::vector<ConfigProblem> &problems);

} // namespace genrec::core
