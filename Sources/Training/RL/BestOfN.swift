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
        public let scores: [Double]
        public var best: Int { scores.indices.max { scores[$0] < scores[$1] }! }
        public var response: String { candidates[best] }
    }

    /// Scores every candidate by the reward model (normalised) plus the weighted reward functions,
    /// the total PPO maximises (less its missing-EOS penalty, which exists to teach stopping),
    /// and picks the best per prompt.
    public static func choose(prompts: [String], candidates: [[String]], rewardModel: RewardModel, tokenizer: BPETokenizer,
                              rewardModelWeight: Double = 1, rewardFunctions: [RewardFunction] = []) -> [Choice] {
        zip(prompts, candidates).map { p, cs in
            let raw = rewardModel.score(prompts: Array(repeating: p, count: cs.count), responses: cs, tokenizer: tokenizer)
            let scores = zip(cs, raw).map { c, r in
                rewardFunctions.reduce(rewardModelWeight * rewardModel.normalised(Double(r))) { $0 + $1.weight * $1.function(p, c) }
            }
            return Choice(prompt: p, candidates: cs, scores: scores)
        }
    }
}
