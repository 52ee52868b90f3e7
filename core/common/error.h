#pragma once
/// @file error.h
/// The project's one exception type. Engine code throws it; the executables catch it at the
/// boundary, print `error: <message>` (plus `hint: <hint>`), and exit with the error's code.

#include <stdexcept>
#include <string>

namespace genrec::core {

/// What went wrong, in the terms the exit code of `genrec` distinguishes.
enum class ErrorKind {
    BadInput,    ///< usage, config, data, model files: the user can fix it. Exit code 2.
    Runtime,     ///< a failure while running (I/O, numerical, internal). Exit code 1.
    Interrupted, ///< stopped by a signal or a stop request after a clean save. Exit code 130.
};

/// Exit codes of every genrec command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInterrupted = 130;

/// The project exception: a one-line message that names the place (file:line, field path), and a
/// hint that says what to do about it (may be empty).
class Error : public std::runtime_error
{
public:
    Error(ErrorKind kind, std::string message, std::string hint = {});

    ErrorKind kind() const { return m_kind; }
    const std::string &hint() const { return m_hint; }
    /// The exit code that belongs to kind().
    int exitCode() const;

private:
    ErrorKind m_kind;
    std::string m_hint;
};

/// Shorthands for the common cases.
[[noreturn]] void throwBadInput(const std::string &message, const std::string &hint = {});
[[noreturn]] void throwRuntime(const std::string &message, const std::string &hint = {});

} // namespace genrec::core
