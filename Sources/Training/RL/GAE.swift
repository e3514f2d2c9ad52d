/// Generalised Advantage Estimation (Schulman et al. 2016) over one response.
///
/// δₜ = rₜ + γ·V(t+1) − V(t), with V after the last token = 0 (the episode ends there);
/// Aₜ = δₜ + γλ·Aₜ₊₁. Returns Rₜ = Aₜ + V(t) are the value head's regression targets.
/// λ trades bias (λ→0, trusts the critic) against variance (λ→1, Monte Carlo).
public func generalizedAdvantages(rewards: [Float], values: [Float], gamma: Float, lambda: Float) -> (advantages: [Float], returns: [Float]) {
    precondition(rewards.count == values.count, "GAE: \(rewards.count) rewards but \(values.count) values")
    let n = rewards.count
    var adv = [Float](repeating: 0, count: n)
    var next: Float = 0, nextValue: Float = 0
    for t in stride(from: n - 1, through: 0, by: -1) {
        let delta = rewards[t] + gamma * nextValue - values[t]
        next = delta + gamma * lambda * next
        adv[t] = next
        nextValue = values[t]
    }
    return (adv, zip(adv, values).map { $0 + $1 })
}

/// (x − mean)/√(var + 1e-8) over all elements, so advantage scale does not depend on the reward
/// scale. `shiftMean: false` keeps the mean (TRL whitens rewards that way).
public func whiten(_ x: [Float], shiftMean: Bool = true) -> [Float] {
    guard x.count > 1 else { return shiftMean ? x.map { _ in 0 } : x }
    let n = Double(x.count)
    let mean = x.reduce(0.0) { $0 + Double($1) } / n
    // Unbiased variance, as torch.var's default.
    let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
    let scale = 1 / (variance + 1e-8).squareRoot()
    return x.map { Float((Double($0) - mean) * scale + (shiftMean ? 0 : mean)) }
}
