// Renders each main view (New run with the demo, Dashboard with SFT + RL curves, the rollout
// inspector and the recommendation preview, Runs, Compare)
// to PNG under GENREC_SCREENSHOT_DIR, from a store filled here, and checks the images are real.
// Registered twice: on the offscreen platform and, where xvfb-run exists, under Xvfb (xcb).
#include "core/config/run_config_yaml.h"
#include "core/store/run_store.h"
#include "ui/compare_panel.h"
#include "ui/dashboard_panel.h"
#include "ui/main_window.h"
#include "ui/metric_chart.h"
#include "ui/prediction_preview.h"
#include "ui/rollout_inspector.h"
#include "ui/runs_panel.h"
#include "ui/sample_events.h"

#include <QApplication>
#include <QDir>
#include <QImage>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <cmath>

using namespace genrec;

namespace {

const char *const kTitles[] = {"Swingline Stapler", "Paper Clips (100)", "Legal Pads, Yellow", "Gel Pens, Black",
                               "Desk Organizer", "Binder Clips", "Sticky Notes 3x3", "Highlighters (5)",
                               "Staples, Standard", "Letter Trays", "Label Maker Tape", "Ring Binder 2in"};

std::string sidOf(int item)
{
    return "<a_" + std::to_string(item % 4) + "><b_" + std::to_string(item * 7 % 16) + "><c_" + std::to_string(item) + ">";
}

/// Rollouts (two RL steps) and evaluation examples in the engine's payload format.
void addSampleEvents(core::RunStore &store, int64_t id, const core::EvalResult &eval)
{
    using nlohmann::json;
    for (const int step : {10, 30}) {
        json samples = json::array();
        for (int u = 0; u < 4; ++u) {
            const int target = (u * 5 + 8) % 12;
            json completions = json::array();
            for (int g = 0; g < 6; ++g) {
                const int item = (g == 1 + u % 3) ? target : (target + 1 + g + step) % 12;
                const double rule = item == target ? 1.0 : 0.0;
                const double ranking = item == target ? 0.0 : -1.0 / (g + 2);
                completions.push_back({{"sid", sidOf(item)}, {"title", kTitles[item]},
                                       {"rewards", {{"rule", rule}, {"ranking", ranking}}},
                                       {"reward", rule + ranking}, {"advantage", (rule + ranking + 0.3) * 1.2}});
            }
            samples.push_back({{"user_id", "A" + std::to_string(1000 + u)},
                               {"history_titles", {kTitles[u], kTitles[(u + 3) % 12], kTitles[(u + 6) % 12]}},
                               {"target_sid", sidOf(target)}, {"target_title", kTitles[target]},
                               {"completions", completions}});
        }
        core::EventRow e;
        e.runId = id;
        e.stage = "rl";
        e.step = step;
        e.kind = "rollouts";
        e.payloadJson = json{{"step", step}, {"samples", samples}}.dump();
        store.addEvent(e);
    }
    // Examples of the first users whose stored rank is in the top 5, consistent with the stored
    // evaluation.
    json examples = json::array();
    for (size_t i = 0; i < eval.userIds.size() && examples.size() < 4; ++i) {
        const int rank = eval.ranks[i];
        if (rank < 0 || rank >= 5)
            continue;
        const int target = int(i * 5 + 8) % 12;
        json top = json::array();
        for (int k = 0; k < 5; ++k) {
            const int item = k == rank ? target : (target + 1 + k) % 12;
            top.push_back({{"sid", sidOf(item)}, {"title", kTitles[item]}, {"score", -0.4 - 0.6 * k}});
        }
        examples.push_back({{"user_id", eval.userIds[i]},
                            {"history_titles", {kTitles[i % 12], kTitles[(i + 4) % 12], kTitles[(i + 9) % 12]}},
                            {"target_sid", sidOf(target)}, {"target_title", kTitles[target]}, {"rank", rank},
                            {"top", top}});
    }
    core::EventRow e;
    e.runId = id;
    e.stage = "eval";
    e.kind = "eval_examples";
    e.payloadJson = json{{"split", "test"}, {"examples", examples}}.dump();
    store.addEvent(e);
}

int64_t fillRun(core::RunStore &store, const std::string &name, const std::string &type, double quality,
                std::optional<int64_t> parent = std::nullopt)
{
    core::RunConfig c;
    c.runName = name;
    c.finetuningType = type;
    c.dataset = "Demo_Office";
    core::NewRun nr;
    nr.name = name;
    nr.configYaml = nr.resolvedYaml = core::runConfigToYaml(c, false);
    nr.model = "preset:tiny";
    nr.finetuningType = type;
    nr.dataset = "Demo_Office";
    nr.parentId = parent;
    nr.tags = {"demo"};
    const int64_t id = store.createRun(nr);
    store.markStarted(id, 999999, "elsewhere");
    std::vector<core::MetricPoint> pts;
    double t = 1000;
    for (int s = 1; s <= 300; ++s, t += 0.2) {
        const double loss = 4.0 * std::exp(-s / (60.0 * quality)) + 0.4 + 0.08 * std::sin(s * 1.7);
        pts.push_back({id, "sft", s, "loss", loss, t});
        pts.push_back({id, "sft", s, "lr", 3e-3 * std::min(1.0, s / 20.0) * (1 - s / 320.0), t});
        pts.push_back({id, "sft", s, "grad_norm", 1.5 * std::exp(-s / 150.0) + 0.2 + 0.1 * std::cos(s), t});
        pts.push_back({id, "sft", s, "tokens_per_s", 5200 + 300 * std::sin(s / 9.0), t});
        pts.push_back({id, "sft", s, "samples_seen", 32.0 * s, t});
        if (s % 50 == 0) {
            pts.push_back({id, "sft", s, "eval_loss", loss + 0.15, t});
            pts.push_back({id, "sft", s, "ndcg@10", quality * 0.12 * (1 - std::exp(-s / 120.0)), t});
            pts.push_back({id, "sft", s, "hr@10", quality * 0.2 * (1 - std::exp(-s / 120.0)), t});
        }
    }
    for (int s = 1; s <= 30; ++s, t += 0.5) {
        pts.push_back({id, "rl", s, "loss", 0.02 * std::sin(s), t});
        pts.push_back({id, "rl", s, "reward", 0.3 + 0.01 * s * quality, t});
        pts.push_back({id, "rl", s, "rewards/rule/mean", 0.2 + 0.008 * s, t});
        pts.push_back({id, "rl", s, "rewards/ranking/mean", 0.1 + 0.004 * s, t});
        pts.push_back({id, "rl", s, "kl", 0.001 * s, t});
        pts.push_back({id, "rl", s, "frac_reward_zero_std", 0.4 - 0.01 * s, t});
        pts.push_back({id, "rl", s, "samples_seen", 8.0 * s, t});
    }
    store.appendMetrics(pts);
    core::EvalResult e;
    e.runId = id;
    e.stage = "eval";
    e.split = "test";
    for (int u = 0; u < 200; ++u) {
        e.userIds.push_back("u" + std::to_string(u));
        e.ranks.push_back(int32_t((u * 7 + int(quality * 10)) % 23) - 3);
    }
    e.metricsJson = "{\"hr@10\": " + std::to_string(0.2 * quality) + ", \"ndcg@10\": " + std::to_string(0.11 * quality) + "}";
    store.addEvalResult(e);
    addSampleEvents(store, id, e);
    store.setStatus(id, core::kStatusFinished);
    return id;
}

} // namespace

class TestUiScreenshots : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void renderViews();

private:
    QTemporaryDir m_home;
};

void TestUiScreenshots::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    qputenv("XDG_CONFIG_HOME", m_home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", m_home.filePath(QStringLiteral("data")).toUtf8());
}

void TestUiScreenshots::renderViews()
{
    const QString storePath = m_home.filePath(QStringLiteral("data/genrec/runs.db"));
    int64_t a = 0, b = 0;
    {
        core::RunStore store(storePath.toStdString());
        a = fillRun(store, "demo-full", "full", 1.0);
        b = fillRun(store, "demo-lora", "lora", 1.3, a);
    }
    QString outDir = qEnvironmentVariable("GENREC_SCREENSHOT_DIR");
    if (outDir.isEmpty())
        outDir = QDir::current().filePath(QStringLiteral("screenshots"));
    const QString suffix = qEnvironmentVariable("GENREC_SCREENSHOT_SUFFIX");
    QVERIFY(QDir().mkpath(outDir));

    ui::MainWindow w(storePath);
    w.resize(1400, 900);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto save = [&](const QString &name) {
        QTest::qWait(120); // let queued replots land
        const QImage img = w.grab().toImage();
        QVERIFY(img.width() >= 1000);
        // Not blank: more than a handful of distinct colours.
        QSet<QRgb> colours;
        for (int y = 0; y < img.height(); y += 7)
            for (int x = 0; x < img.width(); x += 7)
                colours.insert(img.pixel(x, y));
        QVERIFY2(colours.size() > 8, qPrintable(name));
        const QString file = QDir(outDir).filePath(name + (suffix.isEmpty() ? QString() : QLatin1Char('-') + suffix) + QStringLiteral(".png"));
        QVERIFY(img.save(file));
        qInfo("screenshot: %s", qPrintable(file));
    };

    w.loadDemo();
    save(QStringLiteral("new-run"));

    w.dashboard()->showRun(b);
    w.showTab(ui::MainWindow::DashboardTab);
    w.dashboard()->setSmoothing(0.6);
    for (const QString &id : w.dashboard()->chartIds())
        w.dashboard()->chart(id)->rescale();
    QVERIFY(w.dashboard()->chart(QStringLiteral("loss"))->pointCount(0) == 330);
    save(QStringLiteral("dashboard"));
    auto *chartTabs = w.dashboard()->findChild<QTabWidget *>(QStringLiteral("chartTabs"));
    chartTabs->setCurrentIndex(2);
    save(QStringLiteral("dashboard-rl"));

    w.dashboard()->showPage(3);
    QCOMPARE(w.dashboard()->rolloutInspector()->steps(), QList<qint64>({10, 30}));
    QVERIFY(w.dashboard()->rolloutInspector()->targetRow() >= 0);
    save(QStringLiteral("rollouts"));

    w.dashboard()->showPage(4);
    ui::PredictionPreview *preview = w.dashboard()->predictionPreview();
    QCOMPARE(preview->users().size(), qsizetype(4));
    preview->setUser(preview->users().at(1));
    QVERIFY(preview->targetRow() >= 0);
    // The stored rank agrees with the highlighted row.
    QVERIFY(preview->rankLine().contains(ui::rankText(preview->targetRow())));
    save(QStringLiteral("predictions"));

    w.runsPanel()->reload();
    w.showTab(ui::MainWindow::RunsTab);
    save(QStringLiteral("runs"));

    w.comparePanel()->setRuns({a, b});
    w.showTab(ui::MainWindow::CompareTab);
    QTRY_COMPARE(w.comparePanel()->chart()->seriesCount(), 2);
    save(QStringLiteral("compare"));
}

QTEST_MAIN(TestUiScreenshots)
#include "tst_ui_screenshots.moc"
