// Engine subcommands (need LibTorch): each group registers itself here.
#include "app/cli/cli_common.h"

namespace genrec::app {

void registerEngineCommands(CLI::App &app, CliContext &ctx)
{
    (void)app;
    (void)ctx;
}

} // namespace genrec::app
