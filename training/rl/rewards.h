#pragma once
/// @file rewards.h
/// GRPO rewards and group-normalised advantages (minionerec-spec §6.4-6.5). Plain C++ (no
/// Torch): exact, cheap and testable on hand-made groups.
///
/// A group is the list of completions of one prompt, in rollout order (beam rank under beam
/// search). A completion is identified by its SID string (e.g. "<a_1><b_2><c_3>"): items that
/// share a SID (collisions, spec B9) are indistinguishable, so generating the shared SID is a hit
/// for any of them, as in calc.py.
///
/// Components (named as in metrics `rewards/<name>/mean` and in the rollout table):
///  - `rule`:    r_i = 1 if completion i equals the target SID, else 0.
///  - `ranking`: MiniOneRec's ndcg_rule_reward. With n completions and S = Σ_{j<n} 1/log2(j+2):
///               if the group holds at least one hit, a miss at rank k gets −(1/log2(k+2))/S and a
///               hit 0; a group without a hit gets 0 everywhere. (MiniOneRec takes S over
///               G = num_generations; here S runs over the completions actually returned, which is
///               the same whenever the catalogue has at least G SIDs.)
/// reward_type → components: rule → [rule]; ranking → [rule, ranking]; ranking_only → [ranking].
/// The total is Σ_f w_f·r_f with reward_weights (empty = 1.0 each).

#include <string>
#include <vector>

namespace genrec::train {

/// The component names of a reward_type (rule | ranking | ranking_only); throws
/// core::Error(BadInput) for another name.
std::vector<std::string> rewardComponents(const std::string &rewardType);

/// `rule` reward of each completion.
std::vector<double> ruleRewards(const std::vector<std::string> &completionSids, const std::string &targetSid);

/// `ranking` reward (NDCG-shaped penalty on ranked misses) of each completion; index = rank.
std::vector<double> rankingRewards(const std::vector<std::string> &completionSids, const std::string &targetSid);

/// Rewards of one group.
struct GroupRewards
{
    std::vector<std::string> names;              ///< components, e.g. {"rule", "ranking"}
    std::vector<std::vector<double>> components; ///< [component][completion]
    std::vector<double> total;                   ///< [completion] Σ_f w_f·r_f
};

/// Every component of `rewardType` plus the weighted total. weights: one per component or
/// empty (1.0 each); another count throws core::Error(BadInput).
GroupRewards computeGroupRewards(const std::string &rewardType, const std::vector<double> &weights,
                                 const std::vector<std::string> &completionSids, const std::string &targetSid);

/// Mean and unbiased (n−1) standard deviation of a group (std 0 for n < 2).
std::pair<double, double> groupMeanStd(const std::vector<double> &rewards);

/// Group-relative advantages of one group: A_i = (r_i − mean) / (std + 1e-4) with the unbiased
/// std when scaleByStd (grpo, dapo, gspo), else A_i = r_i − mean (dr_grpo). A group with
/// constant reward gets 0 everywhere in both cases.
std::vector<double> groupAdvantages(const std::vector<double> &rewards, bool scaleByStd);

} // namespace genrec::train
