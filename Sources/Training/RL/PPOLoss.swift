import Tensors

/// PPO's losses over the response tokens of a minibatch (Schulman et al. 2017; the details of
/// "The N Implementation Details of RLHF with PPO", Huang et al. 2024): the policy's clipped
/// surrogate here, the critic's clipped value loss in `valueLoss(...)`, apart because the
/// trainer runs the two backward passes side by side.
public struct PPOLoss {
    /// The clipped surrogate objective, negated: mean over tokens of
    /// max(−A·r, −A·clip(r, 1−ε, 1+ε)), r = exp(log π − log π_old).
    /// Taking the max of the two losses (the min of the objectives) removes any incentive to move
    /// the ratio past the clip range in the direction the advantage favours.
    public let policyLoss: Tensor
    /// Share of tokens where the clipped branch was the active one (logged as `clipfrac`).
    public let clipFraction: Float
    /// ½·mean (log π − log π_old)², an estimate of KL(π_old‖π) that tells how far an epoch moved.
    public let approxKL: Float
    public let meanRatio: Float

    /// - Parameters:
    ///   - logProbs: `[N]` current log π of the response tokens (with gradient).
    ///   - oldLogProbs: `[N]` log π at rollout time (constants).
    ///   - advantages: `[N]` whitened advantages (constants).
    ///   - mask: `[N]` 1 for real response tokens, 0 for padding.
    public init(logProbs: Tensor, oldLogProbs: Tensor, advantages: Tensor, mask: Tensor, clipRange: Float) {
        let ratio = exp(logProbs - oldLogProbs)
        let unclipped = -advantages * ratio
        let clipped = -advantages * clamp(ratio, 1 - clipRange, 1 + clipRange)
        policyLoss = maskedMean(maximum(unclipped, clipped), mask)

        var clipCount: Float = 0, tokens: Float = 0, klSum: Float = 0, ratioSum: Float = 0
        for i in 0..<mask.count where mask[i] != 0 {
            tokens += 1
            if clipped[i] > unclipped[i] { clipCount += 1 }
            let d = logProbs[i] - oldLogProbs[i]
            klSum += 0.5 * d * d
            ratioSum += ratio[i]
        }
        let denom = max(tokens, 1)
        clipFraction = clipCount / denom
        approxKL = klSum / denom
        meanRatio = ratioSum / denom
    }

    /// The critic's clipped value loss, ½·mean max((V − R)², (V_clipped − R)²) with V_clipped
    /// within ±`clipRange` of the rollout's value (so the critic cannot jump either), and the
    /// share of tokens where the clipped branch was the larger (logged as `val/clipfrac_avg`).
    /// `values` `[N]` with gradient; `oldValues`, `returns` and `mask` `[N]` constants.
    public static func valueLoss(values: Tensor, oldValues: Tensor, returns: Tensor, mask: Tensor, clipRange: Float) -> (Tensor, Float) {
        let vClipped = oldValues + clamp(values - oldValues, -clipRange, clipRange)
        let l1 = square(values - returns), l2 = square(vClipped - returns)
        var clipped: Float = 0, tokens: Float = 0
        for i in 0..<mask.count where mask[i] != 0 {
            tokens += 1
            if l2[i] > l1[i] { clipped += 1 }
        }
        return (0.5 * maskedMean(maximum(l1, l2), mask), clipped / max(tokens, 1))
    }
}
