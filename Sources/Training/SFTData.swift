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
            var prompt = tokenizer.encodeIDs(r.prompt)
            var completion = tokenizer.encodeIDs(r.completion) + [eos]
            if prompt.count + completion.count > contextLength {
                truncated += 1
                let keepPrompt = min(prompt.count, contextLength / 2)
                prompt = Array(prompt.suffix(keepPrompt))
                completion = Array(completion.prefix(contextLength - prompt.count))
            }
            out.append((prompt + completion, prompt.count))
        }
        return (out, truncated)
    }

    /// Fixed evaluation batches over held-out examples.
    public static func evalBatches(_ examples: [(ids: [Int32], completionStart: Int)], batchSize: Int, contextLength: Int) -> [LanguageModelBatch] {
        stride(from: 0, to: examples.count, by: batchSize).map { start in
            let chunk = Array(examples[start..<min(start + batchSize, examples.count)])
            return LanguageModelBatch(sequences: chunk.map(\.ids), lossFrom: chunk.map(\.completionStart), maxLength: contextLength)
        }
    }
}
