// The rollout inspector and the recommendation preview show the engine's sample events as the
// engine stores them (payloads built here in the engine's format, written through the store):
// steps, prompts, histories, targets, per-reward values and advantages, the target highlighted,
// zero-variance groups flagged, top-K with scores, and the user's stored rank.
#include "core/store/run_store.h"
#include "ui/prediction_preview.h"
#include "ui/rollout_inspector.h"
#include "ui/sample_events.h"
#include "ui/store_watcher.h"

#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

using namespace genrec;
using nlohmann::json;

namespace {

json completion(const std::string &sid, const std::string &title, double rule, double ranking, double adv)
{
    return {{"sid", sid}, {"title", title}, {"rewards", {{"rule", rule}, {"ranking", ranking}}},
            {"reward", rule + ranking}, {"advantage", adv}};
}

/// A "rollouts" payload of one step: user u1 whose group contains the target, and user u2 whose
/// completions all got the same reward.
std::string rolloutsPayload(int step)
{
    json s1 = {{"user_id", "u1"},
               {"history_titles", {"Stapler", "Paper clips"}},
               {"target_sid", "<a_1><b_2><c_3>"},
               {"target_title", "Staples"},
               {"completions", {completion("<a_1><b_2><c_4>", "Binder", 0.0, 0.0, -0.7),
                                completion("<a_1><b_2><c_3>", "Staples", 1.0, 0.5, 1.4),
                                completion("<a_9><b_9><c_9>", "Desk lamp", 0.0, -0.2, -0.7)}}};
    json s2 = {{"user_id", "u2"},
               {"history_titles", {"Pen"}},
               {"target_sid", "<a_5><b_5><c_5>"},
               {"target_title", "Ink"},
               {"completions", {completion("<a_6><b_1><c_1>", "Ruler", 0.0, 0.0, 0.0),
                                completion("<a_7><b_1><c_1>", "Eraser", 0.0, 0.0, 0.0)}}};
    return json{{"step", step}, {"samples", {s1, s2}}}.dump();
}

void addEvent(core::RunStore &store, int64_t run, const std::string &stage, int64_t step, const std::string &kind,
              const std::string &payload)
{
    core::EventRow e;
    e.runId = run;
    e.stage = stage;
    e.step = step;
    e.kind = kind;
    e.message = kind;
    e.payloadJson = payload;
    store.addEvent(e);
}

} // namespace

class TestUiSamples : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parsesPayloads();
    void parsesDefensively();
    void rolloutInspector();
    void predictionPreview();

private:
    QTemporaryDir m_dir;
};

void TestUiSamples::parsesPayloads()
{
    const auto step = ui::parseRolloutsPayload(QByteArray::fromStdString(rolloutsPayload(40)));
    QVERIFY(step);
    QCOMPARE(step->step, qint64(40));
    QCOMPARE(step->samples.size(), qsizetype(2));
    const ui::RolloutSample &s = step->samples[0];
    QCOMPARE(s.historyTitles, QStringList({QStringLiteral("Stapler"), QStringLiteral("Paper clips")}));
    QCOMPARE(s.completions.size(), qsizetype(3));
    QCOMPARE(s.rewardNames(), QStringList({QStringLiteral("ranking"), QStringLiteral("rule")}));
    QCOMPARE(s.completions[1].reward, 1.5);
    QCOMPARE(s.completions[1].advantage, 1.4);
    QVERIFY(!s.zeroRewardStd());
    QVERIFY(step->samples[1].zeroRewardStd());
}

void TestUiSamples::parsesDefensively()
{
    QVERIFY(!ui::parseRolloutsPayload("not json"));
    QVERIFY(!ui::parseEvalExamplesPayload("[1, 2]"));
    // Wrong types and missing fields give empty values, not exceptions.
    const auto step = ui::parseRolloutsPayload(R"({"step": "x", "samples": [{"user_id": 7, "completions": [{"reward": "high"}]}, 3]})");
    QVERIFY(step);
    QCOMPARE(step->step, qint64(0));
    QCOMPARE(step->samples.size(), qsizetype(1));
    QCOMPARE(step->samples[0].userId, QStringLiteral("7"));
    QCOMPARE(step->samples[0].completions[0].reward, 0.0);
    const auto ex = ui::parseEvalExamplesPayload(R"({"examples": [{"user_id": "u", "top": [{"sid": "s"}]}]})");
    QVERIFY(ex);
    QCOMPARE(ex->examples[0].rank, -1);
    QCOMPARE(ex->examples[0].top.size(), qsizetype(1));
    QCOMPARE(ui::rankText(0), QStringLiteral("#1"));
}

void TestUiSamples::rolloutInspector()
{
    const QString path = m_dir.filePath(QStringLiteral("rollouts.db"));
    core::RunStore store(path.toStdString());
    const int64_t run = store.createRun(core::NewRun{});
    addEvent(store, run, "rl", 20, "rollouts", rolloutsPayload(20));
    addEvent(store, run, "rl", 20, "log", "{}");
    ui::StoreWatcher watcher(path);
    ui::RolloutInspector inspector(&watcher);
    inspector.showRun(run);
    QCOMPARE(inspector.steps(), QList<qint64>({20}));
    QCOMPARE(inspector.sampleCount(), 2);
    QCOMPARE(inspector.historyText(), QStringLiteral("Stapler\nPaper clips"));
    QVERIFY(inspector.targetText().contains(QStringLiteral("Staples")));
    QTableWidget *t = inspector.table();
    QCOMPARE(t->rowCount(), 3);
    // Title, SID, ranking, rule, Reward, Advantage.
    QCOMPARE(t->columnCount(), 6);
    QCOMPARE(t->horizontalHeaderItem(2)->text(), QStringLiteral("ranking"));
    QCOMPARE(inspector.targetRow(), 1);
    QCOMPARE(t->item(1, 0)->text(), QStringLiteral("Staples"));
    QVERIFY(t->item(1, 0)->font().bold());
    QVERIFY(!t->item(0, 0)->font().bold());
    QCOMPARE(t->item(1, 4)->data(Qt::UserRole).toDouble(), 1.5);
    QCOMPARE(t->item(1, 5)->data(Qt::UserRole).toDouble(), 1.4);
    QVERIFY(inspector.signalText().isEmpty());

    inspector.setSample(1);
    QCOMPARE(inspector.targetRow(), -1); // the target is not in u2's group
    QVERIFY(!inspector.signalText().isEmpty());

    // A later step arrives while the run goes on; the inspector follows the newest step.
    addEvent(store, run, "rl", 40, "rollouts", rolloutsPayload(40));
    inspector.refresh();
    QCOMPARE(inspector.steps(), QList<qint64>({20, 40}));
    QCOMPARE(inspector.currentStep(), qint64(40));
    inspector.setStep(20);
    QCOMPARE(inspector.currentStep(), qint64(20));
}

void TestUiSamples::predictionPreview()
{
    const QString path = m_dir.filePath(QStringLiteral("preview.db"));
    core::RunStore store(path.toStdString());
    const int64_t run = store.createRun(core::NewRun{});
    core::EvalResult r;
    r.runId = run;
    r.stage = "eval";
    r.split = "test";
    r.userIds = {"u0", "u1", "u2"};
    r.ranks = {4, 1, -1};
    r.metricsJson = R"({"hr@10": 0.66})";
    store.addEvalResult(r);
    json examples = json::array();
    examples.push_back({{"user_id", "u1"},
                        {"history_titles", {"Stapler", "Paper clips"}},
                        {"target_sid", "<a_1><b_2><c_3>"},
                        {"target_title", "Staples"},
                        {"rank", 1},
                        {"top", {{{"sid", "<a_1><b_2><c_4>"}, {"title", "Binder"}, {"score", -0.5}},
                                 {{"sid", "<a_1><b_2><c_3>"}, {"title", "Staples"}, {"score", -0.9}},
                                 {{"sid", "<a_2><b_2><c_3>"}, {"title", "Tape"}, {"score", -1.7}}}}});
    examples.push_back({{"user_id", "u2"},
                        {"history_titles", {"Pen"}},
                        {"target_sid", "<a_5><b_5><c_5>"},
                        {"target_title", "Ink"},
                        {"rank", -1},
                        {"top", {{{"sid", "<a_6><b_1><c_1>"}, {"title", "Ruler"}, {"score", -0.1}}}}});
    addEvent(store, run, "eval", 60, "eval_examples", json{{"split", "test"}, {"examples", examples}}.dump());

    ui::StoreWatcher watcher(path);
    ui::PredictionPreview preview(&watcher);
    preview.showRun(run);
    QCOMPARE(preview.users(), QStringList({QStringLiteral("u1"), QStringLiteral("u2")}));
    QCOMPARE(preview.currentUser(), QStringLiteral("u1"));
    QCOMPARE(preview.historyText(), QStringLiteral("Stapler\nPaper clips"));
    QTableWidget *t = preview.table();
    QCOMPARE(t->rowCount(), 3);
    QCOMPARE(t->item(0, 1)->text(), QStringLiteral("Binder"));
    QCOMPARE(t->item(0, 3)->text(), QStringLiteral("-0.5000"));
    QCOMPARE(preview.targetRow(), 1);
    QVERIFY(t->item(1, 1)->font().bold());
    // The rank comes from the stored per-user evaluation (0-based 1 → "#2"), over 3 users.
    QVERIFY2(preview.rankLine().contains(QStringLiteral("#2")), qPrintable(preview.rankLine()));
    QVERIFY(preview.rankLine().contains(QStringLiteral("3")));

    preview.setUser(QStringLiteral("u2"));
    QCOMPARE(preview.targetRow(), -1);
    QVERIFY(preview.rankLine().contains(ui::rankText(-1)));
}

QTEST_MAIN(TestUiSamples)
#include "tst_ui_samples.moc"
