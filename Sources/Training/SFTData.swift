import Feedback
import Models
import Tokenizers

/// Tokenised demonstrations for supervised fine-tuning: prompt tokens, then completion tokens
/// and EOS (so the model learns to stop); the loss counts completion tokens only.
public enum SFTData {
    /// Examples longer than `contextLength` keep their prompt's end and are cut at the
    /// completion's end; `truncated` counts them so callers can warn.
    public static func examples(_ records: [SFTRecord], tokenizer: BPETokenizer, contextLength: Int) -> (examples: [(ids: [Int32], completionStart: Int)], truncated: Int) {
        let eos = Int32(tokenizer.eosTokenID ?? 0)
        var out: [(ids: [Int32], completionStart: Int)] = []
        var truncated = 0
        for r in records {
            let fitted = fit(prompt: tokenizer.encodeIDs(r.prompt), completions: [tokenizer.encodeIDs(r.completion) + [eos]], contextLength: contextLength)
            if fitted.cut { truncated += 1 }
            out.append((fitted.prompt + fitted.completions[0], fitted.prompt.count))
        }
        return (out, truncated)
    }

    /// One prompt and its completions (EOS included) cut to `contextLength`: when the longest
    /// does not fit, the prompt keeps its end (at most half the context) and each completion
    /// its start. The prompt is cut once for all, so the answers of a DPO pair are answers to
    /// the same request.
    public static func fit(prompt: [Int32], completions: [[Int32]], contextLength: Int) -> (prompt: [Int32], completions: [[Int32]], cut: Bool) {
        let longest = completions.map(\.count).max() ?? 0
        guard prompt.count + longest > contextLength else { return (prompt, completions, false) }
        let kept = Array(prompt.suffix(min(prompt.count, contextLength / 2)))
        return (kept, completions.map { Array($0.prefix(contextLength - kept.count)) }, true)
    }

    /// Fixed evaluation batches over held-out examples.
    public static func evalBatches(_ examples: [(ids: [Int32], completionStart: Int)], batchSize: Int, contextLength: Int) -> [LanguageModelBatch] {
        stride(from: 0, to: examples.count, by: batchSize).map { start in
            let chunk = Array(examples[start..<min(start + batchSize, examples.count)])
            return LanguageModelBatch(sequences: chunk.map(\.ids), lossFrom: chunk.map(\.completionStart), maxLength: contextLength)
        }
    }
}
