#include "core/store/metric_writer.h"

#include <chrono>

namespace genrec::core {

namespace {
double steadySeconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
} // namespace

MetricWriter::MetricWriter(RunStore &store, int64_t runId, size_t maxPending, double maxDelaySeconds)
    : m_store(store), m_runId(runId), m_maxPending(maxPending), m_maxDelay(maxDelaySeconds),
      m_lastFlush(unixNow())
{
    m_pending.reserve(maxPending);
}

MetricWriter::~MetricWriter()
{
    try {
        flush();
    } catch (...) {
        // Destructors must not throw; the caller's explicit flush() reports store errors.
    }
}

void MetricWriter::add(const std::string &stage, int64_t step, const std::string &key, double value)
{
    const double t0 = steadySeconds();
    const double now = unixNow();
    m_pending.push_back({m_runId, stage, step, key, value, now});
    if (m_pending.size() >= m_maxPending || now - m_lastFlush >= m_maxDelay)
        flush(); // adds its own time
    else
        m_busy += steadySeconds() - t0;
}

void MetricWriter::flush()
{
    const double t0 = steadySeconds();
    m_lastFlush = unixNow();
    if (!m_pending.empty()) {
        m_store.appendMetrics(m_pending);
        m_pending.clear();
    }
    m_store.heartbeat(m_runId);
    m_busy += steadySeconds() - t0;
}

} // namespace genrec::core
