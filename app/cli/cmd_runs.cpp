#include "app/cli/cli_common.h"

namespace genrec::app {

void registerRunsCommands(CLI::App &app, CliContext &ctx)
{
    (void)app;
    (void)ctx;
}

} // namespace genrec::app
