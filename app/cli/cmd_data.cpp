// genrec data inspect | synth
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "core/data/dataset.h"
#include "core/data/dataset_stats.h"
#include "core/data/synth.h"

#include <iostream>

namespace genrec::app {

void registerDataCommands(CLI::App &app, CliContext &ctx)
{
    auto *data = app.add_subcommand("data", "Inspect and generate MiniOneRec-format datasets");
    data->require_subcommand(1);

    struct InspectArgs
    {
        std::string dir;
        std::string dataset;
    };
    static InspectArgs ia;
    auto *inspect = data->add_subcommand("inspect", "Summarise a dataset: items, users, SIDs, collisions, splits");
    inspect->add_option("dir", ia.dir, "Dataset folder (MiniOneRec layout or flat)")->required();
    inspect->add_option("--dataset", ia.dataset, "Dataset name, e.g. Office_Products (default: the only one)");
    inspect->callback([&ctx] {
        ctx.action = [&ctx] {
            const core::Dataset ds = core::loadDataset(ia.dir, ia.dataset);
            const auto stats = core::computeDatasetStats(ds);
            if (ctx.json)
                printJson(core::statsToJson(stats));
            else
                std::cout << core::statsToText(stats);
            return core::kExitOk;
        };
    });

    static core::SynthOptions so;
    static std::string out;
    auto *synth = data->add_subcommand("synth", "Generate a seeded synthetic dataset with learnable structure");
    synth->add_option("--out", out, "Output folder")->required();
    synth->add_option("--users", so.users, "Users")->capture_default_str();
    synth->add_option("--items", so.items, "Items")->capture_default_str();
    synth->add_option("--seed", so.seed, "Seed: same seed, same bytes")->capture_default_str();
    synth->add_option("--name", so.name, "Dataset name (file prefix)")->capture_default_str();
    synth->add_flag("--flat", so.flat, "Write the flat layout instead of MiniOneRec's folders");
    synth->callback([&ctx] {
        ctx.action = [&ctx] {
            core::writeSynthDataset(out, so);
            const core::Dataset ds = core::loadDataset(out, so.name);
            const auto stats = core::computeDatasetStats(ds);
            if (ctx.json) {
                auto j = core::statsToJson(stats);
                j["path"] = out;
                printJson(j);
            } else {
                std::cout << "wrote " << out << "\n" << core::statsToText(stats);
            }
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
