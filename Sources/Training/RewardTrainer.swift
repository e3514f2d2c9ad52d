import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// Trains a Bradley–Terry reward model on preference pairs: loss −log σ(r_chosen − r_rejected − m)
/// with an optional per-pair margin m, as TRL's RewardTrainer. Chosen and rejected texts of a
/// minibatch go through the trunk together, packed without padding, scored at each one's last
/// token. With a run directory it checkpoints, and `resume()` continues bit for bit.
///
/// Pairs that share a prompt form a group, as InstructGPT's K-wise comparisons do (a rater sees K
/// responses to one prompt, which gives up to K(K−1)/2 pairs): a group is never split across
/// minibatches, and a text that occurs in several pairs of a minibatch goes through the trunk
/// once. So K = 4 responses cost 4 forward and backward passes for 6 pairs instead of 12, and no
/// response is fitted again in a later step of the same epoch, which InstructGPT found made one
/// epoch over shuffled pairs overfit. With one pair per prompt this is plain pair shuffling.
public final class RewardTrainer {
    public struct Config: Codable, Sendable {
        public var epochs = 1
        public var batchSize = 16
        public var learningRate: Float = 1e-4
        public var warmupSteps = 10
        public var weightDecay: Float = 0
        public var maxGradNorm: Float = 1
        public var useMargins = false
        public var seed: UInt64 = 0
        /// Steps between checkpoints (with a run directory); every epoch's end is one too.
        public var checkpointEvery = 100
        public init() {}
    }

    /// One tokenised pair: prompt + chosen and prompt + rejected, with their margin and the index
    /// of its prompt among the distinct prompts of its list (pairs of one prompt share it).
    public struct Pair {
        public let chosen: [Int32]
        public let rejected: [Int32]
        public let margin: Float
        public let group: Int

        public init(chosen: [Int32], rejected: [Int32], margin: Float = 0, group: Int) {
            self.chosen = chosen; self.rejected = rejected; self.margin = margin; self.group = group
        }
    }

    public let model: RewardModel
    public let config: Config
    public let optimizer: AdamW
    /// Where `checkpoint-last/` goes; nil for no checkpoints.
    public let runDirectory: URL?
    /// The tokenizer saved with checkpoints, so a checkpoint is a model folder of its own.
    public var tokenizer: BPETokenizer?
    public private(set) var step = 0
    /// What fixes the run's plan of minibatches and its schedule (the flags and the training
    /// pairs), saved with each checkpoint: a resume with other data or flags would continue a
    /// plan that is not the one it started, so `train` refuses it.
    private var runRecord: JSONValue?
    private var resumedRecord: JSONValue?
    /// The model's weights as given, before any training or resume: the run's starting point.
    private let initialWeights: JSONValue
    /// What a refused resume calls each field of `config` (for example "--lr" for
    /// `learningRate`); fields not named here go by their own names.
    public var settingNames: [String: String] = [:]
    /// Called after each epoch with (epoch, held-out accuracy, held-out loss).
    public var onEpoch: ((Int, Double, Double) -> Void)?

    public init(model: RewardModel, config: Config, runDirectory: URL? = nil) {
        self.model = model
        self.config = config
        self.runDirectory = runDirectory
        optimizer = AdamW(parameters: model.parameters, hyper: .init(learningRate: config.learningRate, weightDecay: config.weightDecay))
        initialWeights = TrainingCheckpoint.weights(model.parameters)
    }

    /// Tokenises preferences as `model` reads them (`RewardModel.sequence`: prompt + response
    /// encoded as one text, EOS appended when it `appendsEOS`, cut from the left to its context,
    /// each cut text counted in `truncated`). Records with the same prompt text get the same `group`.
    public static func pairs(_ records: [PreferenceRecord], for model: RewardModel, tokenizer: BPETokenizer, truncated: inout Int) -> [Pair] {
        var groups: [String: Int] = [:]
        return records.map { r in
            func read(_ response: String) -> [Int32] { model.sequence(tokenizer.encodeIDs(r.prompt + response), truncated: &truncated) }
            let group = groups[r.prompt] ?? groups.count
            groups[r.prompt] = group
            return Pair(chosen: read(r.chosen), rejected: read(r.rejected), margin: Float(r.margin ?? 0), group: group)
        }
    }

    /// Minibatches of whole prompt groups, `batchSize` pairs at most (a larger group is a
    /// minibatch of its own), groups in the order `groupOrder` gives (indices into the distinct
    /// groups of `pairs`, in order of first appearance).
    static func minibatches(_ pairs: [Pair], groupOrder: [Int], batchSize: Int) -> [[Int]] {
        var members: [Int: [Int]] = [:]
        var firstSeen: [Int] = []
        for (i, p) in pairs.enumerated() {
            if members[p.group] == nil { firstSeen.append(p.group) }
            members[p.group, default: []].append(i)
        }
        var batches: [[Int]] = [], current: [Int] = []
        for g in groupOrder {
            let m = members[firstSeen[g]]!
            if !current.isEmpty && current.count + m.count > batchSize { batches.append(current); current = [] }
            current += m
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// Number of distinct prompt groups in `pairs`.
    static func groupCount(_ pairs: [Pair]) -> Int { Set(pairs.map(\.group)).count }

    /// Scores of each pair's chosen and rejected text, `[B]` each, with gradient when enabled.
    /// Each distinct text of the minibatch goes through the trunk once.
    func scores(_ batch: ArraySlice<Pair>) -> (chosen: Tensor, rejected: Tensor) {
        var row: [[Int32]: Int] = [:]
        var seqs: [[Int32]] = []
        func index(_ s: [Int32]) -> Int {
            if let r = row[s] { return r }
            row[s] = seqs.count
            seqs.append(s)
            return seqs.count - 1
        }
        // Every chosen text first, then every rejected one: with no repeats this is the layout
        // (and so the arithmetic) of scoring the pairs one by one.
        let c = batch.map { index($0.chosen) }, r = batch.map { index($0.rejected) }
        let s = model.scores(seqs).reshaped([seqs.count, 1])
        return (s.gatherRows(c).reshaped([batch.count]), s.gatherRows(r).reshaped([batch.count]))
    }

    /// Held-out accuracy (chosen scored above rejected) and mean loss.
    public func evaluate(_ pairs: [Pair]) -> (accuracy: Double, loss: Double) {
        guard !pairs.isEmpty else { return (.nan, .nan) }
        return model.trunk.withDropoutOff {
            var correct = 0, loss = 0.0
            for start in stride(from: 0, to: pairs.count, by: config.batchSize) {
                let b = pairs[start..<min(start + config.batchSize, pairs.count)]
                let s = withNoGrad { scores(b) }
                for i in 0..<b.count {
                    let d = Double(s.chosen[i] - s.rejected[i])
                    if d > 0 { correct += 1 }
                    loss += Foundation.log(1 + Foundation.exp(-d))
                }
            }
            return (Double(correct) / Double(pairs.count), loss / Double(pairs.count))
        }
    }

    /// Trains for `config.epochs` over `train`, evaluating on `eval` after each epoch, from
    /// `step` (0, or where `resume()` left it) up to the end or to `stopAt` steps.
    /// - Returns: the last epoch's held-out accuracy and loss (NaN without `eval`, or when it
    ///   stopped before an epoch ended).
    @discardableResult
    public func train(_ train: [Pair], eval: [Pair], metrics: Metrics?, stopAt: Int? = nil) throws -> (accuracy: Double, loss: Double) {
        // Every epoch's minibatches are laid out first, from a fresh shuffle of the groups each:
        // with groups of unequal size their number varies, and the schedule needs the total.
        // The plan is a function of the seed alone, so a resumed run needs only the step.
        let groups = RewardTrainer.groupCount(train)
        var rng = RNG(seed: config.seed, stream: 4)
        let plan = (0..<config.epochs).map { _ in
            var order = Array(0..<groups)
            order.shuffle(using: &rng)
            return RewardTrainer.minibatches(train, groupOrder: order, batchSize: config.batchSize)
        }
        let total = plan.map(\.count).reduce(0, +)
        let record = try record(train)
        try checkResumable(record: record)
        runRecord = record
        let epochEnds = plan.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.count) }
        let schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps, totalSteps: total, decay: .linear, minRatio: 0)
        let progress = Progress("reward", total: total, unit: "step", startingAt: step)
        model.trunk.training = true
        defer { model.trunk.training = false }
        var last = (accuracy: Double.nan, loss: Double.nan)
        let end = min(total, stopAt ?? total)
        while step < end {
            let epoch = epochEnds.firstIndex { step < $0 }!
            let batch = plan[epoch][step - (epoch == 0 ? 0 : epochEnds[epoch - 1])].map { train[$0] }
            let b = batch.count
            optimizer.zeroGrad()
            let s = scores(batch[...])
            let diff = s.chosen - s.rejected
            let margins = Tensor(batch.map { config.useMargins ? $0.margin : 0 }, shape: [b])
            let loss = mean(-logSigmoid(diff - margins))
            guard loss.item.isFinite else { throw RLHFError.nonFinite(step: step, what: "the reward loss") }
            loss.backward()
            let norm = clipGradientNorm(optimizer.parameters, maxNorm: config.maxGradNorm)
            guard norm.isFinite else {
                throw RLHFError.nonFinite(step: step, what: "the gradient of \(firstNonFiniteGradient(optimizer.parameters) ?? "a parameter")")
            }
            optimizer.update(learningRate: schedule.rate(at: step))
            step += 1
            var acc = 0
            for i in 0..<b where diff[i] > 0 { acc += 1 }
            try metrics?.append(["step": Double(step), "loss": Double(loss.item), "accuracy": Double(acc) / Double(b), "grad_norm": Double(norm)])
            progress.update(step, String(format: "loss %.3f", loss.item))
            let endsEpoch = step == epochEnds[epoch]
            if endsEpoch, !eval.isEmpty {
                let (acc, l) = evaluate(eval)
                try metrics?.append(["step": Double(step), "epoch": Double(epoch + 1), "eval_accuracy": acc, "eval_loss": l])
                onEpoch?(epoch + 1, acc, l)
                last = (acc, l)
                model.trunk.training = true
            }
            // After the epoch's evaluation, so a resume never skips one.
            if endsEpoch || step % config.checkpointEvery == 0 { try saveCheckpoint() }
        }
        progress.finish()
        return last
    }

    // MARK: - Checkpoints

    var checkpointURL: URL? { runDirectory?.appendingPathComponent(TrainingCheckpoint.folderName) }

    /// `checkpoint-last/`: the reward model (a model folder), AdamW's moments, the step and the
    /// dropout stream; nothing without a run directory.
    public func saveCheckpoint() throws {
        guard let checkpointURL else { return }
        let state = TrainerState(step: step, optimizerStep: optimizer.step, dataRNG: RNG(seed: config.seed, stream: 4), dropoutRNG: model.trunk.dropoutRNG,
                                 configuration: runRecord)
        try TrainingCheckpoint.save(to: checkpointURL, state: state, optimizer: optimizer) { dir in
            try model.save(to: dir, tokenizer: tokenizer)
        }
    }

    /// Whether the run directory holds a checkpoint to `resume()` from.
    public var hasCheckpoint: Bool {
        checkpointURL.map { FileManager.default.fileExists(atPath: $0.path) } ?? false
    }

    /// What fixes a run's plan of minibatches and its schedule: the config, and the training
    /// pairs (their count, tokens and a 52-bit FNV-1a hash of their ids, margins and groups,
    /// so that relabelled data of the same size differs too; 52 bits survive JSON's doubles).
    func record(_ train: [Pair]) throws -> JSONValue {
        var data = Fingerprint()
        for p in train {
            data.mix(ids: p.chosen); data.mix(0xC4); data.mix(ids: p.rejected)
            data.mix(UInt64(p.margin.bitPattern)); data.mix(UInt64(p.group))
        }
        return try TrainingCheckpoint.recorded(config, adding: [
            "train_pairs": .number(Double(train.count)),
            "train_tokens": .number(Double(train.reduce(0) { $0 + $1.chosen.count + $1.rejected.count })),
            "train_hash": data.json,
            // Named, so that a resume with the other choice is refused by its flag, not only
            // by the hash of the tokens it changes.
            "appends_eos": .bool(model.appendsEOS),
            "initial_weights": initialWeights,
        ])
    }

    /// Throws if `resume()` loaded a checkpoint made with other flags or training pairs than
    /// `train` and this trainer's config (checked by `train` too; callable first, before
    /// anything is written). Checkpoints written before records existed have none, and are
    /// trusted.
    public func checkResumable(_ train: [Pair]) throws {
        try checkResumable(record: try record(train))
    }

    private func checkResumable(record: JSONValue) throws {
        guard let checkpointURL else { return }
        try TrainingCheckpoint.check(saved: resumedRecord, now: record, checkpoint: checkpointURL, names: settingNames)
    }

    /// Continues from `runDirectory/checkpoint-last`: the next `train` call with the same pairs
    /// and config goes on from its step, as if never stopped.
    public func resume() throws {
        guard let checkpointURL else { throw RLHFError.invalidArgument("the reward trainer has no run directory to resume from") }
        let loaded = try RewardModel.load(directory: checkpointURL)
        model.trunk.copyWeights(from: loaded.trunk)
        model.scoreWeight.assign(loaded.scoreWeight)
        let state = try TrainingCheckpoint.load(from: checkpointURL, optimizer: optimizer)
        step = state.step
        model.trunk.dropoutRNG = state.dropoutRNG
        resumedRecord = state.configuration
    }

    /// Mean and standard deviation of the model's scores on `sequences` (the SFT policy's own
    /// samples), stored with the checkpoint so RL can normalise rewards.
    public func setNormalization(from sequences: [[Int32]]) {
        let s = model.score(sequences).map(Double.init)
        let m = s.reduce(0, +) / Double(max(s.count, 1))
        let v = s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(s.count - 1, 1))
        model.normalization = (m, max(v.squareRoot(), 1e-6))
    }
}
