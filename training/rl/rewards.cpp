// GRPO rewards (rule, ranking) and group-normalised advantages.
#include "training/rl/rewards.h"

#include "core/common/error.h"

#include <cmath>

namespace genrec::train {

std::vector<std::string> rewardComponents(const std::string &rewardType)
{
    if (rewardType == "rule")
        return {"rule"};
    if (rewardType == "ranking")
        return {"rule", "ranking"};
    if (rewardType == "ranking_only")
        return {"ranking"};
    core::throwBadInput("rl.reward_type: unknown reward '" + rewardType + "'", "use rule, ranking or ranking_only");
}

std::vector<double> ruleRewards(const std::vector<std::string> &completionSids, const std::string &targetSid)
{
    std::vector<double> r(completionSids.size(), 0.0);
    for (size_t i = 0; i < completionSids.size(); ++i)
        r[i] = completionSids[i] == targetSid ? 1.0 : 0.0;
    return r;
}

std::vector<double> rankingRewards(const std::vector<std::string> &completionSids, const std::string &targetSid)
{
    const size_t n = completionSids.size();
    std::vector<double> r(n, 0.0);
    bool anyHit = false;
    for (const auto &s : completionSids)
        anyHit = anyHit || s == targetSid;
    if (!anyHit)
        return r;
    double norm = 0.0;
    for (size_t j = 0; j < n; ++j)
        norm += 1.0 / std::log2(static_cast<double>(j) + 2.0);
    for (size_t k = 0; k < n; ++k)
        if (completionSids[k] != targetSid)
            r[k] = -(1.0 / std::log2(static_cast<double>(k) + 2.0)) / norm;
    return r;
}

GroupRewards computeGroupRewards(const std::string &rewardType, const std::vector<double> &weights,
                                 const std::vector<std::string> &completionSids, const std::string &targetSid)
{
    GroupRewards g;
    g.names = rewardComponents(rewardType);
    if (!weights.empty() && weights.size() != g.names.size())
        core::throwBadInput("rl.reward_weights: reward_type " + rewardType + " has " + std::to_string(g.names.size()) +
                                " component(s), got " + std::to_string(weights.size()) + " weights",
                            "ranking = [rule, ranking]; leave [] for 1.0 each");
    g.total.assign(completionSids.size(), 0.0);
    for (size_t f = 0; f < g.names.size(); ++f) {
        g.components.push_back(g.names[f] == "rule" ? ruleRewards(completionSids, targetSid)
                                                    : rankingRewards(completionSids, targetSid));
        const double w = weights.empty() ? 1.0 : weights[f];
        for (size_t i = 0; i < completionSids.size(); ++i)
            g.total[i] += w * g.components.back()[i];
    }
    return g;
}

std::pair<double, double> groupMeanStd(const std::vector<double> &rewards)
{
    const auto n = static_cast<double>(rewards.size());
    if (rewards.empty())
        return {0.0, 0.0};
    double mean = 0.0;
    for (double r : rewards)
        mean += r;
    mean /= n;
    if (rewards.size() < 2)
        return {mean, 0.0};
    double sq = 0.0;
    for (double r : rewards)
        sq += (r - mean) * (r - mean);
    return {mean, std::sqrt(sq / (n - 1.0))};
}

std::vector<double> groupAdvantages(const std::vector<double> &rewards, bool scaleByStd)
{
    const auto [mean, std] = groupMeanStd(rewards);
    std::vector<double> a(rewards.size(), 0.0);
    bool constant = true;
    for (double r : rewards)
        constant = constant && r == rewards.front();
    if (constant)
        return a; // exactly 0, not rounding noise
    for (size_t i = 0; i < rewards.size(); ++i)
        a[i] = scaleByStd ? (rewards[i] - mean) / (std + 1e-4) : rewards[i] - mean;
    return a;
}

} // namespace genrec::train
