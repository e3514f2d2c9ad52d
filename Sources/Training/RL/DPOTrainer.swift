import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// Direct Preference Optimisation (Rafailov et al. 2023) in the manner of TRL's `DPOTrainer`:
/// straight from preference pairs, no reward model, no rollouts. Each step, top to bottom:
///
/// 1. a minibatch of pairs: prompt + chosen + EOS and prompt + rejected + EOS, one forward pass;
/// 2. sequence log-probabilities of the completion tokens (prompt tokens masked) under the policy;
/// 3. the loss of `DPOLoss` against the reference's log-probabilities, computed once up front
///    (the reference is frozen, so recomputing them every step would only cost time);
/// 4. clip the global gradient norm, AdamW step; log TRL's metrics; checkpoint.
///
/// Held out: loss, implicit-reward accuracy and margin every `evalEvery` steps, and the KL of
/// the policy from the reference on responses the policy samples for held-out prompts — the
/// quantity PPO constrains explicitly and DPO only implicitly, so the two can be compared.
/// Dropout is off (TRL's `disable_dropout`): with it the policy's log-probabilities at step 0
/// would differ from the reference's and the implicit rewards would start from noise.
public final class DPOTrainer {
    public struct Config: Codable, Equatable, Sendable {
        /// β: the strength of the implicit KL constraint (TRL `beta`).
        public var beta: Double = 0.1
        public var loss: DPOLossType = .sigmoid
        /// ε of conservative (`sigmoid`) and `robust` DPO: the assumed share of flipped labels.
        public var labelSmoothing: Double = 0
        public var epochs = 1
        /// Pairs per optimiser step.
        public var batchSize = 8
        public var learningRate: Float = 1e-6
        public var warmupSteps = 0
        public var decay: LearningRateSchedule.Decay = .linear
        public var weightDecay: Float = 0
        public var maxGradNorm: Float = 1
        public var evalEvery = 25
        public var checkpointEvery = 100
        /// Held-out prompts sampled (temperature 1) to measure KL(policy ‖ reference).
        public var klPrompts = 64
        public var klMaxNewTokens = 64
        public var seed: UInt64 = 0
        public init() {}

        public func validate() throws {
            func bad(_ m: String) -> RLHFError { .invalidArgument(m) }
            guard beta > 0, beta.isFinite else { throw bad("--beta must be positive, got \(beta)") }
            guard labelSmoothing >= 0, labelSmoothing < 0.5 else { throw bad("--label-smoothing must be in [0, 0.5), got \(labelSmoothing)") }
            guard loss != .ipo || labelSmoothing == 0 else { throw bad("--label-smoothing has no meaning for --loss ipo") }
            guard epochs > 0 else { throw bad("--num-train-epochs must be positive, got \(epochs)") }
            guard batchSize > 0 else { throw bad("--batch-size must be positive, got \(batchSize)") }
            guard learningRate > 0, learningRate.isFinite else { throw bad("--learning-rate must be positive, got \(learningRate)") }
            guard evalEvery > 0, checkpointEvery > 0 else { throw bad("--eval-every and --save-every must be positive") }
            guard klPrompts >= 0, klMaxNewTokens > 0 else { throw bad("--kl-prompts must be ≥ 0 and --kl-max-new-tokens positive") }
        }
    }

    /// One tokenised pair with the reference's summed log-probabilities of both completions.
    public struct Pair: Sendable {
        public let prompt: String
        public let chosen: [Int32], rejected: [Int32]
        /// Index of the first completion token in each sequence (the prompt's length).
        public let chosenStart: Int, rejectedStart: Int
        public var referenceChosen: Float = 0, referenceRejected: Float = 0
    }

    public let policy: GPT2
    public let reference: GPT2
    public let tokenizer: BPETokenizer
    public let config: Config
    public let runDirectory: URL
    public let optimizer: AdamW
    let schedule: LearningRateSchedule
    public private(set) var train: [Pair]
    public private(set) var heldOut: [Pair]
    /// Pairs cut to fit the context (prompt start dropped, completion end dropped).
    public let truncatedPairs: Int
    public private(set) var step = 0
    public var label = "dpo"
    /// The last held-out evaluation, for callers (the demo's report, tests).
    public private(set) var lastEval: [String: Double] = [:]
    /// What the checkpoints record and a resume must match: the config, the starting and the
    /// reference weights, and the training pairs.
    let runRecord: JSONValue

    public var stepsPerEpoch: Int { (train.count + config.batchSize - 1) / config.batchSize }
    public var totalSteps: Int { stepsPerEpoch * config.epochs }
    var checkpointURL: URL { runDirectory.appendingPathComponent(TrainingCheckpoint.folderName) }
    var metricsURL: URL { runDirectory.appendingPathComponent("metrics.jsonl") }

    /// - Parameters: `reference` is the frozen starting point (usually the SFT model the policy
    ///   was copied from); its log-probabilities of every pair are computed here, once.
    public init(policy: GPT2, reference: GPT2, tokenizer: BPETokenizer, train trainRecords: [PreferenceRecord],
                heldOut heldOutRecords: [PreferenceRecord], config: Config, runDirectory: URL) throws {
        try config.validate()
        guard !trainRecords.isEmpty else { throw RLHFError.invalidArgument("DPO needs at least one training pair") }
        guard config.klPrompts == 0 || config.klMaxNewTokens < policy.config.nPositions else {
            throw RLHFError.invalidArgument("--kl-max-new-tokens \(config.klMaxNewTokens) leaves no room for a prompt in a context of \(policy.config.nPositions)")
        }
        self.policy = policy
        self.reference = reference
        self.tokenizer = tokenizer
        self.config = config
        self.runDirectory = runDirectory
        // Written only when on: the demo's lanes share the reference (its SFT model) read-only.
        for m in [policy, reference] where m.training { m.training = false }
        var truncated = 0
        func tokenise(_ records: [PreferenceRecord]) -> [Pair] {
            // SFTData's layout (prompt, completion, EOS; long pairs keep the prompt's end), so a
            // DPO model sees exactly what SFT taught it, EOS included; one prompt cut for both
            // answers, since DPO compares two answers to the same request.
            let eos = Int32(tokenizer.eosTokenID ?? 0)
            return records.map { r in
                let f = SFTData.fit(prompt: tokenizer.encodeIDs(r.prompt),
                                    completions: [tokenizer.encodeIDs(r.chosen) + [eos], tokenizer.encodeIDs(r.rejected) + [eos]],
                                    contextLength: policy.config.nPositions)
                if f.cut { truncated += 1 }
                return Pair(prompt: r.prompt, chosen: f.prompt + f.completions[0], rejected: f.prompt + f.completions[1],
                            chosenStart: f.prompt.count, rejectedStart: f.prompt.count)
            }
        }
        train = tokenise(trainRecords)
        heldOut = tokenise(heldOutRecords)
        truncatedPairs = truncated
        optimizer = AdamW(parameters: policy.parameters, hyper: .init(learningRate: config.learningRate, weightDecay: config.weightDecay))
        schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps,
                                        totalSteps: (trainRecords.count + config.batchSize - 1) / config.batchSize * config.epochs,
                                        decay: config.decay, minRatio: 0)
        func fingerprint(_ pairs: [Pair]) -> JSONValue {
            var f = Fingerprint()
            for p in pairs { f.mix(ids: p.chosen); f.mix(0xC4); f.mix(ids: p.rejected); f.mix(UInt64(p.chosenStart) << 32 | UInt64(p.rejectedStart)) }
            return f.json
        }
        runRecord = try TrainingCheckpoint.recorded(config, adding: [
            "initial_weights": TrainingCheckpoint.weights(policy.parameters),
            "reference_weights": TrainingCheckpoint.weights(reference.parameters),
            "train_data": fingerprint(train),
            // Its held-out metrics continue the run's curve: another --eval-data would break it.
            // (Checkpoints written before this field are not checked for it.)
            "eval_data": fingerprint(heldOut),
        ])
        train = fillReference(train)
        heldOut = fillReference(heldOut)
    }

    func fillReference(_ pairs: [Pair]) -> [Pair] {
        guard !pairs.isEmpty else { return pairs }
        let lp = logProbs(reference, pairs[...])
        let n = pairs.count
        return pairs.enumerated().map { i, p in
            var q = p
            q.referenceChosen = lp[i]; q.referenceRejected = lp[n + i]
            return q
        }
    }

    /// Per-pair log-probabilities without gradient, chosen rows then rejected rows.
    func logProbs(_ model: GPT2, _ pairs: ArraySlice<Pair>) -> [Float] {
        var chosen: [Float] = [], rejected: [Float] = []
        for start in stride(from: pairs.startIndex, to: pairs.endIndex, by: 32) {
            let b = pairs[start..<min(start + 32, pairs.endIndex)]
            let lp = withNoGrad { forward(model, b) }
            chosen += (0..<b.count).map { lp[$0] }
            rejected += (0..<b.count).map { lp[b.count + $0] }
        }
        return chosen + rejected
    }

    /// `[2B]` completion log-probabilities (chosen rows first) of a minibatch under `model`;
    /// for IPO the length-averaged ones, as the paper and TRL define its loss.
    func forward(_ model: GPT2, _ pairs: ArraySlice<Pair>) -> Tensor {
        let batch = LanguageModelBatch(sequences: pairs.map(\.chosen) + pairs.map(\.rejected),
                                       lossFrom: pairs.map(\.chosenStart) + pairs.map(\.rejectedStart),
                                       maxLength: model.config.nPositions)
        let lp = model.sequenceLogProbs(batch)
        guard config.loss == .ipo else { return lp }
        let counts = batch.predictedTokensPerSequence.map { Float(max($0, 1)) }
        return lp * Tensor(counts.map { 1 / $0 }, shape: [batch.batch])
    }

    func loss(_ lp: Tensor, _ pairs: ArraySlice<Pair>) -> DPOLoss {
        let b = pairs.count
        return DPOLoss(policyChosen: lp.rows(0, b), policyRejected: lp.rows(b, b),
                       referenceChosen: Tensor(pairs.map(\.referenceChosen), shape: [b]),
                       referenceRejected: Tensor(pairs.map(\.referenceRejected), shape: [b]),
                       beta: Float(config.beta), type: config.loss, labelSmoothing: Float(config.labelSmoothing))
    }

    /// The pairs of step `s`: epoch e's permutation is drawn from (seed, e), so a resumed run
    /// needs nothing but the step to continue in the same order.
    func batch(at s: Int) -> ArraySlice<Pair> {
        let epoch = s / stepsPerEpoch, offset = (s % stepsPerEpoch) * config.batchSize
        var r = RNG(seed: config.seed, index: UInt64(epoch), stream: 41)
        var order = Array(0..<train.count)
        for a in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(a, r.below(a + 1)) }
        return order[offset..<min(offset + config.batchSize, order.count)].map { train[$0] }[...]
    }

    // MARK: - The loop

    /// Runs to `totalSteps` (or `stopAt`). NaN/Inf stops with the step and the cause; the last
    /// checkpoint stays intact.
    public func train(stopAt: Int? = nil) throws {
        // The log holds the steps up to where this run starts, then what it writes: a run begun
        // again in the same folder, or resumed, never repeats a step.
        try Metrics.truncate(metricsURL, afterStep: step)
        let metrics = try Metrics(metricsURL)
        let progress = Progress(label, total: totalSteps, unit: "step", startingAt: step)
        if step == 0 {
            let e = try evaluate()
            try metrics.append(e.merging(["step": 0]) { a, _ in a })
        }
        let end = min(totalSteps, stopAt ?? totalSteps)
        while step < end {
            let pairs = batch(at: step)
            optimizer.zeroGrad()
            let lp = forward(policy, pairs)
            let d = loss(lp, pairs)
            guard d.loss.item.isFinite else { throw RLHFError.nonFinite(step: step + 1, what: "the DPO loss") }
            if let op = d.loss.backward(detectAnomaly: false) { throw RLHFError.nonFinite(step: step + 1, what: "the gradient of \(op)") }
            let norm = clipGradientNorm(optimizer.parameters, maxNorm: config.maxGradNorm)
            guard norm.isFinite else {
                throw RLHFError.nonFinite(step: step + 1, what: "the gradient of \(firstNonFiniteGradient(optimizer.parameters) ?? "a parameter")")
            }
            let lr = schedule.rate(at: step)
            optimizer.update(learningRate: lr)
            step += 1

            let b = pairs.count
            var record: [String: Double] = [
                "step": Double(step), "epoch": Double(step) / Double(stepsPerEpoch), "loss": Double(d.loss.item),
                "rewards/chosen": avg(d.chosenRewards), "rewards/rejected": avg(d.rejectedRewards),
                "rewards/accuracies": Double(d.accuracy), "rewards/margins": avg(d.margins),
                "logps/chosen": avg((0..<b).map { lp[$0] }), "logps/rejected": avg((0..<b).map { lp[b + $0] }),
                "lr": Double(lr), "grad_norm": Double(norm),
            ]
            if step % config.evalEvery == 0 || step == totalSteps { record.merge(try evaluate()) { a, _ in a } }
            try metrics.append(record)
            var info = String(format: "loss %.4f acc %.2f margin %+.3f", d.loss.item, d.accuracy, avg(d.margins))
            if let a = lastEval["eval_rewards/accuracies"] { info += String(format: " | eval acc %.3f", a) }
            if let k = lastEval["eval_kl"] { info += String(format: " kl %.3f", k) }
            progress.update(step, info)
            if step % config.checkpointEvery == 0 || step == totalSteps { try saveCheckpoint() }
        }
        progress.finish(lastEval["eval_rewards/accuracies"].map { String(format: "held-out implicit-reward accuracy %.3f", $0) } ?? "")
    }

    /// Held-out DPO loss, implicit-reward accuracy and margin, and KL(policy ‖ reference) on
    /// the policy's own samples for held-out prompts, under TRL's `eval_` names.
    public func evaluate() throws -> [String: Double] {
        var out: [String: Double] = [:]
        if !heldOut.isEmpty {
            let lp = logProbs(policy, heldOut[...])
            let n = heldOut.count
            let d = withNoGrad {
                DPOLoss(policyChosen: Tensor(Array(lp[0..<n]), shape: [n]), policyRejected: Tensor(Array(lp[n...]), shape: [n]),
                        referenceChosen: Tensor(heldOut.map(\.referenceChosen), shape: [n]),
                        referenceRejected: Tensor(heldOut.map(\.referenceRejected), shape: [n]),
                        beta: Float(config.beta), type: config.loss, labelSmoothing: Float(config.labelSmoothing))
            }
            guard d.loss.item.isFinite else { throw RLHFError.nonFinite(step: step, what: "the held-out DPO loss") }
            out = ["eval_loss": Double(d.loss.item), "eval_rewards/accuracies": Double(d.accuracy), "eval_rewards/margins": avg(d.margins),
                   "eval_rewards/chosen": avg(d.chosenRewards), "eval_rewards/rejected": avg(d.rejectedRewards)]
        }
        if config.klPrompts > 0, let k = heldOutKL() { out["eval_kl"] = k }
        lastEval = out
        return out
    }

    /// Mean Σ_t log π − log π_ref over responses the policy samples (temperature 1) for the
    /// first `klPrompts` distinct held-out prompts: a Monte Carlo estimate of KL(π ‖ π_ref).
    /// The sampling stream is seeded by the step, so a resumed run measures the same way.
    func heldOutKL() -> Double? {
        var seen = Set<String>()
        let prompts = (heldOut.isEmpty ? train : heldOut).map(\.prompt).filter { seen.insert($0).inserted }.prefix(config.klPrompts)
        guard !prompts.isEmpty else { return nil }
        let (ids, _) = Sampling.encodePrompts(Array(prompts), tokenizer, context: policy.config.nPositions, maxNewTokens: config.klMaxNewTokens)
        var rng = RNG(seed: config.seed, index: UInt64(step), stream: 43)
        let options = SamplingOptions(temperature: 1, maxNewTokens: config.klMaxNewTokens, eosTokenID: tokenizer.eosTokenID.map(Int32.init))
        var seqs: [[Int32]] = [], starts: [Int] = []
        for start in stride(from: 0, to: ids.count, by: 32) {
            let chunk = Array(ids[start..<min(start + 32, ids.count)])
            let g = policy.generate(prompts: chunk, options: options, rng: &rng)
            for (p, r) in zip(chunk, g.tokens) where !r.isEmpty { seqs.append(p + r); starts.append(p.count) }
        }
        guard !seqs.isEmpty else { return nil }
        let a = policy.completionLogProbs(seqs, completionStart: starts)
        let b = reference.completionLogProbs(seqs, completionStart: starts)
        return zip(a, b).reduce(0) { $0 + $1.0 - $1.1 } / Double(seqs.count)
    }

    // MARK: - Checkpoints

    /// `checkpoint-last/`: the policy (a model folder), AdamW's moments and the step — the data
    /// order and KL sampling are functions of (seed, step), so that is all a resume needs.
    public func saveCheckpoint() throws {
        let state = TrainerState(step: step, optimizerStep: optimizer.step, dataRNG: RNG(seed: config.seed, stream: 41), dropoutRNG: policy.dropoutRNG,
                                 configuration: runRecord)
        try TrainingCheckpoint.save(to: checkpointURL, state: state, optimizer: optimizer) { dir in
            try policy.save(to: dir, tokenizer: tokenizer)
        }
    }

    /// Continues from `runDirectory/checkpoint-last`.
    public func resume() throws {
        let state = try TrainingCheckpoint.load(from: checkpointURL, optimizer: optimizer, configuration: runRecord)
        let loaded = try GPT2.load(directory: checkpointURL)
        policy.copyWeights(from: loaded)
        step = state.step
    }

    /// Writes the final policy, with its tokenizer, to `runDirectory`.
    public func saveFinal() throws { try policy.save(to: runDirectory, tokenizer: tokenizer) }

    func avg(_ x: [Float]) -> Double { x.isEmpty ? .nan : x.reduce(0.0) { $0 + Double($1) } / Double(x.count) }
}
