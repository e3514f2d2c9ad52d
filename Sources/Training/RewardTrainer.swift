import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// Trains a Bradley–Terry reward model on preference pairs: loss −log σ(r_chosen − r_rejected − m)
/// with an optional per-pair margin m, as TRL's RewardTrainer. Chosen and rejected texts of a
/// minibatch go through the trunk together, right-padded, scored at each one's last real token.
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
        public init() {}
    }

    /// One tokenised pair: prompt + chosen and prompt + rejected, with their margin.
    public struct Pair {
        public let chosen: [Int32]
        public let rejected: [Int32]
        public let margin: Float
    }

    public let model: RewardModel
    public let config: Config
    public let optimizer: AdamW
    public private(set) var step = 0
    /// Called after each epoch with (epoch, held-out accuracy, held-out loss).
    public var onEpoch: ((Int, Double, Double) -> Void)?

    public init(model: RewardModel, config: Config) {
        self.model = model
        self.config = config
        optimizer = AdamW(parameters: model.parameters, hyper: .init(learningRate: config.learningRate, weightDecay: config.weightDecay))
    }

    /// Tokenises preferences; pairs longer than `maxLength` keep the prompt's end.
    public static func pairs(_ records: [PreferenceRecord], tokenizer: BPETokenizer, maxLength: Int) -> [Pair] {
        records.map { r in
            let p = tokenizer.encodeIDs(r.prompt)
            func fit(_ c: [Int32]) -> [Int32] {
                let seq = p + c
                return seq.count <= maxLength ? seq : Array(seq.suffix(maxLength))
            }
            return Pair(chosen: fit(tokenizer.encodeIDs(r.chosen)), rejected: fit(tokenizer.encodeIDs(r.rejected)), margin: Float(r.margin ?? 0))
        }
    }

    /// Scores `[2B]` (chosen rows first) of a minibatch, with gradient when enabled.
    func scores(_ batch: ArraySlice<Pair>) -> Tensor {
        let seqs = batch.map(\.chosen) + batch.map(\.rejected)
        let t = seqs.map(\.count).max()!
        var ids = [Int32](repeating: 0, count: seqs.count * t)
        for (i, s) in seqs.enumerated() { for (j, id) in s.enumerated() { ids[i * t + j] = id } }
        return model.scores(ids: ids, batch: seqs.count, length: t, lengths: seqs.map(\.count))
    }

    /// Held-out accuracy (chosen scored above rejected) and mean loss.
    public func evaluate(_ pairs: [Pair]) -> (accuracy: Double, loss: Double) {
        guard !pairs.isEmpty else { return (.nan, .nan) }
        let was = model.trunk.training
        model.trunk.training = false
        defer { model.trunk.training = was }
        var correct = 0, loss = 0.0
        for start in stride(from: 0, to: pairs.count, by: config.batchSize) {
            let b = pairs[start..<min(start + config.batchSize, pairs.count)]
            let s = withNoGrad { scores(b) }
            for i in 0..<b.count {
                let d = Double(s[i] - s[b.count + i])
                if d > 0 { correct += 1 }
                loss += Foundation.log(1 + Foundation.exp(-d))
            }
        }
        return (Double(correct) / Double(pairs.count), loss / Double(pairs.count))
    }

    public func train(_ train: [Pair], eval: [Pair], metrics: Metrics?) throws {
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        let total = stepsPerEpoch * config.epochs
        let schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps, totalSteps: total, decay: .linear, minRatio: 0)
        var rng = RNG(seed: config.seed, stream: 4)
        let progress = Progress("reward", total: total, unit: "step")
        model.trunk.training = true
        defer { model.trunk.training = false }
        for epoch in 1...config.epochs {
            var order = Array(train.indices)
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: order.count, by: config.batchSize) {
                let batch = order[start..<min(start + config.batchSize, order.count)].map { train[$0] }
                let b = batch.count
                optimizer.zeroGrad()
                let s = scores(batch[...])
                let diff = s.rows(0, b) - s.rows(b, b)
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
            }
            let (acc, l) = evaluate(eval)
            try metrics?.append(["step": Double(step), "epoch": Double(epoch), "eval_accuracy": acc, "eval_loss": l])
            onEpoch?(epoch, acc, l)
            model.trunk.training = true
        }
        progress.finish()
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
