// Engine subcommands (need LibTorch): each group registers itself here.
#include "app/cli/cli_common.h"

namespace genrec::app {

void registerEngineCommands(CLI::App &app, CliContext &ctx)
{
    registerModelCommands(app, ctx);
    registerEvalCommands(app, ctx);
    registerTrainCommands(app, ctx);
}

} // namespace genrec::app
