#pragma once
/// @file cli_common.h
/// What every `genrec` subcommand shares: global options, the deferred action, output helpers.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace genrec::app {

/// Global options and the action chosen by the parsed subcommand.
struct CliContext
{
    bool json = false;         ///< --json: machine-readable output on stdout
    std::string storePath;     ///< --store: run store path ("" = default location)
    std::function<int()> action; ///< set by the matched subcommand; returns the exit code

    /// The store path to use: --store, else $XDG_DATA_HOME/genrec/runs.db, else ~/.local/share/….
    std::string resolvedStorePath() const;
};

/// Registers a subcommand group. Each lives in its own cmd_<name>.cpp.
void registerConfigCommands(CLI::App &app, CliContext &ctx);
void registerRunsCommands(CLI::App &app, CliContext &ctx);
void registerDataCommands(CLI::App &app, CliContext &ctx);
void registerTokenizeCommands(CLI::App &app, CliContext &ctx); // cmd_tokenize.cpp
void registerEstimateCommands(CLI::App &app, CliContext &ctx); // cmd_estimate.cpp
#ifdef GENREC_HAVE_TRAINER
/// Engine groups (cmd_engine.cpp calls each of these).
void registerEngineCommands(CLI::App &app, CliContext &ctx);
void registerModelCommands(CLI::App &app, CliContext &ctx);    // cmd_model.cpp: forward, bench
void registerEvalCommands(CLI::App &app, CliContext &ctx);     // cmd_eval.cpp: eval
void registerTrainCommands(CLI::App &app, CliContext &ctx);    // cmd_train.cpp: train, resume
#endif

/// Prints a JSON document on stdout (pretty when stdout is a terminal).
void printJson(const nlohmann::json &doc);

/// Reads a whole file, or stdin when path is "-". Throws core::Error (BadInput) when unreadable.
std::string readFileOrStdin(const std::string &path);

/// A terminal progress bar with ETA; plain periodic lines when stdout is not a terminal, nothing in
/// --json mode (JSON progress events are emitted instead).
class ProgressBar
{
public:
    ProgressBar(std::string label, int64_t total, bool json);
    /// Updates the bar; cheap to call often (redraws at most 10 times a second).
    void update(int64_t done, const std::string &suffix = {});
    /// Draws the final state and ends the line.
    void finish(const std::string &suffix = {});

private:
    std::string m_label;
    int64_t m_total;
    bool m_json;
    bool m_tty;
    double m_start;
    double m_lastDraw = -1.0;
    int64_t m_done = 0;
};

} // namespace genrec::app
