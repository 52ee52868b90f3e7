#pragma once
/// @file metric_writer.h
/// Batches the engine's metric points and writes them to the run store in one transaction per
/// flush, so store writes stay off the training hot path (a flush costs ~1 ms; one per second).

#include "core/store/run_store.h"

#include <string>
#include <vector>

namespace genrec::core {

class MetricWriter
{
public:
    /// `store` must outlive the writer. Flushes when `maxPending` points are buffered or
    /// `maxDelaySeconds` passed since the last flush (checked on each add), and on destruction.
    MetricWriter(RunStore &store, int64_t runId, size_t maxPending = 512, double maxDelaySeconds = 1.0);
    ~MetricWriter();

    void add(const std::string &stage, int64_t step, const std::string &key, double value);
    /// Writes everything buffered (and a heartbeat). Throws core::Error on store failure.
    void flush();
    int64_t runId() const { return m_runId; }
    /// Wall seconds spent inside add() and flush() so far (the engine's cost of its store writes).
    double busySeconds() const { return m_busy; }

private:
    RunStore &m_store;
    int64_t m_runId;
    size_t m_maxPending;
    double m_maxDelay;
    double m_lastFlush;
    std::vector<MetricPoint> m_pending;
    double m_busy = 0.0;
};

} // namespace genrec::core
