import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// PPO for language models with a per-token KL penalty to a frozen reference, in the recipe of
/// Ziegler et al. 2019, InstructGPT and TRL's `PPOTrainer` (details as catalogued in Huang et al.
/// 2024, "The N+ Implementation Details of RLHF with PPO"). One iteration, top to bottom:
///
/// 1. rollout: sample responses from the current policy at `temperature`;
/// 2. score: reward model (normalised) + programmatic reward functions − missing-EOS penalty;
/// 3. reference: log π_ref of the same tokens; per-token reward −β·KL, score on the last token;
/// 4. values and GAE advantages, whitened;
/// 5. `ppoEpochs` passes of clipped-surrogate + clipped-value updates over shuffled minibatches;
/// 6. adapt β toward the KL target (if one is set); log; checkpoint.
///
/// With `advantageEstimator` `grpo` or `rloo` the same loop runs GRPO or RLOO: no critic, each
/// prompt sampled `numGenerations` times, and step 4 replaces GAE by a group baseline (see
/// `PPOConfig.AdvantageEstimator`); `rlhf grpo` and `rlhf rloo` are this trainer.
///
/// Dropout is off throughout (`training = false` on every model): with dropout the rollout's
/// log-probabilities and the training pass's would differ, and the ratio and the KL with them.
public final class PPOTrainer {
    public let policy: GPT2
    public let reference: GPT2
    public let rewardModel: RewardModel
    /// The critic; nil for the critic-free estimators (GRPO, RLOO).
    public let value: ValueFunction?
    public let tokenizer: BPETokenizer
    /// The reward model's tokenizer when it differs from the policy's: responses are then decoded
    /// to text and re-encoded for scoring.
    let rewardTokenizer: BPETokenizer?
    public let config: PPOConfig
    public let runDirectory: URL
    public let optimizer: AdamW
    let schedule: LearningRateSchedule
    public private(set) var kl: KLController
    /// Prompt texts and their (left-truncated) tokens.
    let promptTexts: [String]
    let promptIDs: [[Int32]]
    let rewardFunctions: [RewardFunction]
    /// Functions logged on every rollout but not rewarded (the demo's hidden gold utility).
    let monitors: [RewardFunction]
    var rng: RNG
    public private(set) var step = 0
    /// Prompts longer than the room left by `maxNewTokens`, cut from the left.
    public let truncatedPrompts: Int
    /// Prompt + response texts longer than the reward model's context, cut from the left for
    /// scoring (so scored with part of their prompt), over this process's iterations. Happens
    /// when the reward model's context is shorter than the policy's, when its own tokenizer
    /// re-reads the whole prompt, or when an appended EOS pushes a full-length text one over.
    public private(set) var scoredTextsCut = 0
    public var label = "ppo"
    /// Seconds spent in each phase over the run, for the time split printed at the end.
    public private(set) var timing: [String: Double] = [:]
    public private(set) var generatedTokens = 0
    /// Set after each iteration: the last iteration's rollouts (for inspection and tests).
    public private(set) var lastRollout: PPORollout?
    /// Mean ratio π/π_old over the first minibatch of the first epoch of the last iteration:
    /// exactly 1 when the rollout's and the training pass's log-probabilities agree.
    public private(set) var firstRatio: Float = .nan
    /// Copies of the policy (and critic) over which a minibatch's `gradientAccumulation`
    /// micro-batches are spread, side by side (`MicroBatchLanes`, which says why); the rows of
    /// the reference pass are split the same way. The arithmetic depends on `lanes` and never
    /// on how many cores run them: with fewer cores than lanes they run in turn.
    public var lanes = 1
    private lazy var copies = MicroBatchLanes<Learner>(copy: { [policy, value] in
        Learner(policy: GPT2(config: policy.config), value: value.map(ValueFunction.init(shapeOf:)))
    }, parameters: \.parameters)
    /// Whether a separate critic's forward and backward run beside the policy's
    /// (`trainMicroBatch`); off, the two take one backward of the summed loss, as a shared critic
    /// does. The same gradients either way, which a test checks.
    var criticBesidePolicy = true
    /// What the checkpoints record and a resume must match: the config, the reference's and
    /// the reward model's weights, the prompts and the programmatic rewards.
    private let startRecord: JSONValue
    /// `startRecord` with the lanes, which change the arithmetic (and so the run) but are set
    /// after `init`.
    var runRecord: JSONValue {
        guard case .object(var fields) = startRecord else { return startRecord }
        fields["lanes"] = .number(Double(lanes))
        return .object(fields)
    }
    /// The fields of a run's record that a resume may change (`rlhf ppo --resume --steps`, the
    /// demo's `--resume`). With a constant rate nothing but the loop's end depends on the
    /// iteration count, so the first N iterations of a longer run are those of a run of N, and a
    /// finished run may be continued further (a demo folder from before the KL-free twin trained
    /// twice PPO's iterations continues its twin from 50 to 100).
    public static func extendable(_ config: PPOConfig) -> Set<String> { config.decay == .constant ? ["steps"] : [] }
    /// A command-line tool's flag for each field of the run's record, so that a refused
    /// `resume()` names what the user typed (`TrainingCheckpoint.check`).
    public var settingNames: [String: String] = [:]

    public init(policy: GPT2, rewardModel: RewardModel, tokenizer: BPETokenizer, rewardTokenizer: BPETokenizer?,
                prompts: [String], rewardFunctions: [RewardFunction] = [], monitors: [RewardFunction] = [],
                config: PPOConfig, runDirectory: URL) throws {
        try config.validate()
        guard !prompts.isEmpty else { throw RLHFError.invalidArgument("PPO needs at least one prompt") }
        guard config.maxNewTokens < policy.config.nPositions else {
            throw RLHFError.invalidArgument("--max-new-tokens \(config.maxNewTokens) leaves no room for a prompt in a context of \(policy.config.nPositions)")
        }
        self.policy = policy
        self.rewardModel = rewardModel
        self.tokenizer = tokenizer
        self.rewardTokenizer = rewardTokenizer
        self.config = config
        self.runDirectory = runDirectory
        self.rewardFunctions = rewardFunctions
        self.monitors = monitors
        reference = GPT2(config: policy.config)
        reference.copyWeights(from: policy)
        value = config.usesCritic
            ? ValueFunction(kind: config.valueModel, rewardModel: rewardModel, policy: policy, rewardModelReadsPolicyTokens: rewardTokenizer == nil,
                            rewardModelWeight: config.rewardModelWeight)
            : nil
        // Written only when on: the demo's lanes share the reward model read-only.
        for m in [policy, reference, rewardModel.trunk] + (value?.trunk.map { [$0] } ?? []) where m.training { m.training = false }

        (promptIDs, truncatedPrompts) = Sampling.encodePrompts(prompts, tokenizer, context: policy.config.nPositions, maxNewTokens: config.maxNewTokens)
        promptTexts = prompts

        optimizer = AdamW(parameters: policy.parameters + (value?.parameters ?? []),
                          hyper: .init(learningRate: config.learningRate, epsilon: config.adamEpsilon, weightDecay: config.weightDecay))
        let updates = config.steps * config.ppoEpochs * config.numMiniBatches
        schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: 0, totalSteps: updates, decay: config.decay, minRatio: 0)
        kl = config.klTarget.map { .adaptive(initial: config.klCoef, target: $0, horizon: config.klHorizon) } ?? .fixed(config.klCoef)
        rng = RNG(seed: config.seed, stream: 31)
        var promptPrint = Fingerprint()
        for p in prompts { promptPrint.mix(p) }
        startRecord = try TrainingCheckpoint.recorded(config, adding: [
            "reference_weights": TrainingCheckpoint.weights(reference.parameters),
            "reward_model_weights": TrainingCheckpoint.weights(rewardModel.parameters),
            // The same weights read at another token give other rewards.
            "reward_model_appends_eos": .bool(rewardModel.appendsEOS),
            "prompts": promptPrint.json,
            "reward_functions": .string(rewardFunctions.map { "\($0.name):\($0.weight)" }.joined(separator: ", ")),
        ])
    }

    var checkpointURL: URL { runDirectory.appendingPathComponent(TrainingCheckpoint.folderName) }
    var metricsURL: URL { runDirectory.appendingPathComponent("metrics.jsonl") }

    // MARK: - The loop

    /// Runs iterations until `config.steps` (or `stopAt`, as an interruption would). Throws
    /// `RLHFError.nonFinite` naming the step and the cause on NaN/Inf; the last checkpoint is intact.
    public func train(stopAt: Int? = nil) throws {
        // The log holds the steps up to where this run starts, then what it writes: a run begun
        // again in the same folder, or resumed, never repeats a step.
        try Metrics.truncate(metricsURL, afterStep: step)
        let metrics = try Metrics(metricsURL)
        let progress = Progress(label, total: config.steps, unit: "it", startingAt: step)
        let end = min(config.steps, stopAt ?? config.steps)
        let started = Date(), firstStep = step
        while step < end {
            let t0 = Date()
            var rollout = timed("rollout") { sampleRollout(iteration: step) }
            let (rmRaw, rmNormalised, fnValues, monitorValues) = try timed("score") { try score(&rollout) }
            timed("reference") { computeReferenceAndValues(&rollout) }
            let k1 = perRowSum(rollout, rollout.logProbs.indices.map { rollout.logProbs[$0] - rollout.refLogProbs[$0] })
            // k3 = (ρ − 1) − log ρ with ρ = π_ref/π: non-negative per token, lower variance; logged
            // beside k1 because k1's per-sequence values can go negative on a small batch.
            let k3 = perRowSum(rollout, rollout.logProbs.indices.map {
                let lr = Double(rollout.refLogProbs[$0] - rollout.logProbs[$0]); return Foundation.exp(lr) - 1 - lr })
            let beta = kl.beta
            switch config.advantageEstimator {
            case .gae:
                rollout.assignRewards(beta: beta)
                rollout.computeAdvantages(gamma: config.gamma, lambda: config.lambda, whitenRewards: config.whitenRewards)
            case .grpo:
                // The score alone: GRPO keeps the KL out of the reward and puts it in the loss.
                rollout.setSequenceAdvantages(groupRelativeAdvantages(rollout.scores.map(Float.init), groupSize: config.numGenerations))
            case .rloo:
                let rewards = (0..<rollout.batch).map { Float(rollout.scores[$0] - beta * k1[$0]) }
                rollout.setSequenceAdvantages(leaveOneOutAdvantages(rewards, groupSize: config.numGenerations))
            }
            let stats = try timed("train") { try optimise(rollout) }
            let meanKL = mean(k1)
            // Ziegler's controller sees the KL of the batch just sampled, per sequence.
            kl.update(currentKL: meanKL, samples: rollout.batch)
            step += 1
            lastRollout = rollout

            let seconds = Date().timeIntervalSince(t0)
            let tokens = rollout.responseLengths.reduce(0, +)
            generatedTokens += tokens
            let nonScore = mean(perRowSum(rollout, rollout.logProbs.indices.map { -beta * Double(rollout.logProbs[$0] - rollout.refLogProbs[$0]) }))
            var record: [String: Double] = [
                "step": Double(step), "episode": Double(step * config.batchSize),
                "objective/kl": meanKL, "objective/kl_k3": mean(k3), "objective/beta": beta,
                "objective/entropy": mean(perRowSum(rollout, rollout.logProbs.map { -Double($0) })),
                "objective/non_score_reward": nonScore,
                "objective/scores": mean(rollout.scores), "objective/rlhf_reward": mean(rollout.scores) + nonScore,
                "objective/rm_score": mean(rmNormalised), "objective/rm_score_raw": mean(rmRaw),
                "policy/approxkl_avg": stats.approxKL, "policy/clipfrac_avg": stats.clipFraction,
                "policy/entropy_avg": stats.entropy, "loss/policy_avg": stats.policyLoss,
                "val/ratio": stats.ratio, "val/num_eos_tokens": Double(rollout.endedWithEOS.filter { $0 }.count),
                "response_length": Double(tokens) / Double(rollout.batch),
                "lr": Double(schedule.rate(at: max(optimizer.step - 1, 0))),
                "tokens_per_second": Double(tokens) / seconds, "seconds": seconds,
                // TRL's episodes per second: this process's, since a resumed run's earlier ones took no time here.
                "eps": Double((step - firstStep) * config.batchSize) / Date().timeIntervalSince(started),
            ]
            if let v = stats.ratioVariance { record["val/ratio_var"] = v }
            if value != nil {
                record["loss/value_avg"] = stats.valueLoss
                record["val/clipfrac_avg"] = stats.valueClipFraction
                record["val/explained_variance"] = rollout.explainedVariance
            }
            for (f, v) in zip(rewardFunctions, fnValues) { record["objective/\(f.name)"] = mean(v) }
            for (f, v) in zip(monitors, monitorValues) { record["objective/\(f.name)"] = mean(v) }
            try metrics.append(record)
            let monitorText = zip(monitors, monitorValues).map { String(format: " %@ %+.3f", $0.name, mean($1)) }.joined()
            let critic = value == nil ? "" : String(format: " vf %.3f", stats.valueLoss)
            let ev = value == nil ? "" : String(format: " ev %.2f", rollout.explainedVariance)
            progress.update(step, String(format: "score %+.3f rm %+.3f (raw %+.3f)%@ kl %.2f β %.3f pg %+.3f%@ ent %.2f clip %.2f%@ len %.1f | %.0f tok/s",
                                         mean(rollout.scores), mean(rmNormalised), mean(rmRaw), monitorText, meanKL, beta, stats.policyLoss, critic,
                                         stats.entropy, stats.clipFraction, ev, Double(tokens) / Double(rollout.batch),
                                         Double(generatedTokens) / timing.values.reduce(0, +)))
            if step % config.checkpointEvery == 0 || step == config.steps { try saveCheckpoint() }
        }
        progress.finish(timeSplit)
    }

    /// "rollout 41% · score 6% · reference 9% · train 44% · 1234 tok/s": where an iteration's time goes.
    public var timeSplit: String {
        let total = timing.values.reduce(0, +)
        guard total > 0 else { return "" }
        let parts = ["rollout", "score", "reference", "train"].map { String(format: "%@ %.1fs (%.0f%%)", $0, timing[$0] ?? 0, 100 * (timing[$0] ?? 0) / total) }
        return parts.joined(separator: " · ") + String(format: " · %.0f generated tok/s", Double(generatedTokens) / total)
    }

    func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let t0 = Date()
        defer { timing[phase, default: 0] += Date().timeIntervalSince(t0) }
        return try body()
    }

    // MARK: - 1. Rollout

    /// The prompts of iteration `i`: consecutive slices of a permutation of the prompt set, drawn
    /// afresh each pass from (seed, pass), so a resumed run needs nothing but the step to continue.
    /// GRPO and RLOO take `batchSize / numGenerations` prompts and repeat each one
    /// `numGenerations` times in consecutive rows: a group.
    func promptIndices(iteration i: Int) -> [Int] {
        let n = promptIDs.count
        let group = config.usesCritic ? 1 : config.numGenerations
        let perIteration = config.batchSize / group
        return (0..<perIteration).flatMap { j -> [Int] in
            let k = i * perIteration + j
            let pass = k / n
            var r = RNG(seed: config.seed, index: UInt64(pass), stream: 32)
            var perm = Array(0..<n)
            for a in stride(from: n - 1, to: 0, by: -1) { perm.swapAt(a, r.below(a + 1)) }
            return Array(repeating: perm[k % n], count: group)
        }
    }

    func sampleRollout(iteration: Int) -> PPORollout {
        let indices = promptIndices(iteration: iteration)
        let prompts = indices.map { promptIDs[$0] }
        let options = SamplingOptions(temperature: config.temperature, topK: config.topK, topP: config.topP,
                                      maxNewTokens: config.maxNewTokens, eosTokenID: tokenizer.eosTokenID.map(Int32.init))
        var responses: [[Int32]] = [], ended: [Bool] = [], logProbs: [[Float]] = []
        for start in stride(from: 0, to: prompts.count, by: config.rolloutBatchSize) {
            let g = policy.generate(prompts: Array(prompts[start..<min(start + config.rolloutBatchSize, prompts.count)]), options: options, rng: &rng)
            responses += g.tokens; ended += g.finished; logProbs += g.logProbs
        }
        return PPORollout(prompts: prompts, responses: responses, ended: ended, samplingLogProbs: logProbs, promptIndices: indices)
    }

    // MARK: - 2. Scores

    /// Fills `rollout.scores`; returns the raw and normalised reward-model scores and each reward
    /// function's and monitor's values, per row.
    func score(_ rollout: inout PPORollout) throws -> ([Double], [Double], [[Double]], [[Double]]) {
        let eos = tokenizer.eosTokenID.map(Int32.init)
        var sequences: [[Int32]] = [], texts: [String] = []
        for b in 0..<rollout.batch {
            let prompt = promptIDs[rollout.promptIndices[b]]
            var response = (0..<rollout.responseLengths[b]).map { rollout.ids[b * rollout.length + rollout.promptLength + $0] }
            if rollout.endedWithEOS[b], response.last == eos { response.removeLast() }
            let text = tokenizer.decode(response)
            texts.append(text)
            // Scored in the shape the reward model was trained on: prompt + response, then EOS
            // when it `appendsEOS` (after a response the length limit cut off too: the
            // missing-EOS penalty below is what charges for that, not the reward model).
            let seq = rewardTokenizer.map { $0.encodeIDs(promptTexts[rollout.promptIndices[b]] + text) } ?? (prompt + response)
            sequences.append(rewardModel.sequence(seq, truncated: &scoredTextsCut))
        }
        let raw = rewardModel.score(sequences, batchSize: config.rolloutBatchSize).map(Double.init)
        let normalised = raw.map(rewardModel.normalised)
        if let bad = raw.firstIndex(where: { !$0.isFinite }) {
            throw RLHFError.nonFinite(step: step + 1, what: "the reward model's score of rollout \(bad)")
        }
        let prompts = rollout.promptIndices.map { promptTexts[$0] }
        let fnValues = rewardFunctions.map { f in zip(prompts, texts).map { f.function($0, $1) } }
        let monitorValues = monitors.map { f in zip(prompts, texts).map { f.function($0, $1) } }
        for (f, v) in zip(rewardFunctions, fnValues) {
            if let bad = v.firstIndex(where: { !$0.isFinite }) { throw RLHFError.nonFinite(step: step + 1, what: "reward function \(f.name) on rollout \(bad)") }
        }
        rollout.scores = (0..<rollout.batch).map { b in
            var s = config.rewardModelWeight * normalised[b]
            for (f, v) in zip(rewardFunctions, fnValues) { s += f.weight * v[b] }
            if !rollout.endedWithEOS[b] { s -= config.missingEOSPenalty }
            return s
        }
        return (raw, normalised, fnValues, monitorValues)
    }

    // MARK: - 3–4. Old and reference log-probabilities, values

    /// log π_old (recomputed by the same forward pass training uses), log π_ref and V_old for
    /// every response token, in chunks of `rolloutBatchSize` rows, without gradient. With
    /// `lanes` > 1 each chunk's rows are split into as many parts, which run side by side: the
    /// models are only read here.
    func computeReferenceAndValues(_ rollout: inout PPORollout) {
        let n = rollout.batch * rollout.responseLength, r = rollout.responseLength
        let logProbs = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3 * n)
        logProbs.initialize(repeating: 0)
        defer { logProbs.deallocate() }
        let parts = stride(from: 0, to: rollout.batch, by: config.rolloutBatchSize).flatMap { start -> [Range<Int>] in
            let end = min(start + config.rolloutBatchSize, rollout.batch), k = min(max(lanes, 1), end - start)
            return (0..<k).map { start + (end - start) * $0 / k ..< start + (end - start) * ($0 + 1) / k }
        }
        // The three forward passes run in turn on the chunk's cores. As jobs side by side (one
        // core each, the last on both) they took the same time: measured twice (2026-12-06).
        let done = rollout
        try! Parallel.jobs(parts.map { part in { [self] in
            withNoGrad {
                let rows = Array(part)
                let layout = done.packed(rows: rows)
                let (lp, _, h) = forward(policy, done, rows: rows, layout: layout, entropy: false)
                let (ref, _, _) = forward(reference, done, rows: rows, layout: layout, entropy: false)
                let v = value?.values(layout, responseSlots: lp.count, policyHidden: h)
                let off = part.lowerBound * r
                for k in 0..<lp.count where done.mask[off + k] != 0 {
                    logProbs[off + k] = lp[k]; logProbs[n + off + k] = ref[k]; logProbs[2 * n + off + k] = v?[k] ?? 0
                }
            }
        } }, lanes: lanes)
        rollout.logProbs = Array(logProbs[0..<n])
        rollout.refLogProbs = Array(logProbs[n..<2 * n])
        rollout.values = Array(logProbs[2 * n..<3 * n])
    }

    /// log-probabilities `[rows·R]` of the rows' response tokens under `model` at the sampling
    /// temperature, with entropies if asked, and the hidden states of the rows packed without
    /// padding (`layout`, `rollout.packed(rows:)`, made once for the policy, reference and critic).
    /// A row's values do not depend on the rows beside it, so the old log-probabilities (rows in
    /// order) and training's (shuffled minibatches) agree.
    func forward(_ model: GPT2, _ rollout: PPORollout, rows: [Int], layout: PPORollout.Packed, entropy: Bool) -> (Tensor, Tensor?, Tensor) {
        let h = model.hiddenStates(packed: layout.ids, lengths: layout.lengths)
        let at = h.gatherRows(layout.predicting)
        let out = model.tokenLogProbs(at, targets: rollout.targets(rows: rows), temperature: config.temperature, entropy: entropy)
        return (out.logProbs, out.entropy, h)
    }

    // MARK: - 5. Optimisation

    struct Stats {
        var policyLoss = 0.0, valueLoss = 0.0, clipFraction = 0.0, valueClipFraction = 0.0, approxKL = 0.0, entropy = 0.0, ratio = 0.0
        /// The variance of the micro-batches' mean ratios (TRL's `val/ratio_var`); nil with one micro-batch.
        var ratioVariance: Double?
    }

    func optimise(_ rollout: PPORollout) throws -> Stats {
        let mini = rollout.batch / config.numMiniBatches, micro = mini / config.gradientAccumulation
        var stats = Stats(), updates = 0.0
        var ratios: [Double] = []
        firstRatio = .nan
        for _ in 0..<config.ppoEpochs {
            var order = Array(0..<rollout.batch)
            for a in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(a, rng.below(a + 1)) }
            for m in 0..<config.numMiniBatches {
                let lr = schedule.rate(at: optimizer.step)
                optimizer.zeroGrad()
                // Each micro-batch's numbers, kept by index and added up in order below, so
                // that they do not depend on which lane ran it.
                let micros = UnsafeMutableBufferPointer<MicroStats>.allocate(capacity: config.gradientAccumulation)
                micros.initialize(repeating: MicroStats())
                defer { micros.deallocate() }
                let minibatch = Array(order[(m * mini)..<((m + 1) * mini)])
                try copies.run(Learner(policy: policy, value: value), count: config.gradientAccumulation, lanes: lanes) { [self] learner, a in
                    micros[a] = try trainMicroBatch(Array(minibatch[(a * micro)..<((a + 1) * micro)]), rollout, learner)
                }
                var s = Stats()
                for (a, one) in micros.enumerated() {
                    if a == 0 && firstRatio.isNaN { firstRatio = one.ratio }
                    ratios.append(Double(one.ratio))
                    let w = 1 / Double(config.gradientAccumulation)
                    s.policyLoss += w * Double(one.policyLoss); s.valueLoss += w * Double(one.valueLoss)
                    s.clipFraction += w * Double(one.clipFraction); s.valueClipFraction += w * Double(one.valueClipFraction)
                    s.approxKL += w * Double(one.approxKL)
                    if let e = one.entropy { s.entropy += w * Double(e) }
                }
                let norm = clipGradientNorm(optimizer.parameters, maxNorm: config.maxGradNorm)
                guard norm.isFinite else {
                    throw RLHFError.nonFinite(step: step + 1, what: "the gradient of \(firstNonFiniteGradient(optimizer.parameters) ?? "a parameter")")
                }
                optimizer.update(learningRate: lr)
                updates += 1
                stats.policyLoss += s.policyLoss; stats.valueLoss += s.valueLoss; stats.clipFraction += s.clipFraction
                stats.valueClipFraction += s.valueClipFraction; stats.approxKL += s.approxKL; stats.entropy += s.entropy
            }
        }
        // Every micro-batch weighs the same, so the mean of their ratios is `val/ratio`; the
        // variance is unbiased, as torch's var(), which TRL calls.
        let meanRatio = ratios.reduce(0, +) / Double(ratios.count)
        let ratioVariance = ratios.count < 2 ? nil : ratios.map { ($0 - meanRatio) * ($0 - meanRatio) }.reduce(0, +) / Double(ratios.count - 1)
        return Stats(policyLoss: stats.policyLoss / updates, valueLoss: stats.valueLoss / updates, clipFraction: stats.clipFraction / updates,
                     valueClipFraction: stats.valueClipFraction / updates, approxKL: stats.approxKL / updates,
                     entropy: stats.entropy / updates, ratio: meanRatio, ratioVariance: ratioVariance)
    }

    /// The policy and critic that learn: the trainer's own, or a lane's copies of them.
    struct Learner {
        let policy: GPT2
        let value: ValueFunction?
        /// In the optimiser's order.
        var parameters: [(String, Tensor)] { policy.parameters + (value?.parameters ?? []) }
    }

    /// One micro-batch's losses and statistics, before they are weighed.
    struct MicroStats {
        var policyLoss: Float = 0, valueLoss: Float = 0, clipFraction: Float = 0, valueClipFraction: Float = 0, approxKL: Float = 0, ratio: Float = 0
        var entropy: Float?
    }

    /// Forward and backward of one micro-batch (`rows` of the rollout) through `learner`, its
    /// gradient scaled by 1 / `gradientAccumulation` and added to the learner's parameters.
    ///
    /// A critic with its own trunk shares nothing with the policy but the rollout, so the two
    /// run side by side (`Parallel.jobs`), each on half the cores, and the one that outlasts the
    /// other takes them all: on two cores a small model's kernels split across both run well
    /// below twice as fast. Each part's backward is seeded with what the summed loss
    /// (policy + vf_coef · value) / gradientAccumulation passes it, so the gradients are the same
    /// to the bit as from one backward of the sum, which a shared critic still takes.
    func trainMicroBatch(_ rows: [Int], _ rollout: PPORollout, _ learner: Learner) throws -> MicroStats {
        let r = rollout.responseLength
        let layout = rollout.packed(rows: rows)
        func constant(_ a: [Float]) -> Tensor { Tensor(rollout.slice(a, rows: rows, width: r), shape: [rows.count * r]) }
        let mask = constant(rollout.mask)
        let share = 1 / Float(config.gradientAccumulation)
        var stats = MicroStats(), valueStats = MicroStats()
        // The clipped surrogate (with GRPO's KL term), and the hidden states a shared critic reads.
        func policyObjective() -> (Tensor, Tensor) {
            let (lp, ent, h) = forward(learner.policy, rollout, rows: rows, layout: layout, entropy: true)
            let loss = PPOLoss(logProbs: lp, oldLogProbs: constant(rollout.logProbs), advantages: constant(rollout.advantages),
                               mask: mask, clipRange: config.clipRange)
            var objective = loss.policyLoss
            if config.advantageEstimator == .grpo && kl.beta > 0 {
                // GRPO's KL term, k3 = e^(ref−π) − (ref−π) − 1 per token: non-negative and
                // unbiased for KL(π‖π_ref) on the policy's own samples.
                let d = constant(rollout.refLogProbs) - lp
                objective = objective + maskedMean(exp(d) - d - 1, mask) * Float(kl.beta)
            }
            stats = MicroStats(policyLoss: loss.policyLoss.item, clipFraction: loss.clipFraction, approxKL: loss.approxKL,
                               ratio: loss.meanRatio, entropy: ent.map { maskedMean($0, mask).item })
            return (objective, h)
        }
        // The critic's clipped value loss times vf_coef (nil without a critic): vf_coef keeps the
        // critic's larger gradients from dominating (a shared trunk, and the norm clipped over both).
        func valueTerm(policyHidden: Tensor?) -> Tensor? {
            guard let critic = learner.value else { return nil }
            let v = critic.values(layout, responseSlots: rows.count * r, policyHidden: policyHidden)
            let (loss, clipped) = PPOLoss.valueLoss(values: v, oldValues: constant(rollout.values), returns: constant(rollout.returns),
                                                    mask: mask, clipRange: config.valueClipRange)
            valueStats.valueLoss = loss.item
            valueStats.valueClipFraction = clipped
            return loss * config.valueCoef
        }
        func finite(_ total: Float) throws {
            guard total.isFinite else {
                throw RLHFError.nonFinite(step: step + 1, what: "the PPO loss (policy \(stats.policyLoss), value \(valueStats.valueLoss))")
            }
        }
        func backward(_ total: Tensor) throws {
            if let op = total.backward(detectAnomaly: false) { throw RLHFError.nonFinite(step: step + 1, what: "the gradient of \(op)") }
        }
        if criticBesidePolicy, learner.value?.trunk != nil {
            // Each part's backward only if it is finite, and the error (the same as for one sum)
            // once both have ended: which part a job saw first must not choose the message.
            var policyTotal = Float.nan, valueTotal = Float.nan
            try Parallel.jobs([
                { let t = policyObjective().0 * share; policyTotal = t.item; if policyTotal.isFinite { try backward(t) } },
                { let t = valueTerm(policyHidden: nil)! * share; valueTotal = t.item; if valueTotal.isFinite { try backward(t) } },
            ])
            try finite(policyTotal + valueTotal)
        } else {
            let (objective, h) = policyObjective()
            // Policy and a shared critic step on one loss: the value loss also moves the trunk.
            let total = (valueTerm(policyHidden: h).map { objective + $0 } ?? objective) * share
            try finite(total.item)
            try backward(total)
        }
        stats.valueLoss = valueStats.valueLoss
        stats.valueClipFraction = valueStats.valueClipFraction
        return stats
    }

    // MARK: - Checkpoints

    /// `checkpoint-last/`: policy (a model folder), critic, optimiser moments, β, step and the
    /// sampling RNG — everything `resume()` needs to continue bit for bit.
    public func saveCheckpoint() throws {
        let state = TrainerState(step: step, optimizerStep: optimizer.step, dataRNG: rng, dropoutRNG: policy.dropoutRNG,
                                 extra: ["beta": kl.beta, "generated_tokens": Double(generatedTokens)]
                                     .merging(timing.map { ("time/\($0.key)", $0.value) }) { a, _ in a },
                                 configuration: runRecord)
        try TrainingCheckpoint.save(to: checkpointURL, state: state, optimizer: optimizer) { dir in
            try policy.save(to: dir, tokenizer: tokenizer)
            try value?.save(in: dir)
        }
    }

    /// Continues from `runDirectory/checkpoint-last`.
    public func resume() throws {
        let state = try TrainingCheckpoint.load(from: checkpointURL, optimizer: optimizer, configuration: runRecord, names: settingNames,
                                                ignoring: PPOTrainer.extendable(config))
        guard state.step <= config.steps else {
            throw RLHFError.invalidFile(path: checkpointURL.path, message: "holds step \(state.step), past the run's \(config.steps) iterations: a run can be continued to more iterations, not fewer")
        }
        let loaded = try GPT2.load(directory: checkpointURL)
        policy.copyWeights(from: loaded)
        try value?.load(from: checkpointURL)
        step = state.step
        rng = state.dataRNG
        policy.dropoutRNG = state.dropoutRNG  // unused while RL keeps dropout off; restored for exactness
        kl.restore(beta: state.extra["beta"] ?? kl.beta)
        generatedTokens = Int(state.extra["generated_tokens"] ?? 0)
        // The time split and tokens/s cover the whole run, not just the part after the resume.
        for (k, v) in state.extra where k.hasPrefix("time/") { timing[String(k.dropFirst(5))] = v }
    }

    /// Writes the final policy (with tokenizer) and critic to `runDirectory`.
    public func saveFinal() throws {
        try policy.save(to: runDirectory, tokenizer: tokenizer)
        try value?.save(in: runDirectory)
    }

    // MARK: - Helpers

    func perRowSum(_ rollout: PPORollout, _ perToken: [Float]) -> [Double] { perRowSum(rollout, perToken.map(Double.init)) }

    func perRowSum(_ rollout: PPORollout, _ perToken: [Double]) -> [Double] {
        (0..<rollout.batch).map { b in
            (0..<rollout.responseLengths[b]).reduce(0.0) { $0 + perToken[b * rollout.responseLength + $1] }
        }
    }

    func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
}
