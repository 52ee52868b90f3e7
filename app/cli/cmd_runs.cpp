// genrec runs list | show | export | compare | delete | tag | stop
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "core/config/run_config_schema.h"
#include "core/config/run_config_yaml.h"
#include "core/store/run_store.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace genrec::app {

namespace {

std::string timeText(double t)
{
    if (t <= 0)
        return "-";
    const std::time_t tt = static_cast<std::time_t>(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&tt));
    return buf;
}

std::string durationText(const core::RunInfo &r)
{
    if (r.startedAt <= 0)
        return "-";
    const double end = r.endedAt > 0 ? r.endedAt : (r.heartbeatAt > 0 ? r.heartbeatAt : r.startedAt);
    const long s = static_cast<long>(end - r.startedAt);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    return buf;
}

nlohmann::json runJson(core::RunStore &store, const core::RunInfo &r, bool full)
{
    nlohmann::json j = {{"id", r.id},
                        {"name", r.name},
                        {"status", r.status},
                        {"model", r.model},
                        {"finetuning_type", r.finetuningType},
                        {"dataset", r.dataset},
                        {"created_at", r.createdAt},
                        {"started_at", r.startedAt},
                        {"ended_at", r.endedAt},
                        {"heartbeat_at", r.heartbeatAt},
                        {"tags", r.tags},
                        {"parent_id", r.parentId ? nlohmann::json(*r.parentId) : nlohmann::json(nullptr)},
                        {"stage", r.currentStage}};
    if (full) {
        j["host"] = r.host;
        j["pid"] = r.pid;
        j["notes"] = r.notes;
        j["error"] = r.error;
        j["output_dir"] = r.outputDir;
        j["data_hash"] = r.dataHash;
        j["sid_hash"] = r.sidHash;
        j["versions"] = nlohmann::json::parse(r.versionsJson.empty() ? "{}" : r.versionsJson, nullptr, false);
        nlohmann::json last = nlohmann::json::object();
        for (const auto &[k, v] : store.lastMetrics(r.id))
            last[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
        j["last_metrics"] = last;
        nlohmann::json evals = nlohmann::json::array();
        for (const auto &e : store.evalResults(r.id))
            evals.push_back({{"stage", e.stage}, {"split", e.split}, {"step", e.step},
                             {"metrics", nlohmann::json::parse(e.metricsJson, nullptr, false)}});
        j["evaluations"] = evals;
        nlohmann::json cks = nlohmann::json::array();
        for (const auto &c : store.checkpoints(r.id))
            cks.push_back({{"stage", c.stage}, {"step", c.step}, {"path", c.path}, {"best", c.isBest}});
        j["checkpoints"] = cks;
    }
    return j;
}

core::RunInfo requireRun(core::RunStore &store, int64_t id)
{
    auto r = store.getRun(id);
    if (!r)
        core::throwBadInput(store.path() + ": no run " + std::to_string(id), "see `genrec runs list`");
    return *r;
}

/// The run's config as RunConfig (for diffs); empty config when the stored YAML is unreadable.
core::RunConfig storedConfig(const core::RunInfo &r)
{
    return core::parseRunConfigYaml(r.resolvedYaml, "run " + std::to_string(r.id)).config;
}

} // namespace

void registerRunsCommands(CLI::App &app, CliContext &ctx)
{
    auto *runs = app.add_subcommand("runs", "List, inspect, compare and manage stored runs");
    runs->require_subcommand(1);

    static core::RunFilter filter;
    auto *list = runs->add_subcommand("list", "List runs (newest first)");
    list->add_option("--status", filter.status, "Only runs with this status");
    list->add_option("--tag", filter.tag, "Only runs with this tag");
    list->add_option("--search", filter.text, "Substring of name, model or dataset");
    list->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            store.reconcileCrashed();
            const auto all = store.listRuns(filter);
            if (ctx.json) {
                nlohmann::json arr = nlohmann::json::array();
                for (const auto &r : all)
                    arr.push_back(runJson(store, r, false));
                printJson(arr);
                return core::kExitOk;
            }
            std::printf("%5s  %-24s %-9s %-18s %-7s %-16s %-16s %9s  %s\n", "ID", "NAME", "STATUS", "MODEL",
                        "TYPE", "DATASET", "STARTED", "DURATION", "TAGS");
            for (const auto &r : all) {
                std::string tags;
                for (const auto &t : r.tags)
                    tags += (tags.empty() ? "" : ",") + t;
                std::printf("%5lld  %-24.24s %-9s %-18.18s %-7s %-16.16s %-16s %9s  %s\n", (long long)r.id,
                            r.name.c_str(), r.status.c_str(), r.model.c_str(), r.finetuningType.c_str(),
                            r.dataset.c_str(), timeText(r.startedAt).c_str(), durationText(r).c_str(), tags.c_str());
            }
            return core::kExitOk;
        };
    });

    static int64_t showId = 0;
    auto *show = runs->add_subcommand("show", "Show one run: status, metrics, evaluations, checkpoints");
    show->add_option("id", showId, "Run id")->required();
    show->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            const auto r = requireRun(store, showId);
            const auto j = runJson(store, r, true);
            if (ctx.json) {
                printJson(j);
                return core::kExitOk;
            }
            std::cout << "run " << r.id << "  " << r.name << "\n";
            for (const char *k : {"status", "stage", "model", "finetuning_type", "dataset", "host", "output_dir",
                                  "data_hash", "sid_hash", "error", "notes"})
                if (j.contains(k) && !j[k].is_null() && j[k] != "")
                    std::printf("  %-16s %s\n", k, j[k].is_string() ? j[k].get<std::string>().c_str() : j[k].dump().c_str());
            std::printf("  %-16s %s\n", "started", timeText(r.startedAt).c_str());
            std::printf("  %-16s %s\n", "duration", durationText(r).c_str());
            if (r.parentId)
                std::printf("  %-16s %lld\n", "parent run", (long long)*r.parentId);
            if (!r.tags.empty())
                std::printf("  %-16s %s\n", "tags", j["tags"].dump().c_str());
            std::cout << "  last metrics:\n";
            for (const auto &[k, v] : j["last_metrics"].items())
                std::printf("    %-28s %s\n", k.c_str(), v.dump().c_str());
            for (const auto &e : j["evaluations"])
                std::printf("  eval %s/%s step %lld: %s\n", e["stage"].get<std::string>().c_str(),
                            e["split"].get<std::string>().c_str(), (long long)e["step"].get<int64_t>(),
                            e["metrics"].dump().c_str());
            for (const auto &c : j["checkpoints"])
                std::printf("  checkpoint %s step %lld%s: %s\n", c["stage"].get<std::string>().c_str(),
                            (long long)c["step"].get<int64_t>(), c["best"].get<bool>() ? " (best)" : "",
                            c["path"].get<std::string>().c_str());
            return core::kExitOk;
        };
    });

    static int64_t exportId = 0;
    auto *exp = runs->add_subcommand("export", "Print the run's resolved YAML (genrec train accepts it unchanged)");
    exp->add_option("id", exportId, "Run id")->required();
    exp->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            const auto r = requireRun(store, exportId);
            std::cout << r.resolvedYaml;
            return core::kExitOk;
        };
    });

    static std::vector<int64_t> compareIds;
    static bool allKeys = false;
    auto *cmp = runs->add_subcommand("compare", "Config diff and final metrics of two or more runs");
    cmp->add_option("ids", compareIds, "Run ids")->required()->expected(2, 64);
    cmp->add_flag("--all", allKeys, "Show every config key, not only the differences");
    cmp->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            std::vector<core::RunInfo> rs;
            std::vector<core::RunConfig> cs;
            for (int64_t id : compareIds) {
                rs.push_back(requireRun(store, id));
                cs.push_back(storedConfig(rs.back()));
            }
            nlohmann::json out = {{"runs", compareIds}, {"config", nlohmann::json::array()},
                                  {"metrics", nlohmann::json::object()}};
            for (const auto &f : core::runConfigSchema()) {
                std::vector<std::string> vals;
                bool differs = false;
                for (const auto &c : cs) {
                    vals.push_back(core::formatFieldValue(f.get(c)));
                    differs |= vals.back() != vals.front();
                }
                if (differs || allKeys)
                    out["config"].push_back({{"key", f.key}, {"values", vals}, {"differs", differs}});
            }
            std::map<std::string, std::vector<nlohmann::json>> metrics;
            for (size_t i = 0; i < rs.size(); ++i) {
                nlohmann::json evalMetrics = nlohmann::json::object();
                const auto evals = store.evalResults(rs[i].id);
                if (!evals.empty())
                    evalMetrics = nlohmann::json::parse(evals.back().metricsJson, nullptr, false);
                for (const auto &[k, v] : evalMetrics.items()) {
                    auto &row = metrics[k];
                    row.resize(rs.size());
                    row[i] = v;
                }
            }
            for (auto &[k, v] : metrics)
                out["metrics"][k] = v;
            if (ctx.json) {
                printJson(out);
                return core::kExitOk;
            }
            std::printf("%-36s", "key");
            for (const auto &r : rs)
                std::printf(" %-20s", ("run " + std::to_string(r.id)).c_str());
            std::printf("\n");
            for (const auto &row : out["config"]) {
                std::printf("%-36s", row["key"].get<std::string>().c_str());
                for (const auto &v : row["values"])
                    std::printf(" %-20.20s", v.get<std::string>().c_str());
                std::printf("\n");
            }
            if (!metrics.empty())
                std::printf("\nfinal evaluation\n");
            for (const auto &[k, vals] : metrics) {
                std::printf("%-36s", k.c_str());
                for (const auto &v : vals)
                    std::printf(" %-20s", v.is_null() ? "-" : v.dump().c_str());
                std::printf("\n");
            }
            return core::kExitOk;
        };
    });

    static std::vector<int64_t> deleteIds;
    static bool yes = false;
    auto *del = runs->add_subcommand("delete", "Delete runs and everything stored with them");
    del->add_option("ids", deleteIds, "Run ids")->required();
    del->add_flag("--yes,-y", yes, "Do not ask for confirmation");
    del->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            for (int64_t id : deleteIds) {
                const auto r = requireRun(store, id);
                if (r.status == core::kStatusRunning)
                    core::throwBadInput("run " + std::to_string(id) + " is running", "stop it first: genrec runs stop " + std::to_string(id));
            }
            if (!yes) {
                std::cerr << "delete " << deleteIds.size() << " run(s)? [y/N] ";
                std::string answer;
                if (!std::getline(std::cin, answer) || (answer != "y" && answer != "Y" && answer != "yes"))
                    core::throwBadInput("not confirmed", "pass --yes to delete without asking");
            }
            nlohmann::json deleted = nlohmann::json::array();
            for (int64_t id : deleteIds)
                if (store.deleteRun(id))
                    deleted.push_back(id);
            if (ctx.json)
                printJson({{"deleted", deleted}});
            else
                std::cout << "deleted " << deleted.size() << " run(s)\n";
            return core::kExitOk;
        };
    });

    static int64_t tagId = 0;
    static std::vector<std::string> addTags, removeTags;
    static std::string newName, notes;
    auto *tag = runs->add_subcommand("tag", "Add or remove tags, rename, or set notes");
    tag->add_option("id", tagId, "Run id")->required();
    tag->add_option("tags", addTags, "Tags to add");
    tag->add_option("--remove", removeTags, "Tags to remove");
    tag->add_option("--name", newName, "New name");
    tag->add_option("--notes", notes, "Notes");
    tag->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            requireRun(store, tagId);
            for (const auto &t : addTags)
                store.addTag(tagId, t);
            for (const auto &t : removeTags)
                store.removeTag(tagId, t);
            if (!newName.empty())
                store.renameRun(tagId, newName);
            if (!notes.empty())
                store.setNotes(tagId, notes);
            const auto r = requireRun(store, tagId);
            if (ctx.json)
                printJson(runJson(store, r, false));
            else
                std::cout << "run " << r.id << " " << r.name << " tags: " << nlohmann::json(r.tags).dump() << "\n";
            return core::kExitOk;
        };
    });

    static int64_t stopId = 0;
    auto *stop = runs->add_subcommand("stop", "Ask a running run to checkpoint and stop");
    stop->add_option("id", stopId, "Run id")->required();
    stop->callback([&ctx] {
        ctx.action = [&ctx] {
            core::RunStore store(ctx.resolvedStorePath());
            requireRun(store, stopId);
            store.requestStop(stopId);
            if (!ctx.json)
                std::cout << "stop requested for run " << stopId << "\n";
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
