import Foundation
import Models
import Tensors
import Tokenizers

/// Best-of-N (rejection sampling against the reward model): sample N responses per prompt from
/// the policy and keep the one the reward scores highest. No training; it is the baseline every
/// RL method has to beat at equal KL, and its KL is known in closed form.
public enum BestOfN {
    /// KL(best-of-N ‖ policy) = log N − (N−1)/N (Stiennon et al. 2020, appendix; Gao et al.
    /// 2022): exact when the scores have no ties, an upper bound otherwise.
    public static func analyticKL(n: Int) -> Double {
        precondition(n >= 1)
        return Foundation.log(Double(n)) - Double(n - 1) / Double(n)
    }

    /// One prompt's candidates and their scores; `best` indexes the kept one.
    public struct Choice: Sendable {
        public let prompt: String
        public let candidates: [String]
        /// The total each candidate is chosen by: normalised reward-model score, weighted, plus
        /// the weighted reward functions.
        public let scores: [Double]
        /// Each candidate's normalised reward-model score alone (the proxy reward).
        public let rewardModelScores: [Double]
        public var best: Int { best(amongFirst: candidates.count) }
        public var response: String { candidates[best] }

        /// The best of the first `k` candidates: best-of-k from the same samples, without scoring
        /// them again (the first of equal scores wins, as in `best`).
        public func best(amongFirst k: Int) -> Int {
            precondition((1...candidates.count).contains(k), "best-of-\(k) from \(candidates.count) candidates")
            return scores.indices.prefix(k).max { scores[$0] < scores[$1] }!
        }
    }

    /// Scores every candidate by the reward model (normalised) plus the weighted reward functions,
    /// the total PPO maximises (less its missing-EOS penalty, which exists to teach stopping),
    /// and picks the best per prompt.
    public static func choose(prompts: [String], candidates: [[String]], rewardModel: RewardModel, tokenizer: BPETokenizer,
                              rewardModelWeight: Double = 1, rewardFunctions: [RewardFunction] = []) -> [Choice] {
        zip(prompts, candidates).map { p, cs in
            let proxy = rewardModel.score(prompts: Array(repeating: p, count: cs.count), responses: cs, tokenizer: tokenizer)
                .map { rewardModel.normalised(Double($0)) }
            let scores = zip(cs, proxy).map { c, r in
                rewardFunctions.reduce(rewardModelWeight * r) { $0 + $1.weight * $1.function(p, c) }
            }
            return Choice(prompt: p, candidates: cs, scores: scores, rewardModelScores: proxy)
        }
    }
}
