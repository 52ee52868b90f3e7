#include "core/store/metric_writer.h"

namespace genrec::core {

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
    const double now = unixNow();
    m_pending.push_back({m_runId, stage, step, key, value, now});
    if (m_pending.size() >= m_maxPending || now - m_lastFlush >= m_maxDelay)
        flush();
}

void MetricWriter::flush()
{
    m_lastFlush = unixNow();
    if (!m_pending.empty()) {
        m_store.appendMetrics(m_pending);
        m_pending.clear();
    }
    m_store.heartbeat(m_runId);
}

} // namespace genrec::core
