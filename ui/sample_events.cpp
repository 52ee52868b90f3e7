#include "ui/sample_events.h"

#include <QCoreApplication>

#include <nlohmann/json.hpp>

namespace genrec::ui {

namespace {

using nlohmann::json;

QString str(const json &o, const char *key)
{
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? QString::fromStdString(it->get<std::string>()) : QString();
}

double num(const json &o, const char *key, double fallback = 0)
{
    auto it = o.find(key);
    return it != o.end() && it->is_number() ? it->get<double>() : fallback;
}

QStringList strings(const json &o, const char *key)
{
    QStringList out;
    auto it = o.find(key);
    if (it == o.end() || !it->is_array())
        return out;
    for (const json &v : *it)
        if (v.is_string())
            out << QString::fromStdString(v.get<std::string>());
    return out;
}

const json &array(const json &o, const char *key)
{
    static const json empty = json::array();
    auto it = o.find(key);
    return it != o.end() && it->is_array() ? *it : empty;
}

} // namespace

QStringList RolloutSample::rewardNames() const
{
    QStringList names;
    for (const RolloutCompletion &c : completions)
        for (const auto &[name, value] : c.rewards)
            if (!names.contains(name))
                names << name;
    return names;
}

bool RolloutSample::zeroRewardStd() const
{
    if (completions.size() < 2)
        return false;
    for (const RolloutCompletion &c : completions)
        if (c.reward != completions.first().reward)
            return false;
    return true;
}

std::optional<RolloutStep> parseRolloutsPayload(const QByteArray &text)
{
    const json doc = json::parse(text.constData(), text.constData() + text.size(), nullptr, false);
    if (!doc.is_object())
        return std::nullopt;
    RolloutStep step;
    step.step = qint64(num(doc, "step"));
    for (const json &s : array(doc, "samples")) {
        if (!s.is_object())
            continue;
        RolloutSample sample;
        sample.userId = str(s, "user_id");
        if (sample.userId.isEmpty() && s.contains("user_id") && s["user_id"].is_number())
            sample.userId = QString::number(s["user_id"].get<long long>());
        sample.historyTitles = strings(s, "history_titles");
        sample.targetSid = str(s, "target_sid");
        sample.targetTitle = str(s, "target_title");
        for (const json &c : array(s, "completions")) {
            if (!c.is_object())
                continue;
            RolloutCompletion comp;
            comp.sid = str(c, "sid");
            comp.title = str(c, "title");
            if (auto r = c.find("rewards"); r != c.end() && r->is_object())
                for (auto it = r->begin(); it != r->end(); ++it)
                    if (it->is_number())
                        comp.rewards.push_back({QString::fromStdString(it.key()), it->get<double>()});
            comp.reward = num(c, "reward");
            comp.advantage = num(c, "advantage");
            sample.completions.push_back(std::move(comp));
        }
        step.samples.push_back(std::move(sample));
    }
    return step;
}

std::optional<EvalExamples> parseEvalExamplesPayload(const QByteArray &text)
{
    const json doc = json::parse(text.constData(), text.constData() + text.size(), nullptr, false);
    if (!doc.is_object())
        return std::nullopt;
    EvalExamples out;
    out.split = str(doc, "split");
    for (const json &e : array(doc, "examples")) {
        if (!e.is_object())
            continue;
        EvalExample ex;
        ex.userId = str(e, "user_id");
        if (ex.userId.isEmpty() && e.contains("user_id") && e["user_id"].is_number())
            ex.userId = QString::number(e["user_id"].get<long long>());
        ex.historyTitles = strings(e, "history_titles");
        ex.targetSid = str(e, "target_sid");
        ex.targetTitle = str(e, "target_title");
        ex.rank = int(num(e, "rank", -1));
        for (const json &p : array(e, "top"))
            if (p.is_object())
                ex.top.push_back({str(p, "sid"), str(p, "title"), num(p, "score")});
        out.examples.push_back(std::move(ex));
    }
    return out;
}

QString rankText(int rank)
{
    return rank >= 0 ? QStringLiteral("#%1").arg(rank + 1)
                     : QCoreApplication::translate("genrec::ui", "not in the list");
}

} // namespace genrec::ui
