#include "core/common/error.h"

namespace genrec::core {

Error::Error(ErrorKind kind, std::string message, std::string hint)
    : std::runtime_error(std::move(message)), m_kind(kind), m_hint(std::move(hint))
{
}

int Error::exitCode() const
{
    switch (m_kind) {
    case ErrorKind::BadInput:
        return kExitBadInput;
    case ErrorKind::Interrupted:
        return kExitInterrupted;
    case ErrorKind::Runtime:
        break;
    }
    return kExitRuntime;
}

void throwBadInput(const std::string &message, const std::string &hint)
{
    throw Error(ErrorKind::BadInput, message, hint);
}

void throwRuntime(const std::string &message, const std::string &hint)
{
    throw Error(ErrorKind::Runtime, message, hint);
}

} // namespace genrec::core
