/// Critic-free baselines from several samples of the same prompt.

/// GRPO (Shao et al. 2024): (r − mean of the group) / (std of the group + ε). A group whose
/// rewards are all equal carries no signal: its advantages are 0, not NaN.
public func groupRelativeAdvantages(_ rewards: [Float], groupSize: Int, epsilon: Float = 1e-4) -> [Float] {
    precondition(groupSize > 0 && rewards.count % groupSize == 0,
                 "GRPO: \(rewards.count) rewards do not split into groups of \(groupSize)")
    var out = [Float](repeating: 0, count: rewards.count)
    for start in stride(from: 0, to: rewards.count, by: groupSize) {
        let g = rewards[start..<start + groupSize]
        let mean = g.reduce(0, +) / Float(groupSize)
        // Sample (n−1) standard deviation, as torch.std in TRL's GRPO.
        let variance = groupSize > 1 ? g.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(groupSize - 1) : 0
        let std = variance.squareRoot()
        for i in 0..<groupSize { out[start + i] = (rewards[start + i] - mean) / (std + epsilon) }
    }
    return out
}

/// RLOO (Ahmadian et al. 2024): each sample's baseline is the mean reward of the other k−1
/// samples of its prompt, an unbiased baseline without a critic.
public func leaveOneOutAdvantages(_ rewards: [Float], groupSize k: Int) -> [Float] {
    precondition(k > 1 && rewards.count % k == 0, "RLOO: needs groups of at least 2; \(rewards.count) rewards, group \(k)")
    var out = [Float](repeating: 0, count: rewards.count)
    for start in stride(from: 0, to: rewards.count, by: k) {
        let total = rewards[start..<start + k].reduce(0, +)
        for i in 0..<k {
            let r = rewards[start + i]
            out[start + i] = r - (total - r) / Float(k - 1)
        }
    }
    return out
}
