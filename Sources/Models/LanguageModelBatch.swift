import Tensors

/// A batch for next-token training: sequences packed end to end without padding (`ids`, the
/// layout of `GPT2.hiddenStates(packed:lengths:)`), and per position the token to predict
/// (`-100` where nothing is predicted: a sequence's last token, or prompt tokens in SFT).
public struct LanguageModelBatch: Sendable {
    public let ids: [Int32]
    /// Tokens per sequence, summing to `ids.count`.
    public let lengths: [Int]
    public let targets: [Int32]

    /// Sequences in the batch.
    public var batch: Int { lengths.count }

    /// Tokens that count toward the loss.
    public var predictedTokens: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Tokens that count toward the loss, per sequence.
    public var predictedTokensPerSequence: [Int] {
        var start = 0
        return lengths.map { n in
            defer { start += n }
            return targets[start..<start + n].reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        }
    }

    /// Sequences of any lengths, each cut at the end to `maxLength`. `lossFrom[i]` is the index
    /// of the first token of sequence i whose prediction counts (the completion start in SFT; 1
    /// for plain text, since the first token has nothing before it). No padding: a batch of
    /// uneven sequences costs its tokens only.
    public init(sequences: [[Int32]], lossFrom: [Int], maxLength: Int) {
        precondition(sequences.count == lossFrom.count && !sequences.isEmpty && sequences.allSatisfy { !$0.isEmpty },
                     "a batch needs at least one sequence, and every sequence a token")
        var ids: [Int32] = [], targets: [Int32] = [], lengths: [Int] = []
        for (seq, from) in zip(sequences, lossFrom) {
            let n = min(seq.count, maxLength)
            ids += seq.prefix(n)
            lengths.append(n)
            // Position i predicts token i+1; the last position has nothing to predict.
            for i in 0..<n { targets.append(i + 1 < n && i + 1 >= max(from, 1) ? seq[i + 1] : -100) }
        }
        self.ids = ids
        self.lengths = lengths
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
        self.lengths = [Int](repeating: t, count: windows.count)
        self.ids = windows.flatMap { $0.prefix(t) }
        self.targets = windows.flatMap { $0.dropFirst() }
    }
}

extension GPT2 {
    /// Mean negative log-likelihood over the batch's predicted tokens, with gradient when enabled.
    public func languageModelLoss(_ batch: LanguageModelBatch) -> Tensor {
        let h = hiddenStates(packed: batch.ids, lengths: batch.lengths)
        let lp = tokenLogProbs(h, targets: batch.targets).logProbs
        let mask = Tensor(batch.targets.map { $0 >= 0 ? 1 : 0 }, shape: [batch.targets.count])
        return -maskedMean(lp, mask)
    }

    /// Summed NLL and token count, for evaluation over a whole file (token-weighted mean).
    public func negativeLogLikelihood(_ batch: LanguageModelBatch) -> (sum: Double, tokens: Int) {
        withNoGrad {
            let h = hiddenStates(packed: batch.ids, lengths: batch.lengths)
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
        withDropoutOff {
            stride(from: 0, to: sequences.count, by: batchSize).flatMap { start -> [Double] in
                let end = min(start + batchSize, sequences.count)
                let batch = LanguageModelBatch(sequences: Array(sequences[start..<end]), lossFrom: Array(completionStart[start..<end]),
                                               maxLength: config.nPositions)
                let lp = withNoGrad { sequenceLogProbs(batch, temperature: temperature) }
                return (0..<batch.batch).map { Double(lp[$0]) }
            }
        }
    }

    /// `[B]`: Σ log π of each row's predicted tokens (targets ≥ 0) at `temperature`, with
    /// gradient when enabled — DPO's sequence log-probability. Masked targets contribute 0.
    public func sequenceLogProbs(_ batch: LanguageModelBatch, temperature: Float = 1) -> Tensor {
        let h = hiddenStates(packed: batch.ids, lengths: batch.lengths)
        let lp = tokenLogProbs(h, targets: batch.targets, temperature: temperature).logProbs
        return segmentSums(lp, lengths: batch.lengths)
    }
}
