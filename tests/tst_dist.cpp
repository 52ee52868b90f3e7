// Data parallelism on c10d (Gloo, 2 CPU ranks): parameters after N steps equal one process with
// the same global batch (zero_stage 0 and 2; full, freeze, lora), ZeRO-2 halves the optimiser
// state per rank, a checkpoint resumes with the same world size, and through `genrec train`:
// killing one worker fails the run cleanly (run marked failed naming the rank, no process left)
// and `genrec resume` finishes it.
//
// Ranks are this test binary re-executed with GENREC_TST_DIST_WORKER set (never fork after
// LibTorch started its thread pools); ports are picked free at run time.
#include "core/common/error.h"
#include "core/config/run_config.h"
#include "core/config/run_config_yaml.h"
#include "core/data/synth.h"
#include "core/store/run_store.h"
#include "training/dist/data_parallel.h"
#include "training/dist/launcher.h"
#include "training/dist/process_group.h"
#include "training/engine/stage_common.h"
#include "training/finetune/finetune.h"
#include "training/model/model_loading.h"
#include "training/model/qwen2.h"
#include "training/optim/optimizer.h"

#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

using namespace genrec;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kVocab = 160;
constexpr int64_t kGlobalBatch = 8; // sequences per optimiser step (all ranks, all micro-steps)
constexpr int64_t kAccum = 2;
constexpr int64_t kSeq = 12;

struct Job
{
    std::string type = "full"; // full | freeze | lora
    int stage = 0;
    int64_t from = 0, to = 3;  // optimiser steps [from, to)
    std::string loadDir, saveDir, out;
};

std::string getenvs(const char *k)
{
    const char *v = std::getenv(k);
    return v ? v : "";
}

/// The global batch of step `step`: [kGlobalBatch, kSeq] ids and labels (first 3 unsupervised,
/// and a step-dependent number of extra masked tokens so ranks differ in supervised counts).
std::pair<torch::Tensor, torch::Tensor> globalBatch(int64_t step)
{
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(1000 + step));
    auto ids = torch::randint(0, kVocab, {kGlobalBatch, kSeq}, gen, torch::kLong);
    auto labels = ids.clone();
    labels.narrow(1, 0, 3).fill_(-100);
    for (int64_t b = 0; b < kGlobalBatch; ++b)
        labels[b].narrow(0, 3, (b * 3 + step) % 5).fill_(-100);
    return {ids, labels};
}

struct Trained
{
    std::vector<torch::Tensor> params;
    int64_t stateBytes = 0;
    double secondsPerStep = 0;
};

/// Runs steps [from, to) on this process's share of every global batch. `group` null = one process.
Trained trainJob(const Job &job, train::dist::ProcessGroupContext *group)
{
    torch::manual_seed(7);
    train::CausalLmLoadOptions lo;
    lo.presetVocabSize = kVocab;
    lo.seed = 3;
    auto model = train::loadCausalLm("preset:tiny", lo);
    train::FinetuneOptions fo;
    fo.type = job.type;
    fo.loraRank = 4;
    fo.loraDropout = 0;
    std::vector<int64_t> newIds;
    for (int64_t i = kVocab - 12; i < kVocab; ++i)
        newIds.push_back(i);
    auto trainable = train::applyFinetuning(*model, fo, newIds);
    if (job.type == "lora") { // B = 0 at init: give the adapters a non-zero start so A trains too
        torch::NoGradGuard g;
        for (auto &p : trainable.parameters())
            if (p.dim() == 2 && p.size(1) == 4)
                p.normal_(0, 0.02);
    }
    model->train();
    train::OptimizerOptions oo;
    oo.learningRate = 1e-2;
    oo.weightDecay = 0.1;
    const int world = group ? group->worldSize() : 1, rank = group ? group->rank() : 0;
    std::unique_ptr<train::dist::DataParallel> dp;
    std::unique_ptr<train::Optimizer> opt;
    if (group) {
        dp = std::make_unique<train::dist::DataParallel>(*group, trainable.groups, job.stage, 4096 * 4);
        opt = dp->makeOptimizer(oo);
    } else {
        opt = train::makeOptimizer(trainable.groups, oo);
    }
    if (!job.loadDir.empty()) {
        std::vector<torch::Tensor> saved;
        torch::load(saved, job.loadDir + "/params.pt");
        torch::NoGradGuard g;
        auto ps = trainable.parameters();
        for (size_t i = 0; i < ps.size(); ++i)
            ps[i].copy_(saved[i]);
        opt->load(job.loadDir);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t perMicro = kGlobalBatch / kAccum; // global micro-batch
    const int64_t local = perMicro / world;         // this rank's share of it
    for (int64_t step = job.from; step < job.to; ++step) {
        auto [ids, labels] = globalBatch(step);
        std::vector<std::pair<torch::Tensor, torch::Tensor>> micro;
        int64_t supervised = 0;
        for (int64_t m = 0; m < kAccum; ++m) {
            auto i = ids.narrow(0, m * perMicro + rank * local, local);
            auto l = labels.narrow(0, m * perMicro + rank * local, local);
            supervised += (l.narrow(1, 1, kSeq - 1) != -100).sum().item<int64_t>();
            micro.emplace_back(i, l);
        }
        const int64_t globalSup = group ? group->allreduceSum(supervised) : supervised;
        opt->zeroGrad();
        for (auto &[i, l] : micro) {
            const int64_t sup = (l.narrow(1, 1, kSeq - 1) != -100).sum().item<int64_t>();
            auto hidden = model->forward(i, torch::ones_like(i));
            auto loss = train::causalLmLoss(*model, hidden, l) * (double(world) * double(sup) / double(globalSup));
            loss.backward();
        }
        if (dp)
            dp->syncGradients();
        if (dp)
            dp->clipGradNorm(0.5);
        else
            train::clipTrainableGradNorm(trainable, 0.5);
        opt->step();
    }
    Trained t;
    t.secondsPerStep = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                       double(std::max<int64_t>(1, job.to - job.from));
    for (auto &p : trainable.parameters())
        t.params.push_back(p.detach().clone());
    t.stateBytes = opt->stateBytes();
    if (!job.saveDir.empty()) {
        fs::create_directories(job.saveDir);
        if (rank == 0)
            torch::save(t.params, job.saveDir + "/params.pt");
        opt->save(job.saveDir);
    }
    return t;
}

int workerMain()
{
    torch::set_num_threads(1);
    Job job;
    job.type = getenvs("TST_TYPE");
    job.stage = std::atoi(getenvs("TST_STAGE").c_str());
    job.from = std::atoll(getenvs("TST_FROM").c_str());
    job.to = std::atoll(getenvs("TST_TO").c_str());
    job.loadDir = getenvs("TST_LOAD");
    job.saveDir = getenvs("TST_SAVE");
    job.out = getenvs("TST_OUT");
    try {
        auto s = train::dist::DistSettings::fromEnv();
        if (!s)
            return 3;
        auto &g = train::dist::initProcessGroup(*s);
        const auto t = trainJob(job, &g);
        if (g.rank() == 0)
            torch::save(t.params, job.out + ".pt");
        std::ofstream(job.out + ".rank" + std::to_string(g.rank()) + ".json")
            << nlohmann::json{{"state_bytes", t.stateBytes}, {"seconds_per_step", t.secondsPerStep},
                              {"backend", g.backendName()}}.dump();
        train::dist::shutdownProcessGroup();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "worker: %s\n", e.what());
        return 1;
    }
    return 0;
}

pid_t spawn(const std::vector<std::string> &args, const std::vector<std::string> &extraEnv)
{
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e)
        env.emplace_back(*e);
    env.insert(env.end(), extraEnv.begin(), extraEnv.end());
    std::vector<char *> argv, envp;
    auto a = args;
    for (auto &s : a)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto &s : env)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0)
        return -1;
    return pid;
}

/// Runs a 2-rank job of this binary; returns {rank0 params, state bytes per rank, seconds/step}.
struct DistOutcome
{
    std::vector<torch::Tensor> params;
    int64_t stateBytes[2] = {0, 0};
    double secondsPerStep = 0;
    bool ok = false;
};

DistOutcome runTwoRanks(const Job &job, const std::string &out)
{
    const int port = train::dist::pickFreePort();
    std::vector<pid_t> pids;
    for (int r = 0; r < 2; ++r)
        pids.push_back(spawn({QCoreApplication::applicationFilePath().toStdString()},
                             {"GENREC_TST_DIST_WORKER=1", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port),
                              "WORLD_SIZE=2", "RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                              "TST_TYPE=" + job.type, "TST_STAGE=" + std::to_string(job.stage),
                              "TST_FROM=" + std::to_string(job.from), "TST_TO=" + std::to_string(job.to),
                              "TST_LOAD=" + job.loadDir, "TST_SAVE=" + job.saveDir, "TST_OUT=" + out}));
    DistOutcome o;
    o.ok = true;
    for (pid_t p : pids) {
        int st = 0;
        if (p <= 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            o.ok = false;
    }
    if (!o.ok)
        return o;
    torch::load(o.params, out + ".pt");
    for (int r = 0; r < 2; ++r) {
        std::ifstream f(out + ".rank" + std::to_string(r) + ".json");
        const auto j = nlohmann::json::parse(f);
        o.stateBytes[r] = j.at("state_bytes").get<int64_t>();
        o.secondsPerStep = std::max(o.secondsPerStep, j.at("seconds_per_step").get<double>());
    }
    return o;
}

double maxDiff(const std::vector<torch::Tensor> &a, const std::vector<torch::Tensor> &b)
{
    if (a.size() != b.size())
        return 1e9;
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i)
        m = std::max(m, (a[i].to(torch::kFloat) - b[i].to(torch::kFloat)).abs().max().item<double>());
    return m;
}

double maxChange(const std::vector<torch::Tensor> &a, const std::vector<torch::Tensor> &init)
{
    return maxDiff(a, init);
}

/// Children of `parent` (from /proc).
std::vector<pid_t> childrenOf(pid_t parent)
{
    std::vector<pid_t> out;
    DIR *d = opendir("/proc");
    if (!d)
        return out;
    while (auto *e = readdir(d)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0)
            continue;
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string stat;
        std::getline(f, stat);
        const auto rp = stat.rfind(')');
        if (rp == std::string::npos)
            continue;
        std::istringstream is(stat.substr(rp + 2));
        std::string state;
        pid_t ppid = 0;
        is >> state >> ppid;
        if (ppid == parent)
            out.push_back(pid);
    }
    closedir(d);
    return out;
}

bool alive(pid_t pid)
{
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(f, stat);
    const auto rp = stat.rfind(')');
    return rp != std::string::npos && stat[rp + 2] != 'Z';
}

std::string envOf(pid_t pid, const std::string &key)
{
    std::ifstream f("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), {});
    size_t pos = 0;
    while (pos < all.size()) {
        const auto end = all.find('\0', pos);
        const auto kv = all.substr(pos, end - pos);
        if (kv.rfind(key + "=", 0) == 0)
            return kv.substr(key.size() + 1);
        if (end == std::string::npos)
            break;
        pos = end + 1;
    }
    return {};
}

} // namespace

class TestDist : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }

    void parity_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<int>("stage");
        QTest::newRow("full-zero0") << "full" << 0;
        QTest::newRow("full-zero2") << "full" << 2;
        QTest::newRow("freeze-zero0") << "freeze" << 0;
        QTest::newRow("freeze-zero2") << "freeze" << 2;
        QTest::newRow("lora-zero2") << "lora" << 2;
    }
    void parity()
    {
        QFETCH(QString, type);
        QFETCH(int, stage);
        QTemporaryDir tmp;
        Job job;
        job.type = type.toStdString();
        job.stage = stage;
        job.from = 0;
        job.to = 3;
        Job init = job;
        init.to = 0;
        const auto start = trainJob(init, nullptr);
        const auto single = trainJob(job, nullptr);
        const auto two = runTwoRanks(job, tmp.path().toStdString() + "/r");
        QVERIFY(two.ok);
        const double diff = maxDiff(single.params, two.params);
        const double moved = maxChange(single.params, start.params);
        qInfo("%s zero%d: max |2 ranks - 1 process| %.3g, max change %.3g, state bytes 1 process %lld, per rank %lld / %lld, "
              "s/step 1 process %.4f, 2 ranks %.4f",
              job.type.c_str(), stage, diff, moved, static_cast<long long>(single.stateBytes),
              static_cast<long long>(two.stateBytes[0]), static_cast<long long>(two.stateBytes[1]), single.secondsPerStep,
              two.secondsPerStep);
        QVERIFY(moved > 1e-3); // training did something
        QVERIFY2(diff < 5e-5, qPrintable(QString::number(diff)));
        if (stage == 0) {
            QCOMPARE(two.stateBytes[0], single.stateBytes);
            QCOMPARE(two.stateBytes[1], single.stateBytes);
        } else {
            // ZeRO-2: each rank holds its half of m and v (shards differ by padding only).
            for (int r = 0; r < 2; ++r) {
                const double ratio = double(two.stateBytes[r]) / double(single.stateBytes);
                QVERIFY2(ratio > 0.49 && ratio < 0.51, qPrintable(QString::number(ratio)));
            }
            QVERIFY(std::llabs(two.stateBytes[0] + two.stateBytes[1] - single.stateBytes) <= 16);
        }
    }

    void resumeSameWorldSize()
    {
        QTemporaryDir tmp;
        const std::string d = tmp.path().toStdString();
        Job whole;
        whole.type = "full";
        whole.stage = 2;
        whole.to = 4;
        const auto uninterrupted = runTwoRanks(whole, d + "/whole");
        QVERIFY(uninterrupted.ok);
        Job first = whole;
        first.to = 2;
        first.saveDir = d + "/ckpt";
        QVERIFY(runTwoRanks(first, d + "/first").ok);
        QVERIFY(fs::exists(d + "/ckpt/zero2/rank0/optimizer.safetensors"));
        QVERIFY(fs::exists(d + "/ckpt/zero2/rank1/optimizer.safetensors"));
        QVERIFY(fs::exists(d + "/ckpt/data_parallel.json"));
        Job second = whole;
        second.from = 2;
        second.loadDir = d + "/ckpt";
        const auto resumed = runTwoRanks(second, d + "/second");
        QVERIFY(resumed.ok);
        const double diff = maxDiff(uninterrupted.params, resumed.params);
        qInfo("resumed vs uninterrupted: %.3g", diff);
        QVERIFY(diff == 0.0); // same world size, same order of operations: bit-identical
        // Another world size is refused with a clear message.
        auto s = nlohmann::json::parse(std::ifstream(d + "/ckpt/data_parallel.json"));
        QCOMPARE(s.at("world_size").get<int>(), 2);
        s["world_size"] = 3;
        std::ofstream(d + "/ckpt/data_parallel.json") << s.dump();
        const auto refused = runTwoRanks(second, d + "/third");
        QVERIFY(!refused.ok);
    }

    void killedRankFailsRunCleanly()
    {
        const QByteArray bin = qgetenv("GENREC_BIN");
        if (bin.isEmpty())
            QSKIP("GENREC_BIN not set");
        const std::string genrec = bin.toStdString() + "/genrec";
        QTemporaryDir tmp;
        const std::string d = tmp.path().toStdString();
        core::SynthOptions so;
        so.users = 40;
        so.items = 32;
        core::writeSynthDataset(d + "/data", so);
        core::RunConfig c;
        c.modelNameOrPath = "preset:tiny";
        c.datasetDir = d + "/data";
        c.outputDir = d + "/out";
        c.stages = {"sft"};
        c.numThreads = 1;
        c.cutoffLen = 128;
        c.nprocPerNode = 2;
        c.zeroStage = 2;
        c.sft.tasks = {"sid_seq2sid"};
        c.sft.evalRanking = false;
        c.sft.earlyStoppingPatience = 0;
        c.sft.train.maxSteps = 60;
        c.sft.train.perDeviceTrainBatchSize = 2;
        c.sft.train.gradientAccumulationSteps = 1;
        c.sft.train.evalSteps = 0;
        c.sft.train.saveSteps = 2;
        c.sft.train.warmupSteps = 0;
        std::ofstream(d + "/run.yaml") << core::runConfigToYaml(c, false);
        const std::string storePath = d + "/runs.db";
        const pid_t launcher = spawn({genrec, "--store", storePath, "train", d + "/run.yaml"}, {});
        QVERIFY(launcher > 0);
        // Wait for two workers and a first checkpoint, then SIGKILL rank 1.
        std::vector<pid_t> workers;
        pid_t rank1 = -1;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (std::chrono::steady_clock::now() < deadline) {
            workers = childrenOf(launcher);
            bool ckpt = fs::exists(d + "/out/checkpoints") && !fs::is_empty(d + "/out/checkpoints");
            if (workers.size() == 2 && ckpt)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        QCOMPARE(workers.size(), size_t(2));
        for (pid_t w : workers)
            if (envOf(w, "RANK") == "1")
                rank1 = w;
        QVERIFY(rank1 > 0);
        QCOMPARE(envOf(rank1, "WORLD_SIZE"), std::string("2"));
        QCOMPARE(::kill(rank1, SIGKILL), 0);
        int st = 0;
        QCOMPARE(waitpid(launcher, &st, 0), launcher);
        QVERIFY(WIFEXITED(st));
        QVERIFY(WEXITSTATUS(st) != 0);
        for (pid_t w : workers)
            QVERIFY2(!alive(w), "a worker outlived the launcher");
        core::RunStore store(storePath);
        const auto runs = store.listRuns();
        QCOMPARE(runs.size(), size_t(1));
        const auto run = *store.getRun(runs[0].id);
        qInfo("status %s, error: %s", run.status.c_str(), run.error.c_str());
        QCOMPARE(run.status, std::string("failed"));
        QVERIFY(run.error.find("rank 1") != std::string::npos);
        QVERIFY(run.error.find("signal 9") != std::string::npos);
        // The last complete checkpoint is intact and the run resumes with the same world size.
        const auto ckpts = store.checkpoints(run.id);
        QVERIFY(!ckpts.empty());
        for (const auto &ck : ckpts)
            QVERIFY(fs::exists(fs::path(ck.path) / "data_parallel.json"));
        const int64_t resumedFrom = ckpts.back().step;
        const pid_t again = spawn({genrec, "--store", storePath, "resume", std::to_string(run.id)}, {});
        QCOMPARE(waitpid(again, &st, 0), again);
        QVERIFY(WIFEXITED(st));
        QCOMPARE(WEXITSTATUS(st), 0);
        const auto done = *store.getRun(run.id);
        QCOMPARE(done.status, std::string("finished"));
        QVERIFY(childrenOf(again).empty());
        const auto loss = store.metricSeries(run.id, "loss");
        QVERIFY(!loss.empty());
        QCOMPARE(loss.back().step, c.sft.train.maxSteps);
        qInfo("killed after checkpoint step %lld, resumed to step %lld", static_cast<long long>(resumedFrom),
              static_cast<long long>(loss.back().step));
        QVERIFY(fs::exists(d + "/out/sft/final_checkpoint/model.safetensors"));
    }
};

int main(int argc, char **argv)
{
    if (std::getenv("GENREC_TST_DIST_WORKER"))
        return workerMain();
    QCoreApplication app(argc, argv);
    TestDist t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_dist.moc"
