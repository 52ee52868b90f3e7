#pragma once
// Helpers shared by the tests that run training stages: a small synthetic dataset in a temp
// folder and a metric's series from the run store.
#include "core/data/synth.h"
#include "core/store/run_store.h"

#include <QtCore/QTemporaryDir>

#include <cstdint>
#include <string>
#include <vector>

namespace genrec::testing {

/// Writes a synthetic MiniOneRec dataset into `<tmp>/data`; returns tmp's path.
inline std::string makeData(const QTemporaryDir &tmp, int64_t users = 40, int64_t items = 32)
{
    core::SynthOptions o;
    o.users = users;
    o.items = items;
    core::writeSynthDataset(tmp.path().toStdString() + "/data", o);
    return tmp.path().toStdString();
}

/// The values of metric `key` of run `run`, in step order.
inline std::vector<double> series(core::RunStore &store, int64_t run, const std::string &key)
{
    std::vector<double> v;
    for (const auto &p : store.metricSeries(run, key))
        v.push_back(p.value);
    return v;
}

} // namespace genrec::testing
