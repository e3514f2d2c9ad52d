import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// Batched sampling of text completions: `rlhf sample`, best-of-N, the demo's evaluations and
/// DPO's held-out KL all draw responses through here.
public enum Sampling {
    /// Token ids of `prompts`, cut from the left to leave room for `maxNewTokens`, with the
    /// number cut (callers warn with it: nothing is shortened silently).
    public static func encodePrompts(_ prompts: [String], _ tok: BPETokenizer, context: Int, maxNewTokens: Int) -> (ids: [[Int32]], truncated: Int) {
        precondition(maxNewTokens < context, "Sampling: \(maxNewTokens) new tokens leave no room for a prompt in a context of \(context)")
        let room = context - maxNewTokens
        var truncated = 0
        let ids = prompts.map { p -> [Int32] in
            let e = tok.encodeIDs(p)
            if e.count > room { truncated += 1; return Array(e.suffix(room)) }
            return e.isEmpty ? [Int32(tok.eosTokenID ?? 0)] : e
        }
        return (ids, truncated)
    }

    /// `n` responses per prompt (decoded, EOS removed), in prompt order; a progress bar labelled
    /// `label` on standard error, and a warning there counting prompts cut to fit the context.
    public static func sample(_ gpt: GPT2, _ tok: BPETokenizer, prompts: [String], n: Int, maxNewTokens: Int, temperature: Float,
                              batchSize: Int, greedy: Bool = false, rng: inout RNG, label: String = "sample") -> [[String]] {
        let (encoded, truncated) = encodePrompts(prompts, tok, context: gpt.config.nPositions, maxNewTokens: maxNewTokens)
        if truncated > 0 {
            FileHandle.standardError.write(Data("warning: \(truncated) prompt(s) longer than \(gpt.config.nPositions - maxNewTokens) tokens were truncated from the left\n".utf8))
        }
        let jobs = encoded.flatMap { Array(repeating: $0, count: n) }
        var texts: [String] = []
        let options = SamplingOptions(temperature: temperature, greedy: greedy, maxNewTokens: maxNewTokens, eosTokenID: tok.eosTokenID.map(Int32.init))
        let progress = Progress(label, total: jobs.count, unit: "seq")
        for start in stride(from: 0, to: jobs.count, by: batchSize) {
            let chunk = Array(jobs[start..<min(start + batchSize, jobs.count)])
            let g = gpt.generate(prompts: chunk, options: options, rng: &rng)
            for (toks, done) in zip(g.tokens, g.finished) { texts.append(tok.decode(done ? Array(toks.dropLast()) : toks)) }
            progress.update(start + chunk.count)
        }
        return stride(from: 0, to: texts.count, by: max(n, 1)).map { Array(texts[$0..<$0 + n]) }
    }
}
