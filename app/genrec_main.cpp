// genrec: the headless engine and CLI. Parses arguments, runs the chosen subcommand, and maps
// errors to exit codes (0 ok, 1 runtime failure, 2 bad input, 130 interrupted).

#include "app/cli/cli_common.h"
#include "core/common/error.h"

#include <cstdio>
#include <exception>
#include <iostream>

using namespace genrec;
#ifdef GENREC_HAVE_TRAINER
namespace genrec::app { void registerDevicesCommands(CLI::App &app, CliContext &ctx); } // cmd_devices.cpp
#endif

int main(int argc, char **argv)
{
    CLI::App app{"genrec: train, evaluate and inspect generative recommenders (GenRec Studio engine)",
                 "genrec"};
    app.set_version_flag("--version", std::string("genrec ") + GENREC_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    app::CliContext ctx;
    app.add_flag("--json", ctx.json, "Machine-readable JSON output");
    app.add_option("--store", ctx.storePath,
                   "Run store (SQLite); default $XDG_DATA_HOME/genrec/runs.db");

    app::registerConfigCommands(app, ctx);
    app::registerRunsCommands(app, ctx);
    app::registerDataCommands(app, ctx);
    app::registerTokenizeCommands(app, ctx);
    app::registerEstimateCommands(app, ctx);
#ifdef GENREC_HAVE_TRAINER
    app::registerEngineCommands(app, ctx);
    app::registerDevicesCommands(app, ctx);
#endif

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? core::kExitOk : core::kExitBadInput;
    }
    if (!ctx.action)
        return core::kExitOk;
    try {
        return ctx.action();
    } catch (const core::Error &e) {
        std::fflush(stdout);
        if (ctx.json) {
            nlohmann::json err = {{"event", "error"},
                                  {"code", e.exitCode()},
                                  {"message", e.what()},
                                  {"hint", e.hint()}};
            std::cout << err.dump() << std::endl;
        }
        std::cerr << "error: " << e.what() << "\n";
        if (!e.hint().empty())
            std::cerr << "hint: " << e.hint() << "\n";
        return e.exitCode();
    } catch (const std::exception &e) {
        std::fflush(stdout);
        std::cerr << "error: " << e.what() << "\n";
        return core::kExitRuntime;
    }
}
