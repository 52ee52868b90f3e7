#pragma once
/// @file py_literal.h
/// Python list literals as MiniOneRec's CSVs store them (`['a', "b's"]`, `[12, 7]`): exact parsing
/// of single/double-quoted strings with backslash escapes, and writing them the way Python's
/// repr() does.

#include <cstdint>
#include <string>
#include <vector>

namespace genrec::core {

/// Parses a list of string literals. Throws std::invalid_argument with the 1-based character
/// column and reason; callers add file:line.
std::vector<std::string> parsePyStringList(const std::string &text);

/// Parses a list of integer literals. Same error contract.
std::vector<int64_t> parsePyIntList(const std::string &text);

/// repr() of a Python str: single quotes unless the text holds ' and no ".
std::string pyRepr(const std::string &s);
/// repr() of a list of str / int.
std::string pyReprList(const std::vector<std::string> &items);
std::string pyReprList(const std::vector<int64_t> &items);

} // namespace genrec::core
