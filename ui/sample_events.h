#pragma once
/// @file sample_events.h
/// The engine's sample events, decoded for the studio: GRPO rollouts (event kind "rollouts",
/// stage "rl") and evaluation examples (kind "eval_examples", stage "eval"). Decoding is
/// defensive: a missing or mistyped field gives an empty value, never an exception, so a
/// payload from an older or newer engine still shows what it can.

#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>
#include <utility>

namespace genrec::ui {

/// One generated item of a rollout group.
struct RolloutCompletion
{
    QString sid;
    QString title;
    QVector<std::pair<QString, double>> rewards; ///< per reward function, in payload order
    double reward = 0;                           ///< total reward
    double advantage = 0;                        ///< group-normalised advantage
};

/// One prompt (a user's history) and the group generated for it.
struct RolloutSample
{
    QString userId;
    QStringList historyTitles;
    QString targetSid;
    QString targetTitle;
    QVector<RolloutCompletion> completions;

    /// Reward names used by any completion, in first-seen order.
    QStringList rewardNames() const;
    /// Whether every completion got the same total reward (no learning signal for the group).
    bool zeroRewardStd() const;
};

/// Rollouts logged at one RL step.
struct RolloutStep
{
    qint64 step = 0;
    QVector<RolloutSample> samples;
};

/// One evaluated user: history, target, its rank and the top predictions.
struct EvalExample
{
    QString userId;
    QStringList historyTitles;
    QString targetSid;
    QString targetTitle;
    int rank = -1; ///< 0-based rank of the target in the model's list; -1 = not in it
    struct Prediction
    {
        QString sid;
        QString title;
        double score = 0;
    };
    QVector<Prediction> top;
};

struct EvalExamples
{
    QString split;
    QVector<EvalExample> examples;
};

/// Decodes a "rollouts" payload; nullopt when it is not a JSON object.
std::optional<RolloutStep> parseRolloutsPayload(const QByteArray &json);
/// Decodes an "eval_examples" payload; nullopt when it is not a JSON object.
std::optional<EvalExamples> parseEvalExamplesPayload(const QByteArray &json);

/// "#3" for a 0-based rank, "not in the list" for -1 (translated).
QString rankText(int rank);

} // namespace genrec::ui
