#include "app/cli/cli_common.h"

namespace genrec::app {

void registerDataCommands(CLI::App &app, CliContext &ctx)
{
    (void)app;
    (void)ctx;
}

} // namespace genrec::app
