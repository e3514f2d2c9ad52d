import Tensors

/// A batch for next-token training: `ids` `[B, T]`, and per position the token to predict
/// (`-100` where nothing is predicted: padding, or prompt tokens in SFT).
public struct LanguageModelBatch: Sendable {
    public let batch: Int
    public let length: Int
    public let ids: [Int32]
    public let targets: [Int32]

    /// Tokens that count toward the loss.
    public var predictedTokens: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Packs sequences right-padded to the longest (≤ `maxLength`, longer ones cut at the end).
    /// `lossFrom[i]` is the index of the first token of sequence i whose prediction counts (the
    /// completion start in SFT; 1 for plain text, since the first token has nothing before it).
    /// Right padding needs no attention mask: a causal model never looks right.
    public init(sequences: [[Int32]], lossFrom: [Int], maxLength: Int, padID: Int32) {
        precondition(sequences.count == lossFrom.count && !sequences.isEmpty)
        let t = min(maxLength, sequences.map(\.count).max()!)
        batch = sequences.count
        length = t
        var ids = [Int32](repeating: padID, count: batch * t)
        var targets = [Int32](repeating: -100, count: batch * t)
        for (b, seq) in sequences.enumerated() {
            let n = min(seq.count, t)
            for i in 0..<n { ids[b * t + i] = seq[i] }
            // Position i predicts token i+1.
            if n >= 2 {
                for i in 0..<(n - 1) where i + 1 >= max(lossFrom[b], 1) { targets[b * t + i] = seq[i + 1] }
            }
        }
        self.ids = ids
        self.targets = targets
    }
}

extension LanguageModelBatch {
    /// Pretraining windows of T+1 tokens each: the model reads tokens 0..<T and predicts 1...T,
    /// so every position has a target and the input fits a context of T.
    public init(windows: [[Int32]]) {
        precondition(!windows.isEmpty && windows.allSatisfy { $0.count == windows[0].count && $0.count >= 2 },
                     "windows must be non-empty and of one length ≥ 2")
        let t = windows[0].count - 1
        self.batch = windows.count
        self.length = t
        self.ids = windows.flatMap { $0.prefix(t) }
        self.targets = windows.flatMap { $0.dropFirst() }
    }
}

extension GPT2 {
    /// Mean negative log-likelihood over the batch's predicted tokens, with gradient when enabled.
    public func languageModelLoss(_ batch: LanguageModelBatch) -> Tensor {
        let h = hiddenStates(ids: batch.ids, batch: batch.batch, length: batch.length)
        let lp = tokenLogProbs(h, targets: batch.targets).logProbs
        let mask = Tensor(batch.targets.map { $0 >= 0 ? 1 : 0 }, shape: [batch.targets.count])
        return -maskedMean(lp, mask)
    }

    /// Summed NLL and token count, for evaluation over a whole file (token-weighted mean).
    public func negativeLogLikelihood(_ batch: LanguageModelBatch) -> (sum: Double, tokens: Int) {
        withNoGrad {
            let h = hiddenStates(ids: batch.ids, batch: batch.batch, length: batch.length)
            let lp = tokenLogProbs(h, targets: batch.targets).logProbs
            var s = 0.0
            for i in 0..<lp.count where batch.targets[i] >= 0 { s -= Double(lp[i]) }
            return (s, batch.predictedTokens)
        }
    }
}

extension GPT2 {
    /// Σ log π(completion | prompt) per sequence at `temperature`, for sequences laid out as
    /// prompt then completion (`completionStart[i]` = prompt length). No gradient.
    /// Used to measure KL between policies on the same samples.
    public func completionLogProbs(_ sequences: [[Int32]], completionStart: [Int], temperature: Float = 1, batchSize: Int = 16) -> [Double] {
        var out: [Double] = []
        let was = training
        training = false
        defer { training = was }
        for start in stride(from: 0, to: sequences.count, by: batchSize) {
            let end = min(start + batchSize, sequences.count)
            let batch = LanguageModelBatch(sequences: Array(sequences[start..<end]), lossFrom: Array(completionStart[start..<end]),
                                           maxLength: config.nPositions, padID: 0)
            let lp = withNoGrad { sequenceLogProbs(batch, temperature: temperature) }
            for b in 0..<batch.batch { out.append(Double(lp[b])) }
        }
        return out
    }

    /// `[B]`: Σ log π of each row's predicted tokens (targets ≥ 0) at `temperature`, with
    /// gradient when enabled — DPO's sequence log-probability. Masked targets contribute 0.
    public func sequenceLogProbs(_ batch: LanguageModelBatch, temperature: Float = 1) -> Tensor {
        let h = hiddenStates(ids: batch.ids, batch: batch.batch, length: batch.length)
        let lp = tokenLogProbs(h, targets: batch.targets, temperature: temperature).logProbs
        return sumLastAxis(lp.reshaped([batch.batch, batch.length]))
    }
}
