// Helper process for tst_run_store: writes to a store the way the engine does, so the test can
// run writers concurrently and kill one mid-transaction.
//   store_probe write <db> <run> <batches> <points-per-batch>
//   store_probe hold  <db> <run> <points>     (opens a transaction, inserts, prints "ready", sleeps)
#include "core/store/run_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace genrec::core;

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const std::string mode = argv[1];
    RunStore store(argv[2]);
    const int64_t run = std::atoll(argv[3]);
    if (mode == "write") {
        const int batches = std::atoi(argv[4]);
        const int per = argc > 5 ? std::atoi(argv[5]) : 10;
        for (int b = 0; b < batches; ++b) {
            std::vector<MetricPoint> pts;
            for (int k = 0; k < per; ++k)
                pts.push_back({run, "sft", b, "loss", 1.0 / (b + 1), 0});
            store.appendMetrics(pts);
            store.heartbeat(run);
        }
        std::printf("done\n");
        return 0;
    }
    if (mode == "hold") {
        const int n = std::atoi(argv[4]);
        store.begin();
        std::vector<MetricPoint> pts;
        for (int k = 0; k < n; ++k)
            pts.push_back({run, "sft", 1000 + k, "held", 1.0, 0});
        // appendMetrics opens its own transaction; insert directly inside ours instead.
        sqlite3_exec(store.handle(), "INSERT OR IGNORE INTO metric_keys(name) VALUES ('held')", nullptr, nullptr, nullptr);
        for (const auto &p : pts) {
            const std::string sql = "INSERT INTO metrics (run_id, stage, step, key_id, value, wall_time) VALUES (" +
                                    std::to_string(run) + ",'sft'," + std::to_string(p.step) +
                                    ",(SELECT id FROM metric_keys WHERE name='held'),1.0,0)";
            sqlite3_exec(store.handle(), sql.c_str(), nullptr, nullptr, nullptr);
        }
        std::printf("ready\n");
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::hours(1));
        return 0;
    }
    return 2;
}
