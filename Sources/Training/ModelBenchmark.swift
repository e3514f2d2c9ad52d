import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Models
import Tensors

/// Training and generation throughput of a GPT-2 configuration on random tokens, measured the
/// way the PyTorch peer script (Scripts/bench/pytorch_gpt2.py) measures it: warm-up steps, then
/// timed steps of forward + backward + clip + AdamW.
public enum ModelBenchmark {
    public struct TrainResult: Codable, Sendable {
        public let secondsPerStep: Double
        public let tokensPerSecond: Double
        /// Model FLOPs per second (6·N·tokens + attention), against the measured sgemm rate.
        public let modelGFLOPS: Double
        public let parameters: Int
    }

    /// FLOPs of one training step: 6 per parameter per token (forward 2, backward 4) for the
    /// matrices, plus attention's 12·L·T·C per token (nanoGPT's estimate).
    public static func trainingFLOPs(_ c: GPT2Config, tokens: Int, context: Int) -> Double {
        let n = Double(12 * c.nLayer * c.nEmbd * c.nEmbd + c.vocabSize * c.nEmbd)  // non-embedding + head
        return Double(tokens) * (6 * n + 12 * Double(c.nLayer * context * c.nEmbd))
    }

    /// - Parameter lanes: train each step as this many micro-batches of `batch / lanes` sequences
    ///   on copies of the model side by side (`MicroBatchLanes`), as `rlhf pretrain --grad-accum
    ///   N --lanes N` does: the same sequences and the same mean loss per step as one batch.
    public static func train(config: GPT2Config, batch: Int, context: Int, steps: Int, warmup: Int = 2, lanes: Int = 1) -> TrainResult {
        precondition(lanes >= 1 && batch % lanes == 0, "ModelBenchmark.train: \(lanes) lanes must divide the batch of \(batch)")
        // Dropout off, as in the peer script: both sides do exactly the same arithmetic.
        var config = config
        config.residPdrop = 0; config.embdPdrop = 0; config.attnPdrop = 0
        let model = GPT2(config: config, seed: 1)
        model.training = true
        let opt = AdamW(parameters: model.parameters, hyper: .init(learningRate: 1e-4))
        var rng = RNG(seed: 2)
        let windows = (0..<batch).map { _ in (0...context).map { _ in Int32(rng.below(config.vocabSize)) } }
        let per = batch / lanes
        let micro = (0..<lanes).map { LanguageModelBatch(windows: Array(windows[($0 * per)..<(($0 + 1) * per)])) }
        let copies = MicroBatchLanes<GPT2>(copy: { GPT2(config: config) }, parameters: \.parameters)
        let scale = 1 / Float(lanes)
        func step() {
            opt.zeroGrad()
            try! copies.run(model, count: lanes, lanes: lanes, prepare: { $0.training = true }) { m, i in
                (m.languageModelLoss(micro[i]) * scale).backward()
            }
            clipGradientNorm(opt.parameters, maxNorm: 1)
            opt.update(learningRate: 1e-4)
        }
        for _ in 0..<warmup { step() }
        let t0 = Date()
        for _ in 0..<steps { step() }
        let s = Date().timeIntervalSince(t0) / Double(steps)
        let tokens = batch * context
        return TrainResult(secondsPerStep: s, tokensPerSecond: Double(tokens) / s,
                           modelGFLOPS: trainingFLOPs(config, tokens: tokens, context: context) / s / 1e9, parameters: model.parameterCount)
    }

    /// Peak resident set size of this process so far, in MiB (getrusage's ru_maxrss, as the
    /// Python peers read it with resource.getrusage).
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return .nan }
        return Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return .nan }
        return Double(usage.ru_maxrss) / 1024 / 1024  // bytes on Darwin
        #endif
    }

    /// New tokens per second of batched sampling with the KV cache (prompt of 8 tokens,
    /// `newTokens` generated, no early stop).
    public static func generate(config: GPT2Config, batch: Int, newTokens: Int, repeats: Int = 3) -> Double {
        let model = GPT2(config: config, seed: 1)
        var rng = RNG(seed: 3)
        let prompts = (0..<batch).map { _ in (0..<8).map { _ in Int32(rng.below(config.vocabSize)) } }
        let options = SamplingOptions(temperature: 1, maxNewTokens: newTokens, eosTokenID: nil)
        _ = model.generate(prompts: prompts, options: options, rng: &rng)
        let t0 = Date()
        for _ in 0..<repeats { _ = model.generate(prompts: prompts, options: options, rng: &rng) }
        return Double(batch * newTokens * repeats) / Date().timeIntervalSince(t0)
    }
}
