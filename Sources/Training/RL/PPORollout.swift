import Foundation

/// A reward a program computes from the prompt and response text, weighted and added to the
/// reward model's score (the demo world's order-number verifier, a unit test, a format check).
public struct RewardFunction: Sendable {
    public let name: String
    public let weight: Double
    public let function: @Sendable (_ prompt: String, _ response: String) -> Double

    public init(name: String, weight: Double, function: @escaping @Sendable (String, String) -> Double) {
        self.name = name; self.weight = weight; self.function = function
    }
}

/// One PPO iteration's experience, laid out for batched forward passes: each row is a
/// left-padded prompt (`promptLength` P) followed by a right-padded response (`responseLength` R).
/// Per-token arrays are `[B·R]`, indexed `row · R + i` for the i-th response token, and hold 0
/// beyond each row's response.
public struct PPORollout {
    public let batch: Int
    public let promptLength: Int
    public let responseLength: Int
    public var length: Int { promptLength + responseLength }
    /// `[B, P+R]` token ids, 0 on pads (the forward passes read rows through `packed(rows:)`,
    /// which leaves the pads out).
    public let ids: [Int32]
    /// Real prompt tokens per row (the rest of `promptLength` is left padding).
    public let promptLengths: [Int]
    /// Response tokens per row, EOS included when the row emitted it.
    public let responseLengths: [Int]
    public let endedWithEOS: [Bool]
    public let promptIndices: [Int]

    /// `[B·R]` 1 on response tokens.
    public let mask: [Float]
    /// log π_old at the sampling temperature, recomputed by the training forward pass so the
    /// first epoch's ratio is exactly 1 (the sampler's own values are kept for comparison).
    public var logProbs: [Float] = []
    public var samplingLogProbs: [Float] = []
    public var refLogProbs: [Float] = []
    public var values: [Float] = []
    /// Per-token rewards: −β·KL on every token, plus the score on the last.
    public var rewards: [Float] = []
    public var advantages: [Float] = []
    public var returns: [Float] = []
    /// Total score per row (weighted reward model + reward functions − EOS penalty).
    public var scores: [Double] = []

    /// Lays out prompts and sampled responses. `responses[i]` includes EOS when `ended[i]`.
    public init(prompts: [[Int32]], responses: [[Int32]], ended: [Bool], samplingLogProbs: [[Float]], promptIndices: [Int]) {
        precondition(prompts.count == responses.count && prompts.count == ended.count && !prompts.isEmpty)
        batch = prompts.count
        promptLength = prompts.map(\.count).max()!
        responseLength = max(responses.map(\.count).max()!, 1)
        let t = promptLength + responseLength, r = responseLength
        var ids = [Int32](repeating: 0, count: batch * t)
        var mask = [Float](repeating: 0, count: batch * r)
        var sampled = [Float](repeating: 0, count: batch * r)
        for b in 0..<batch {
            let pad = promptLength - prompts[b].count
            for (j, id) in prompts[b].enumerated() { ids[b * t + pad + j] = id }
            for (j, id) in responses[b].enumerated() {
                ids[b * t + promptLength + j] = id
                mask[b * r + j] = 1
                sampled[b * r + j] = samplingLogProbs[b][j]
            }
        }
        self.ids = ids
        self.mask = mask
        self.samplingLogProbs = sampled
        promptLengths = prompts.map(\.count)
        responseLengths = responses.map(\.count)
        endedWithEOS = ended
        self.promptIndices = promptIndices
    }

    /// The response tokens of `rows` as LM targets, row-major `[rows·R]`, −1 on padding.
    public func targets(rows: [Int]) -> [Int32] {
        var out = [Int32](repeating: -1, count: rows.count * responseLength)
        for (k, b) in rows.enumerated() {
            for i in 0..<responseLengths[b] { out[k * responseLength + i] = ids[b * length + promptLength + i] }
        }
        return out
    }

    /// The sub-batch `rows` without padding, for `GPT2.hiddenStates(packed:lengths:)`: each row's
    /// prompt and response end to end, and the packed position that predicts each response slot
    /// `[rows·R]` (slots past a response point at its last prompt token; their targets are −1
    /// and their mask 0). The padded `[B, P+R]` layout spends about a third of its positions on
    /// pads in the demo (prompts of 21–32 tokens, responses of 35 on average against a longest
    /// of ~60), and every pass of PPO runs on it.
    public func packed(rows: [Int]) -> Packed {
        var ids: [Int32] = [], lengths: [Int] = [], predicting: [Int] = []
        predicting.reserveCapacity(rows.count * responseLength)
        for b in rows {
            let p = promptLengths[b], n = responseLengths[b], start = ids.count
            ids += self.ids[(b * length + promptLength - p)..<(b * length + promptLength + n)]
            lengths.append(p + n)
            for i in 0..<responseLength { predicting.append(start + p - 1 + (i < n ? i : 0)) }
        }
        return Packed(ids: ids, lengths: lengths, predicting: predicting)
    }

    /// Rows packed end to end (`packed(rows:)`).
    public struct Packed {
        public let ids: [Int32]
        public let lengths: [Int]
        /// `[rows·R]`: the packed position that predicts each response slot.
        public let predicting: [Int]
    }

    /// Gathers `rows` of a `[B·X]` per-row array into a sub-batch.
    public func slice<T>(_ a: [T], rows: [Int], width: Int) -> [T] {
        rows.flatMap { a[$0 * width..<($0 + 1) * width] }
    }

    /// Per-token rewards −β·(log π_old − log π_ref) (the k1 estimator, whose sum is an unbiased
    /// estimate of the sequence KL), with each row's score added on its last response token:
    /// the reward model judged the whole response, and GAE carries it back.
    public mutating func assignRewards(beta: Double) {
        rewards = [Float](repeating: 0, count: batch * responseLength)
        for b in 0..<batch {
            for i in 0..<responseLengths[b] {
                let k = b * responseLength + i
                rewards[k] = Float(-beta * Double(logProbs[k] - refLogProbs[k]))
            }
            if responseLengths[b] > 0 { rewards[b * responseLength + responseLengths[b] - 1] += Float(scores[b]) }
        }
    }

    /// GAE per response, then advantages whitened over every response token of the batch.
    /// `whitenRewards` (off by default, as in TRL) rescales rewards first, keeping their mean.
    public mutating func computeAdvantages(gamma: Float, lambda: Float, whitenRewards: Bool) {
        let r = responseLength
        var rew = rewards
        if whitenRewards {
            let flat = (0..<batch * r).filter { mask[$0] != 0 }
            for (k, w) in zip(flat, whiten(flat.map { rew[$0] }, shiftMean: false)) { rew[k] = w }
        }
        advantages = [Float](repeating: 0, count: batch * r)
        returns = [Float](repeating: 0, count: batch * r)
        for b in 0..<batch {
            let n = responseLengths[b]
            guard n > 0 else { continue }
            let (a, ret) = generalizedAdvantages(rewards: Array(rew[b * r..<b * r + n]), values: Array(values[b * r..<b * r + n]),
                                                 gamma: gamma, lambda: lambda)
            for i in 0..<n { advantages[b * r + i] = a[i]; returns[b * r + i] = ret[i] }
        }
        let flat = (0..<batch * r).filter { mask[$0] != 0 }
        for (k, w) in zip(flat, whiten(flat.map { advantages[$0] })) { advantages[k] = w }
    }

    /// Critic-free estimators (GRPO, RLOO): one advantage per response, on each of its tokens.
    public mutating func setSequenceAdvantages(_ perRow: [Float]) {
        precondition(perRow.count == batch)
        advantages = [Float](repeating: 0, count: batch * responseLength)
        returns = advantages
        for b in 0..<batch { for i in 0..<responseLengths[b] { advantages[b * responseLength + i] = perRow[b] } }
    }

    /// 1 − Var(returns − values)/Var(returns) over response tokens: how much of the return the
    /// critic predicts (1 perfect, ≤ 0 no better than a constant).
    public var explainedVariance: Double {
        let flat = (0..<batch * responseLength).filter { mask[$0] != 0 }
        guard flat.count > 1 else { return .nan }
        func variance(_ x: [Double]) -> Double {
            let m = x.reduce(0, +) / Double(x.count)
            return x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)
        }
        let ret = flat.map { Double(returns[$0]) }
        let vr = variance(ret)
        return vr > 0 ? 1 - variance(flat.map { Double(returns[$0] - values[$0]) }) / vr : .nan
    }
}
