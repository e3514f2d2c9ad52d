import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// Hyper-parameters of a pretraining or SFT run (saved as the run's `config.json`).
public struct LanguageModelTrainingConfig: Codable, Sendable {
    public var steps = 1000
    public var batchSize = 16
    /// Micro-batches accumulated into one optimiser step (effective batch = batchSize × this).
    public var gradientAccumulation = 1
    public var contextLength = 128
    public var learningRate: Float = 1e-3
    public var warmupSteps = 50
    public var decay: LearningRateSchedule.Decay = .cosine
    public var minLearningRateRatio: Float = 0.1
    public var weightDecay: Float = 0.1
    public var maxGradNorm: Float = 1
    public var evalEvery = 100
    public var checkpointEvery = 200
    public var seed: UInt64 = 0

    public init() {}
}

/// Where training batches come from: random windows of a token stream (pretraining) or
/// shuffled examples with masked prompts (SFT). Draws only from the RNG it is given, so the
/// trainer's saved RNG state reproduces the data order on resume.
public protocol BatchSource {
    func next(_ rng: inout RNG) -> LanguageModelBatch
    /// The data's fingerprint (`Fingerprint`), recorded in checkpoints: a resume on other data is refused.
    var fingerprint: JSONValue { get }
}

/// nanoGPT-style pretraining data: every document encoded and joined with EOS into one stream,
/// batches of random `contextLength + 1` windows.
public struct TokenStream: BatchSource {
    public let tokens: [Int32]
    public let batchSize: Int, contextLength: Int

    public init(tokens: [Int32], batchSize: Int, contextLength: Int) throws {
        guard tokens.count > contextLength + 1 else {
            throw RLHFError.invalidArgument("the corpus has \(tokens.count) tokens, fewer than one window of \(contextLength + 1)")
        }
        self.tokens = tokens; self.batchSize = batchSize; self.contextLength = contextLength
    }

    public func next(_ rng: inout RNG) -> LanguageModelBatch {
        let windows = (0..<batchSize).map { _ -> [Int32] in
            let start = rng.below(tokens.count - contextLength - 1)
            return Array(tokens[start..<start + contextLength + 1])
        }
        return LanguageModelBatch(windows: windows)
    }

    public var fingerprint: JSONValue {
        var f = Fingerprint()
        f.mix(ids: tokens)
        return f.json
    }
}

/// SFT data: (prompt, completion + EOS) examples, each batch drawn uniformly at random with
/// replacement (a step counts as a step, not a share of an epoch; a batch may repeat an
/// example); loss on completion only.
public struct ExampleBatches: BatchSource {
    public let examples: [(ids: [Int32], completionStart: Int)]
    public let batchSize: Int, contextLength: Int

    public init(examples: [(ids: [Int32], completionStart: Int)], batchSize: Int, contextLength: Int) {
        self.examples = examples; self.batchSize = batchSize; self.contextLength = contextLength
    }

    public func next(_ rng: inout RNG) -> LanguageModelBatch {
        let picked = (0..<batchSize).map { _ in examples[rng.below(examples.count)] }
        return LanguageModelBatch(sequences: picked.map(\.ids), lossFrom: picked.map(\.completionStart),
                                  maxLength: contextLength)
    }

    public var fingerprint: JSONValue {
        var f = Fingerprint()
        for e in examples { f.mix(ids: e.ids); f.mix(UInt64(e.completionStart) | 1 << 40) }
        return f.json
    }
}

/// The training loop shared by `rlhf pretrain` and `rlhf sft`, top to bottom: sample a batch,
/// forward, backward, clip, step; evaluate and checkpoint on schedule; resume exactly.
public final class LanguageModelTrainer {
    public let model: GPT2
    public let tokenizer: BPETokenizer
    public let config: LanguageModelTrainingConfig
    public let runDirectory: URL
    public let optimizer: AdamW
    let schedule: LearningRateSchedule
    let source: BatchSource
    let evalBatches: [LanguageModelBatch]
    var dataRNG: RNG
    public private(set) var step = 0
    /// Name printed on the progress bar ("pretrain", "sft").
    public var label = "train"
    public private(set) var lastEvalLoss: Double?
    /// Copies of the model over which a step's `gradientAccumulation` micro-batches are spread,
    /// side by side (`MicroBatchLanes`, which says why). The arithmetic depends on `lanes` and
    /// never on how many cores run them.
    public var lanes = 1
    private lazy var copies = MicroBatchLanes<GPT2>(copy: { [config = model.config] in GPT2(config: config) }, parameters: \.parameters)
    /// What the checkpoints record and a resume must match: the config, the model's shape, its
    /// starting weights (the given model as it is at `init`) and the training data.
    private let startRecord: JSONValue
    /// What a refused resume calls each field of `config` (for example "--lr" for
    /// `learningRate`); fields not named here go by their own names.
    public var settingNames: [String: String] = [:]
    /// `startRecord` with the lanes, which change the arithmetic (and so the run) but are set
    /// after `init`.
    var runRecord: JSONValue {
        guard case .object(var fields) = startRecord else { return startRecord }
        fields["lanes"] = .number(Double(lanes))
        return .object(fields)
    }

    public init(model: GPT2, tokenizer: BPETokenizer, config: LanguageModelTrainingConfig, source: BatchSource,
                evalBatches: [LanguageModelBatch], runDirectory: URL) {
        self.model = model; self.tokenizer = tokenizer; self.config = config; self.source = source
        self.evalBatches = evalBatches; self.runDirectory = runDirectory
        optimizer = AdamW(parameters: model.parameters,
                          hyper: .init(learningRate: config.learningRate, weightDecay: config.weightDecay))
        schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps,
                                        totalSteps: config.steps, decay: config.decay, minRatio: config.minLearningRateRatio)
        dataRNG = RNG(seed: config.seed, stream: 2)
        model.dropoutRNG = RNG(seed: config.seed, stream: 11)
        startRecord = (try? TrainingCheckpoint.recorded(config, adding: [
            "model": TrainingCheckpoint.shape(model.config),
            "initial_weights": TrainingCheckpoint.weights(model.parameters),
            "train_data": source.fingerprint,
        ])) ?? .null
    }

    var checkpointURL: URL { runDirectory.appendingPathComponent(TrainingCheckpoint.folderName) }
    var metricsURL: URL { runDirectory.appendingPathComponent("metrics.jsonl") }

    /// Restores weights, optimiser and random streams from `DIR/checkpoint-last`.
    public func resume() throws {
        let state = try TrainingCheckpoint.load(from: checkpointURL, optimizer: optimizer, configuration: runRecord, names: settingNames)
        let loaded = try GPT2.load(directory: checkpointURL)
        model.copyWeights(from: loaded)
        step = state.step
        dataRNG = state.dataRNG
        model.dropoutRNG = state.dropoutRNG
    }

    /// Mean NLL per predicted token over the held-out batches.
    public func evaluate() -> Double {
        model.withDropoutOff {
            var total = 0.0, tokens = 0
            for b in evalBatches {
                let (s, n) = model.negativeLogLikelihood(b)
                total += s; tokens += n
            }
            return tokens > 0 ? total / Double(tokens) : .nan
        }
    }

    /// Runs from the current step to `config.steps`. Throws `RLHFError.nonFinite` naming the step
    /// and tensor if a loss or gradient goes NaN/Inf; the last checkpoint is then still intact.
    /// - Parameter stopAt: end early after this step (as an interruption would), leaving the
    ///   run resumable from its last checkpoint.
    public func train(stopAt: Int? = nil) throws {
        // The log holds the steps up to where this run starts, then what it writes: a run begun
        // again in the same folder, or resumed, never repeats a step.
        try Metrics.truncate(metricsURL, afterStep: step)
        let metrics = try Metrics(metricsURL)
        let progress = Progress(label, total: config.steps, unit: "step", startingAt: step)
        model.training = true
        defer { model.training = false }
        var tokensSeen = 0, lastTrainLoss = Float.nan
        let start = Date()
        while step < min(config.steps, stopAt ?? config.steps) {
            let lr = schedule.rate(at: step)
            optimizer.zeroGrad()
            let batches = (0..<config.gradientAccumulation).map { _ in source.next(&dataRNG) }
            let tokens = batches.reduce(0) { $0 + $1.ids.count }
            let lossSum = try accumulateGradients(batches)
            let gradNorm = clipGradientNorm(optimizer.parameters, maxNorm: config.maxGradNorm)
            if !gradNorm.isFinite {
                throw RLHFError.nonFinite(step: step, what: "the gradient of \(firstNonFiniteGradient(optimizer.parameters) ?? "a parameter")")
            }
            optimizer.update(learningRate: lr)
            lastTrainLoss = lossSum
            step += 1
            tokensSeen += tokens
            let rate = Double(tokensSeen) / Date().timeIntervalSince(start)
            var record: [String: Double] = ["step": Double(step), "loss": Double(lossSum), "learning_rate": Double(lr),
                                            "grad_norm": Double(gradNorm), "tokens_per_second": rate]
            if step % config.evalEvery == 0 || step == config.steps, !evalBatches.isEmpty {
                let e = evaluate()
                lastEvalLoss = e
                record["eval_loss"] = e
            }
            try metrics.append(record)
            progress.update(step, String(format: "loss %.3f%@ | %.0f tok/s", lossSum,
                                         lastEvalLoss.map { String(format: " eval %.3f", $0) } ?? "", rate))
            if step % config.checkpointEvery == 0 || step == config.steps {
                try saveCheckpoint()
            }
        }
        // A resumed run that had already finished trains no step, and so evaluated nothing yet.
        if lastEvalLoss == nil, !evalBatches.isEmpty { lastEvalLoss = evaluate() }
        // Nothing held out (--eval-fraction 0): the last step's training loss instead.
        progress.finish(lastEvalLoss.map { String(format: "final eval loss %.3f", $0) } ?? String(format: "final training loss %.3f", lastTrainLoss))
    }

    /// Forward and backward over one step's micro-batches, each loss scaled by 1 / their count,
    /// leaving the summed gradient in `model`'s parameters; returns the summed (mean) loss.
    func accumulateGradients(_ batches: [LanguageModelBatch]) throws -> Float {
        let scale = 1 / Float(batches.count)
        let losses = UnsafeMutableBufferPointer<Float>.allocate(capacity: batches.count)
        defer { losses.deallocate() }
        let step = self.step
        let model = self.model
        // A copy trains as the model does, with a dropout stream drawn from the model's own
        // (saved with checkpoints, so resume holds).
        try copies.run(model, count: batches.count, lanes: lanes, prepare: { copy in
            copy.training = model.training
            copy.dropoutRNG = RNG(seed: model.dropoutRNG.next(), stream: 11)
        }) { lane, i in
            let loss = lane.languageModelLoss(batches[i]) * scale
            guard loss.item.isFinite else { throw RLHFError.nonFinite(step: step, what: "the training loss") }
            if let op = loss.backward(detectAnomaly: false) { throw RLHFError.nonFinite(step: step, what: "the gradient of \(op)") }
            losses[i] = loss.item
        }
        return losses.reduce(0, +)
    }

    public func saveCheckpoint() throws {
        let state = TrainerState(step: step, optimizerStep: optimizer.step, dataRNG: dataRNG, dropoutRNG: model.dropoutRNG,
                                 configuration: runRecord)
        try TrainingCheckpoint.save(to: checkpointURL, state: state, optimizer: optimizer) { dir in
            try model.save(to: dir, tokenizer: tokenizer)
        }
    }
}
