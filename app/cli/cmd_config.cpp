// genrec config init | validate | show
#include "app/cli/cli_common.h"

#include "core/config/run_config_schema.h"
#include "core/config/run_config_validate.h"
#include "core/config/run_config_yaml.h"
#include "core/common/error.h"

#include <iostream>

namespace genrec::app {

void registerConfigCommands(CLI::App &app, CliContext &ctx)
{
    auto *cfg = app.add_subcommand("config", "Create, check and resolve run configurations");
    cfg->require_subcommand(1);

    auto *init = cfg->add_subcommand("init", "Print the full default config, one comment per key");
    static std::vector<std::string> initOverrides;
    init->add_option("--set", initOverrides, "Override a key (key=value), repeatable");
    init->callback([&ctx] {
        ctx.action = [] {
            core::RunConfig c;
            for (const auto &o : initOverrides)
                core::throwIfProblems(core::applyOverride(c, o));
            std::cout << core::runConfigToYaml(c, true);
            return core::kExitOk;
        };
    });

    static std::string validatePath;
    static std::vector<std::string> validateOverrides;
    auto *validate = cfg->add_subcommand("validate", "Check a config (FILE or - for stdin); exit 2 on problems");
    validate->add_option("file", validatePath, "YAML file, or - for standard input")->required();
    validate->add_option("--set", validateOverrides, "Override a key (key=value), repeatable");
    validate->callback([&ctx] {
        ctx.action = [&ctx] {
            const std::string source = validatePath == "-" ? "<stdin>" : validatePath;
            const std::string text = readFileOrStdin(validatePath);
            const auto r = core::checkRunConfigText(text, source, validateOverrides);
            if (ctx.json) {
                nlohmann::json out = {{"valid", r.problems.empty()}, {"problems", nlohmann::json::array()}};
                for (const auto &p : r.problems)
                    out["problems"].push_back({{"path", p.path}, {"message", p.message}, {"hint", p.hint},
                                               {"line", p.line}, {"source", p.source}});
                printJson(out);
            } else if (r.problems.empty()) {
                std::cout << source << ": ok\n";
            } else {
                for (const auto &p : r.problems)
                    std::cerr << p.toString() << "\n";
            }
            return r.problems.empty() ? core::kExitOk : core::kExitBadInput;
        };
    });

    static std::string showPath;
    static std::vector<std::string> showOverrides;
    auto *show = cfg->add_subcommand("show", "Print the resolved config (defaults filled in, overrides applied)");
    show->add_option("file", showPath, "YAML file, or - for standard input")->required();
    show->add_option("--set", showOverrides, "Override a key (key=value), repeatable");
    show->callback([&ctx] {
        ctx.action = [] {
            const std::string source = showPath == "-" ? "<stdin>" : showPath;
            const auto c = core::loadRunConfig(readFileOrStdin(showPath), source, showOverrides);
            std::cout << core::runConfigToYaml(c, false);
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
