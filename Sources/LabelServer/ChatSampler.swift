import Dispatch
import Foundation
import Models
import Tensors
import Tokenizers

/// Produces the two responses of a chat-mode comparison.
public protocol ResponseSampler: Sendable {
    func twoResponses(to prompt: String) async throws -> (String, String)
}

/// The sampler has as many requests as it takes, waiting or running; the chat page answers 503.
public struct SamplerBusy: Error, CustomStringConvertible {
    public let pending: Int
    public var description: String { "the model is answering \(pending) other prompt(s); try again in a moment" }
}

/// Samples from a GPT-2 model directory. The model is not thread-safe and generation is long
/// CPU work, so requests are served one at a time on a queue of their own, off the server's
/// cooperative threads (which must stay free to answer other raters).
public final class ModelSampler: ResponseSampler, @unchecked Sendable {
    // Guarded by `queue`: only touched inside queue.async blocks.
    private let model: GPT2
    private let tokenizer: BPETokenizer
    private var rng: RNG
    private let queue = DispatchQueue(label: "rlhf.label.sampler")
    public let options: SamplingOptions
    static let attempts = 4
    /// Requests waiting or sampling at most; beyond it a request is turned away at once. Each
    /// waits for all before it, and a request whose rater gave up still samples and holds its
    /// place, so without a bound a flood of prompts would hold the model for as long as it took.
    public let maxPending: Int
    private let pendingLock = NSLock()
    private var pending = 0  // guarded by pendingLock

    /// Loads the model and tokenizer from a Hugging Face-layout directory.
    public init(directory: URL, maxNewTokens: Int = 64, temperature: Float = 1, seed: UInt64 = 0, maxPending: Int = 8) throws {
        precondition(maxPending >= 1, "maxPending must be at least 1")
        self.maxPending = maxPending
        (model, tokenizer) = try GPT2.loadWithTokenizer(directory: directory)
        rng = RNG(seed: seed, stream: 7)
        options = SamplingOptions(temperature: temperature, maxNewTokens: min(maxNewTokens, model.config.nPositions - 1),
                                  eosTokenID: tokenizer.eosTokenID.map(Int32.init))
    }

    public func twoResponses(to prompt: String) async throws -> (String, String) {
        try enter()
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<(String, String), Error>) in
            queue.async {
                defer { self.leave() }
                do { cont.resume(returning: try self.sample(prompt)) } catch { cont.resume(throwing: error) }
            }
        }
    }

    /// Takes a place among the `maxPending`, or throws `SamplerBusy`.
    func enter() throws {
        pendingLock.lock(); defer { pendingLock.unlock() }
        guard pending < maxPending else { throw SamplerBusy(pending: pending) }
        pending += 1
    }

    func leave() {
        pendingLock.lock(); defer { pendingLock.unlock() }
        pending -= 1
    }

    private func sample(_ prompt: String) throws -> (String, String) {
        var ids = tokenizer.encodeIDs(prompt)
        guard !ids.isEmpty else { throw LabelFormError("the prompt encodes to no tokens") }
        // Keep the end of a long prompt: that is what the continuation depends on.
        let room = model.config.nPositions - options.maxNewTokens
        if ids.count > room { ids = Array(ids.suffix(room)) }
        // A pair with an empty answer, or the same answer twice, gives a rater nothing to compare
        // and `rlhf reward` refuses it: sample again, a few times, before giving up.
        for _ in 0..<ModelSampler.attempts {
            let g = model.generate(prompts: [ids, ids], options: options, rng: &rng)
            let texts = zip(g.tokens, g.finished).map { toks, done in tokenizer.decode(done ? Array(toks.dropLast()) : toks) }
            if texts[0] != texts[1], !texts.contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
                return (texts[0], texts[1])
            }
        }
        throw LabelFormError("the model answered with an empty or repeated pair \(ModelSampler.attempts) times; write the prompt the way the model was trained to continue it (the demo's models expect \"Customer: …\\nAgent:\")")
    }
}
