import Foundation

/// Causal multi-head self-attention over a fused projection `qkv` of shape `[B, T, 3C]`
/// (queries, keys, values side by side, as GPT-2's `c_attn` produces them). Returns `[B, T, C]`.
///
/// Scores are scaled by 1/√(head_dim); position t attends to positions ≤ t whose `keyMask`
/// entry (`[B·T]`, 1 = real token, 0 = padding) is non-zero. A query with no visible key (a
/// left-padding position) outputs zeros instead of NaN. Softmax subtracts the row maximum.
/// Work is split over batch × heads across cores; the probabilities are kept for backward.
public func causalSelfAttention(_ qkv: Tensor, heads: Int, keyMask: [Float]? = nil) -> Tensor {
    attention(qkv, heads: heads, keyMask: keyMask, dropMask: nil)
}

/// The same, with dropout on the attention probabilities (GPT-2's `attn_pdrop`, applied after
/// the softmax as transformers does): each probability is zeroed with probability `dropout`
/// and survivors scaled by 1/(1−dropout). Masks are drawn from `rng` before the parallel
/// work, so a seed reproduces them whatever the thread count.
public func causalSelfAttention(_ qkv: Tensor, heads: Int, keyMask: [Float]? = nil, dropout: Float, rng: inout RNG) -> Tensor {
    precondition(dropout >= 0 && dropout < 1, "attention: dropout \(dropout) outside [0, 1)")
    guard dropout > 0 else { return attention(qkv, heads: heads, keyMask: keyMask, dropMask: nil) }
    let b = qkv.shape[0], t = qkv.shape[1]
    let m = Storage(count: b * heads * t * t)
    let keep = 1 / (1 - dropout), threshold = UInt32(Double(dropout) * 4_294_967_296.0)
    for i in 0..<m.count { m.pointer[i] = rng.next32() >= threshold ? keep : 0 }
    return attention(qkv, heads: heads, keyMask: keyMask, dropMask: m)
}

func attention(_ qkv: Tensor, heads: Int, keyMask: [Float]?, dropMask: Storage?) -> Tensor {
    guard qkv.rank == 3, qkv.shape[2] % (3 * heads) == 0 else {
        fatalError("attention: qkv shape \(qkv.shape) must be [B, T, 3·C] with C divisible by \(heads) heads")
    }
    let b = qkv.shape[0], t = qkv.shape[1], c3 = qkv.shape[2], c = c3 / 3, hd = c / heads
    if let keyMask, keyMask.count != b * t {
        fatalError("attention: keyMask has \(keyMask.count) entries, expected B·T = \(b * t)")
    }
    let scale = 1 / Float(hd).squareRoot()
    let out = Tensor(uninitialized: [b, t, c])
    let probs = Storage(count: b * heads * t * t)
    let pq = qkv.pointer, po = out.pointer, pp = probs.pointer
    let mask = keyMask
    let pm = dropMask?.pointer  // per-probability scale: 0 or 1/(1−p); nil without dropout
    Parallel.forRange(b * heads, cost: t * t * hd * 2) { range in
        for bh in range {
            let bi = bh / heads, h = bh % heads
            for ti in 0..<t {
                let q = pq + (bi * t + ti) * c3 + h * hd
                let prow = pp + (bh * t + ti) * t
                var maxv = -Float.infinity
                for s in 0...ti {
                    if let mask, mask[bi * t + s] == 0 { prow[s] = -Float.infinity; continue }
                    let k = pq + (bi * t + s) * c3 + c + h * hd
                    let v = dot(q, k, hd) * scale
                    prow[s] = v
                    if v > maxv { maxv = v }
                }
                let o = po + (bi * t + ti) * c + h * hd
                o.update(repeating: 0, count: hd)
                for s in (ti + 1)..<t { prow[s] = 0 }
                guard normalizeScores(prow, ti + 1, max: maxv) else { continue }
                let mrow = pm.map { $0 + (bh * t + ti) * t }
                for s in 0...ti {
                    let w = prow[s] * (mrow?[s] ?? 1)
                    if w != 0 { axpy(w, pq + (bi * t + s) * c3 + 2 * c + h * hd, o, hd) }
                }
            }
        }
    }
    if Tensor.needsGrad(qkv) {
        out.record("attention", [qkv]) { [probs, dropMask] g in
            withExtendedLifetime((probs, dropMask)) {}
            let gq = qkv.gradBuffer().pointer, pg = g.pointer
            Parallel.forRange(b * heads, cost: t * t * hd * 4) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: max(t, 1)) { dp in
                    for bh in range {
                        let bi = bh / heads, h = bh % heads
                        for ti in 0..<t {
                            let prow = pp + (bh * t + ti) * t
                            let mrow = pm.map { $0 + (bh * t + ti) * t }
                            let dout = pg + (bi * t + ti) * c + h * hd
                            // dp_s = m_s·(dout·v_s); dv_s += p_s·m_s·dout (m = dropout scale, 1 without)
                            var pdp: Float = 0
                            for s in 0...ti {
                                let p = prow[s]
                                if p == 0 { dp[s] = 0; continue }
                                let ms = mrow?[s] ?? 1
                                let vOff = (bi * t + s) * c3 + 2 * c + h * hd
                                dp[s] = dot(dout, pq + vOff, hd) * ms
                                if ms != 0 { axpy(p * ms, dout, gq + vOff, hd) }
                                pdp += p * dp[s]
                            }
                            // d score_s = p_s (dp_s − Σ p dp); dq += scale·Σ dscore·k; dk_s += scale·dscore·q
                            let qOff = (bi * t + ti) * c3 + h * hd
                            for s in 0...ti {
                                let p = prow[s]
                                if p == 0 { continue }
                                let ds = p * (dp[s] - pdp) * scale
                                let kOff = (bi * t + s) * c3 + c + h * hd
                                axpy(ds, pq + kOff, gq + qOff, hd)
                                axpy(ds, pq + qOff, gq + kOff, hd)
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Keys and values of past positions for incremental decoding, per layer:
/// `[B, heads, capacity, head_dim]` each, filled up to `length`.
public final class KVCache {
    public let batch: Int, heads: Int, headDim: Int, capacity: Int, layers: Int
    public private(set) var keys: [Tensor]
    public private(set) var values: [Tensor]
    /// Positions filled so far (shared by all layers; advanced by `advance`).
    public private(set) var length = 0

    public init(layers: Int, batch: Int, heads: Int, headDim: Int, capacity: Int) {
        self.layers = layers; self.batch = batch; self.heads = heads; self.headDim = headDim; self.capacity = capacity
        keys = (0..<layers).map { _ in Tensor(zeros: [batch, heads, capacity, headDim]) }
        values = (0..<layers).map { _ in Tensor(zeros: [batch, heads, capacity, headDim]) }
    }

    /// Marks `n` more positions as filled, after every layer has written them.
    public func advance(_ n: Int) {
        precondition(length + n <= capacity, "KVCache: \(length + n) positions exceed capacity \(capacity)")
        length += n
    }

    /// Forgets all positions (the buffers are reused by the next generation).
    public func reset() { length = 0 }

    /// Keeps only the batch rows in `rows` (in that order), for dropping finished sequences.
    public func selectRows(_ rows: [Int]) -> KVCache {
        let c = KVCache(layers: layers, batch: rows.count, heads: heads, headDim: headDim, capacity: capacity)
        let per = heads * capacity * headDim
        for l in 0..<layers {
            for (i, r) in rows.enumerated() {
                (c.keys[l].pointer + i * per).update(from: keys[l].pointer + r * per, count: per)
                (c.values[l].pointer + i * per).update(from: values[l].pointer + r * per, count: per)
            }
        }
        c.length = length
        return c
    }
}

/// Attention for `qkv` `[B, Tn, 3C]` of `Tn` new positions that follow `cache.length` cached ones:
/// writes the new keys and values into layer `layer` of the cache and attends over everything up
/// to each query's own position. `keyMask` covers all positions, `[B · cache.capacity]`.
/// Inference only (no gradient). Gives the same numbers as `causalSelfAttention` over the whole
/// sequence, which the tests check token by token.
public func cachedSelfAttention(_ qkv: Tensor, heads: Int, cache: KVCache, layer: Int, keyMask: [Float]? = nil) -> Tensor {
    guard qkv.rank == 3, qkv.shape[0] == cache.batch, qkv.shape[2] == 3 * heads * cache.headDim, heads == cache.heads else {
        fatalError("cachedAttention: qkv \(qkv.shape) does not match cache [B=\(cache.batch), heads=\(cache.heads), head_dim=\(cache.headDim)]")
    }
    let b = qkv.shape[0], tn = qkv.shape[1], c3 = qkv.shape[2], c = c3 / 3, hd = c / heads
    let past = cache.length, cap = cache.capacity
    guard past + tn <= cap else { fatalError("cachedAttention: \(past) + \(tn) positions exceed cache capacity \(cap)") }
    if let keyMask, keyMask.count != b * cap {
        fatalError("cachedAttention: keyMask has \(keyMask.count) entries, expected B·capacity = \(b * cap)")
    }
    let scale = 1 / Float(hd).squareRoot()
    let pk = cache.keys[layer].pointer, pv = cache.values[layer].pointer, pq = qkv.pointer
    for bi in 0..<b {
        for ti in 0..<tn {
            for h in 0..<heads {
                let dst = ((bi * heads + h) * cap + past + ti) * hd
                (pk + dst).update(from: pq + (bi * tn + ti) * c3 + c + h * hd, count: hd)
                (pv + dst).update(from: pq + (bi * tn + ti) * c3 + 2 * c + h * hd, count: hd)
            }
        }
    }
    let out = Tensor(uninitialized: [b, tn, c])
    let po = out.pointer
    let mask = keyMask
    Parallel.forRange(b * heads, cost: tn * (past + tn) * hd * 2) { range in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: past + tn) { scores in
            for bh in range {
                let bi = bh / heads, h = bh % heads
                let kBase = pk + (bi * heads + h) * cap * hd, vBase = pv + (bi * heads + h) * cap * hd
                for ti in 0..<tn {
                    let pos = past + ti
                    let q = pq + (bi * tn + ti) * c3 + h * hd
                    var maxv = -Float.infinity
                    for s in 0...pos {
                        if let mask, mask[bi * cap + s] == 0 { scores[s] = -Float.infinity; continue }
                        let v = dot(q, kBase + s * hd, hd) * scale
                        scores[s] = v
                        if v > maxv { maxv = v }
                    }
                    let o = po + (bi * tn + ti) * c + h * hd
                    o.update(repeating: 0, count: hd)
                    guard normalizeScores(scores.baseAddress!, pos + 1, max: maxv) else { continue }
                    for s in 0...pos where scores[s] != 0 { axpy(scores[s], vBase + s * hd, o, hd) }
                }
            }
        }
    }
    return out
}

/// Turns `n` scaled scores (−∞ for hidden keys) into softmax probabilities in place, subtracting
/// the row maximum `max` for stability. A row with no visible key becomes zeros and returns
/// false, so a left-padding query outputs zeros rather than NaN.
@inline(__always)
func normalizeScores(_ row: UnsafeMutablePointer<Float>, _ n: Int, max maxv: Float) -> Bool {
    if maxv == -Float.infinity {
        row.update(repeating: 0, count: n)
        return false
    }
    var total: Float = 0
    for s in 0..<n {
        let e = row[s] == -Float.infinity ? 0 : fastExp(row[s] - maxv)
        row[s] = e
        total += e
    }
    let inv = 1 / total
    for s in 0..<n { row[s] *= inv }
    return true
}
