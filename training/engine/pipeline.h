#pragma once
/// @file pipeline.h
/// A run from start to end: create it in the store, then run its stages (sft, rl, eval) in
/// order, recording status, events and metrics; or resume a stopped / crashed run from its
/// last checkpoint with the stored resolved config.

#include "core/config/run_config.h"
#include "core/store/run_store.h"
#include "training/engine/run_context.h"

#include <cstdint>
#include <map>
#include <string>

namespace genrec::train {

/// Creates the run row (name, config YAML, resolved YAML, model, dataset, hashes, versions)
/// and resolves output_dir ("" = <store dir>/artifacts/run-<id>). Returns the run id.
int64_t createTrainingRun(core::RunStore &store, const core::RunConfig &config, const std::string &configYaml);

/// How runPipeline() ended.
struct PipelineResult
{
    std::string status;  ///< finished | stopped | failed
    int exitCode = 0;    ///< 0 | 130 | 1 | 2
    std::string error;   ///< message for failed runs
    std::map<std::string, double> metrics; ///< last loss, eval_loss, steps, ...
    double seconds = 0;
};

/// Runs (or, with `resume`, continues) the stages of run `runId`. Never throws for training
/// failures: they are recorded (status failed, error event) and returned.
PipelineResult runPipeline(core::RunStore &store, int64_t runId, const EngineHooks &hooks, bool resume);

} // namespace genrec::train
