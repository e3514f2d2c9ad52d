import Foundation
import Support

/// Hyper-parameters of `rlhf ppo`, named after TRL's `PPOConfig` where TRL has the same knob.
/// Saved as the run's `run_config.json`; a resumed run reads it back.
public struct PPOConfig: Codable, Equatable, Sendable {
    /// PPO iterations: each samples `batchSize` rollouts and optimises on them.
    public var steps = 100
    /// Rollouts (prompt + sampled response) per iteration.
    public var batchSize = 64
    /// Optimisation passes over each iteration's rollouts (TRL `num_ppo_epochs`).
    public var ppoEpochs = 4
    /// Minibatches per epoch, each one optimiser step (TRL `num_mini_batches`).
    public var numMiniBatches = 1
    /// Micro-batches per minibatch, accumulated before the step, to save memory. The update is
    /// the same when the micro-batches hold as many response tokens: each takes its own token
    /// mean and the means count equally (as in TRL).
    public var gradientAccumulation = 1
    /// Rows per forward pass when generating and scoring (TRL `local_rollout_forward_batch_size`).
    public var rolloutBatchSize = 64

    public var learningRate: Float = 3e-6
    /// TRL decays the rate linearly to 0 over the run.
    public var decay: LearningRateSchedule.Decay = .linear
    /// 1e-5 rather than torch's 1e-8: with tiny second moments early in RL, 1e-8 lets single
    /// updates explode (Ziegler et al.; "N implementation details", detail 6).
    public var adamEpsilon: Float = 1e-5
    public var weightDecay: Float = 0
    public var maxGradNorm: Float = 1

    // Sampling.
    /// 0.7 as in TRL; the same temperature divides the logits of every training forward pass,
    /// otherwise the first ratio π/π_old is not 1 and the KL is measured on another distribution.
    public var temperature: Float = 0.7
    public var topK: Int? = nil
    public var topP: Float? = nil
    /// TRL `response_length`.
    public var maxNewTokens = 53

    // Rewards.
    /// Initial (or fixed) β of the per-token penalty −β·(log π − log π_ref) (TRL `kl_coef`).
    public var klCoef: Double = 0.05
    /// Adaptive β: target KL per sequence (nats); nil keeps β fixed.
    public var klTarget: Double? = nil
    /// Rollouts over which a sustained KL error changes β by about e^0.2 (Ziegler's horizon).
    public var klHorizon: Double = 10_000
    /// Subtracted from the score of a response cut at `maxNewTokens` without EOS
    /// (TRL `missing_eos_penalty`): otherwise rambling until the cut is free.
    public var missingEOSPenalty: Double = 1
    /// Weight of the reward model's normalised score in the total score.
    public var rewardModelWeight: Double = 1

    // Advantages and losses.
    /// γ = 1: the only non-KL reward comes at the end of a short episode; discounting it would
    /// favour short answers for no reason.
    public var gamma: Float = 1
    public var lambda: Float = 0.95
    /// Policy ratio clip ε (TRL `cliprange`).
    public var clipRange: Float = 0.2
    /// Value clip εᵥ (TRL `cliprange_value`).
    public var valueClipRange: Float = 0.2
    /// Value-loss coefficient in policy + c·value (TRL `vf_coef`).
    public var valueCoef: Float = 0.1
    public var whitenRewards = false

    /// Where the value function lives: its own trunk initialised from the reward model (TRL's
    /// layout) or a head on the policy's trunk (half the compute, but the critic's gradients
    /// move the policy's features).
    public enum ValueModel: String, Codable, Sendable, CaseIterable { case separate, shared }
    public var valueModel: ValueModel = .separate

    /// How advantages are estimated, i.e. which algorithm this trainer runs:
    /// - `gae`: PPO — a learned critic, GAE over per-token rewards (−β·KL, score on the last token);
    /// - `grpo`: GRPO (Shao et al. 2024) — no critic; `numGenerations` samples per prompt, each
    ///   one's advantage its score's z-score within the group, on every token; the KL to the
    ///   reference is a loss term β·k3 instead of a reward;
    /// - `rloo`: RLOO (Ahmadian et al. 2024) — no critic; the sequence reward score − β·Σ k1,
    ///   minus the mean reward of the other samples of the same prompt.
    /// All three share the rollout, scoring, clipped surrogate and checkpoints.
    public enum AdvantageEstimator: String, Codable, Sendable, CaseIterable { case gae, grpo, rloo }
    public var advantageEstimator: AdvantageEstimator = .gae
    /// Samples per prompt for `grpo`/`rloo` (TRL `num_generations` / `rloo_k`); `batchSize`
    /// counts samples, so an iteration sees `batchSize / numGenerations` prompts.
    public var numGenerations = 4
    public var usesCritic: Bool { advantageEstimator == .gae }

    public var checkpointEvery = 10
    public var seed: UInt64 = 0

    public init() {}

    /// Checks combinations that cannot work before any model is loaded.
    public func validate() throws {
        func bad(_ m: String) -> RLHFError { .invalidArgument(m) }
        if steps < 1 { throw bad("--steps must be at least 1, found \(steps)") }
        if batchSize < 1 { throw bad("--batch-size must be at least 1, found \(batchSize)") }
        if numMiniBatches < 1 || batchSize % numMiniBatches != 0 {
            throw bad("--batch-size \(batchSize) must split into --num-mini-batches \(numMiniBatches) equal minibatches")
        }
        let mini = batchSize / numMiniBatches
        if gradientAccumulation < 1 || mini % gradientAccumulation != 0 {
            throw bad("a minibatch of \(mini) rollouts must split into --grad-accum \(gradientAccumulation) equal micro-batches")
        }
        // GRPO's flags carry TRL's GRPO names; every other method's, PPO's.
        let klFlag = advantageEstimator == .grpo ? "--beta" : "--kl-coef", epochsFlag = advantageEstimator == .grpo ? "--num-iterations" : "--ppo-epochs"
        if ppoEpochs < 1 { throw bad("\(epochsFlag) must be at least 1, found \(ppoEpochs)") }
        if !(learningRate > 0 && learningRate.isFinite) { throw bad("--learning-rate must be a finite number > 0, found \(learningRate)") }
        if !(temperature > 0 && temperature.isFinite) { throw bad("--temperature must be a finite number > 0, found \(temperature)") }
        if maxNewTokens < 1 { throw bad("--max-new-tokens must be at least 1") }
        if rolloutBatchSize < 1 { throw bad("--rollout-batch-size must be at least 1, found \(rolloutBatchSize)") }
        if let k = topK, k < 1 { throw bad("--top-k must be at least 1, found \(k) (leave it out for no top-k)") }
        if let p = topP, !(p > 0 && p <= 1) { throw bad("--top-p must be in (0, 1], found \(p) (leave it out for no nucleus sampling)") }
        if !(klCoef >= 0 && klCoef.isFinite) { throw bad("\(klFlag) must be a finite number ≥ 0, found \(klCoef)") }
        if let t = klTarget, !(t > 0 && t.isFinite) { throw bad("--kl-target must be a finite number > 0, found \(t)") }
        // The controller multiplies β by (1 + error · n / horizon): from 0 it never moves.
        if klTarget != nil && klCoef == 0 { throw bad("--kl-target adapts β by multiplying it, so it needs a starting \(klFlag) above 0, found 0") }
        if !(klHorizon > 0 && klHorizon.isFinite) { throw bad("--kl-horizon must be a finite number > 0, found \(klHorizon)") }
        if !(clipRange > 0 && clipRange.isFinite) { throw bad("--cliprange must be a finite number > 0, found \(clipRange)") }
        if !(valueClipRange > 0 && valueClipRange.isFinite) { throw bad("--cliprange-value must be a finite number > 0, found \(valueClipRange)") }
        if !(valueCoef >= 0 && valueCoef.isFinite) { throw bad("--vf-coef must be a finite number ≥ 0, found \(valueCoef)") }
        if !missingEOSPenalty.isFinite { throw bad("--missing-eos-penalty must be a finite number, found \(missingEOSPenalty)") }
        if !rewardModelWeight.isFinite { throw bad("--rm-weight must be a finite number, found \(rewardModelWeight)") }
        if !(lambda >= 0 && lambda <= 1) || !(gamma >= 0 && gamma <= 1) { throw bad("--gamma and --lam must lie in [0, 1]") }
        if checkpointEvery < 1 { throw bad("--checkpoint-every must be at least 1") }
        if !usesCritic && (numGenerations < 2 || batchSize % numGenerations != 0) {
            // RLOO's flag is --rloo-k (TRL's name), GRPO's --num-generations.
            let flag = advantageEstimator == .rloo ? "--rloo-k" : "--num-generations"
            throw bad("\(advantageEstimator.rawValue.uppercased()) needs \(flag) ≥ 2 dividing --batch-size \(batchSize), found \(numGenerations)")
        }
    }
}
