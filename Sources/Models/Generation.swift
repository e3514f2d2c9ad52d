import Foundation
import Tensors

/// How to pick each next token.
public struct SamplingOptions: Sendable {
    /// Divides the logits before softmax; also used for the returned log-probabilities.
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int? = nil
    /// Keep the smallest set of tokens whose probability reaches p (nil: all).
    public var topP: Float? = nil
    /// Always take the most likely token (temperature, top-k, top-p ignored for the choice).
    public var greedy = false
    public var maxNewTokens = 32
    /// Stop a sequence when it emits this token (nil: never stop early).
    public var eosTokenID: Int32? = nil

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, greedy: Bool = false,
                maxNewTokens: Int = 32, eosTokenID: Int32? = nil) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.greedy = greedy
        self.maxNewTokens = maxNewTokens; self.eosTokenID = eosTokenID
    }
}

/// What `generate` produced for each prompt.
public struct Generation: Sendable {
    /// New tokens per sequence, up to and including EOS when it was emitted.
    public var tokens: [[Int32]]
    /// log softmax(logits / temperature)[token] for each new token: the log-probability that a
    /// training forward pass at the same temperature computes, which PPO's first ratio relies on.
    public var logProbs: [[Float]]
    /// Whether each sequence ended with EOS (false: cut at `maxNewTokens`).
    public var finished: [Bool]
}

extension GPT2 {
    /// Batched autoregressive generation with a KV cache. Prompts of different lengths are
    /// left-padded: pads are masked from attention and positions count only real tokens, as in
    /// transformers' `generate`, so each row gets the same tokens as it would alone.
    public func generate(prompts: [[Int32]], options: SamplingOptions, rng: inout RNG) -> Generation {
        withDropoutOff { sample(prompts: prompts, options: options, rng: &rng) }
    }

    private func sample(prompts: [[Int32]], options: SamplingOptions, rng: inout RNG) -> Generation {
        let b = prompts.count
        guard b > 0 else { return Generation(tokens: [], logProbs: [], finished: []) }
        let p = prompts.map(\.count).max()!
        guard prompts.allSatisfy({ !$0.isEmpty }) else { fatalError("generate: every prompt needs at least one token") }
        let capacity = p + options.maxNewTokens
        guard capacity <= config.nPositions else {
            fatalError("generate: prompt of \(p) tokens + \(options.maxNewTokens) new exceeds n_positions \(config.nPositions)")
        }
        let cache = makeCache(batch: b, capacity: capacity)
        var mask = [Float](repeating: 1, count: b * capacity)
        var ids = [Int32](repeating: 0, count: b * p)
        var realCount = [Int](repeating: 0, count: b)
        for (i, prompt) in prompts.enumerated() {
            let pad = p - prompt.count
            for t in 0..<pad { mask[i * capacity + t] = 0 }
            for (t, id) in prompt.enumerated() { ids[i * p + pad + t] = id }
            realCount[i] = prompt.count
        }
        var promptMask = [Float](repeating: 1, count: b * p)
        for i in 0..<b { for t in 0..<p { promptMask[i * p + t] = mask[i * capacity + t] } }
        let positions = GPT2.positions(batch: b, length: p, keyMask: promptMask)
        var hidden = decode(ids: ids, positions: positions, batch: b, length: p, cache: cache, keyMask: mask)
        var lastRows = (0..<b).map { $0 * p + p - 1 }

        var result = Generation(tokens: Array(repeating: [], count: b), logProbs: Array(repeating: [], count: b),
                                finished: Array(repeating: false, count: b))
        let v = config.vocabSize
        // sampleToken's weights, one buffer for the whole call: per token and row it would be a
        // 200 KB heap allocation at GPT-2's vocabulary.
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: v)
        defer { weights.deallocate() }
        for _ in 0..<options.maxNewTokens {
            let last = withNoGrad { hidden.gatherRows(lastRows) }
            let logits = withNoGrad { self.logits(last) }
            var next = [Int32](repeating: 0, count: b)
            for i in 0..<b {
                let row = logits.pointer + i * v
                if result.finished[i] { next[i] = options.eosTokenID ?? 0; continue }
                let (token, logProb) = sampleToken(row, v, options, &rng, weights: weights)
                next[i] = token
                result.tokens[i].append(token)
                result.logProbs[i].append(logProb)
                if let eos = options.eosTokenID, token == eos { result.finished[i] = true }
            }
            if result.finished.allSatisfy({ $0 }) || cache.length == capacity { break }
            let pos = (0..<b).map { Int32(realCount[$0]) }
            for i in 0..<b { realCount[i] += 1 }
            hidden = decode(ids: next, positions: pos, batch: b, length: 1, cache: cache, keyMask: mask)
            lastRows = Array(0..<b)
        }
        return result
    }
}

/// Picks one token from a row of logits and returns it with its log-probability under
/// softmax(logits / temperature) (before any top-k/top-p truncation).
/// `weights` is scratch room for `v` floats.
func sampleToken(_ row: UnsafeMutablePointer<Float>, _ v: Int, _ o: SamplingOptions, _ rng: inout RNG,
                 weights w: UnsafeMutablePointer<Float>) -> (Int32, Float) {
    let invT = 1 / max(o.temperature, 1e-6)
    let maxv = vmax(row, v)
    // Every token's unnormalised weight exp((logit − max)/T), taken once, 8 lanes at a time:
    // exp8 works lane by lane, so each weight is the one a single-value call gives, and the
    // sums below add them one at a time in order, as before. (Taken one value at a time, and
    // twice, they were 13% of generating with the demo's model.)
    let m = SIMD8<Float>(repeating: maxv), t = SIMD8<Float>(repeating: invT)
    var j = 0
    while j + 8 <= v {
        let x = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(w + j).storeBytes(of: exp8((x - m) * t), as: SIMD8<Float>.self)
        j += 8
    }
    while j < v { w[j] = fastExp((row[j] - maxv) * invT); j += 1 }
    var total: Double = 0
    for j in 0..<v { total += Double(w[j]) }
    let lse = Double(maxv * invT) + Foundation.log(total)
    func logProb(_ j: Int) -> Float { Float(Double(row[j] * invT) - lse) }
    // The first of the largest logits: greedy decoding's token, and a draw's when rounding
    // leaves it past the last weight. Looked for only then (a scalar pass over the vocabulary).
    func argmax() -> Int { (0..<v).first { row[$0] == maxv } ?? 0 }
    if o.greedy { let a = argmax(); return (Int32(a), logProb(a)) }

    // Candidate set: all tokens, or the top-k / nucleus, each with unnormalised weight.
    var candidates: [(Int, Double)]
    if o.topK != nil || o.topP != nil {
        var all = (0..<v).map { ($0, Double(w[$0])) }
        all.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        if let k = o.topK, k > 0 { all = Array(all.prefix(k)) }
        if let p = o.topP, p < 1 {
            let sum = all.reduce(0) { $0 + $1.1 }
            var acc = 0.0, keep = 0
            for (_, x) in all { acc += x / sum; keep += 1; if acc >= Double(p) { break } }
            all = Array(all.prefix(max(keep, 1)))
        }
        candidates = all
    } else {
        candidates = []
    }
    if candidates.isEmpty {
        var u = Double(rng.uniform()) * total
        for j in 0..<v {
            u -= Double(w[j])
            if u <= 0 { return (Int32(j), logProb(j)) }
        }
        let a = argmax()
        return (Int32(a), logProb(a))
    }
    let sum = candidates.reduce(0) { $0 + $1.1 }
    var u = Double(rng.uniform()) * sum
    for (j, x) in candidates {
        u -= x
        if u <= 0 { return (Int32(j), logProb(j)) }
    }
    return (Int32(candidates.last!.0), logProb(candidates.last!.0))
}
