import COpenBLAS
import Foundation

/// Causal multi-head self-attention over a fused projection `qkv` of shape `[B, T, 3C]`
/// (queries, keys, values side by side, as GPT-2's `c_attn` produces them). Returns `[B, T, C]`.
///
/// Scores are scaled by 1/√(head_dim); position t attends to positions ≤ t whose `keyMask`
/// entry (`[B·T]`, 1 = real token, 0 = padding) is non-zero. A query with no visible key (a
/// left-padding position) outputs zeros instead of NaN. Softmax subtracts the row maximum.
/// Work is split over batch × heads across cores; the probabilities are kept for backward.
public func causalSelfAttention(_ qkv: Tensor, heads: Int, keyMask: [Float]? = nil) -> Tensor {
    attention(qkv, heads: heads, lengths: batchLengths(qkv), keyMask: keyMask, dropMask: nil)
}

/// The same, with dropout on the attention probabilities (GPT-2's `attn_pdrop`, applied after
/// the softmax as transformers does): each probability is zeroed with probability `dropout`
/// and survivors scaled by 1/(1−dropout). Masks are drawn from `rng` before the parallel
/// work, so a seed reproduces them whatever the thread count.
public func causalSelfAttention(_ qkv: Tensor, heads: Int, keyMask: [Float]? = nil, dropout: Float, rng: inout RNG) -> Tensor {
    let lengths = batchLengths(qkv)
    return attention(qkv, heads: heads, lengths: lengths, keyMask: keyMask, dropMask: dropoutMask(lengths, heads: heads, dropout: dropout, rng: &rng))
}

/// Causal self-attention over sequences packed end to end without padding: `qkv` is `[N, 3C]`,
/// the rows of sequence i following those of sequence i−1, `lengths` summing to N. Each sequence
/// attends only to itself, so a batch of uneven sequences costs its real tokens and no pads
/// (the layout of transformers' and TRL's padding-free training). Returns `[N, C]`.
public func causalSelfAttention(packed qkv: Tensor, heads: Int, lengths: [Int]) -> Tensor {
    attention(qkv, heads: heads, lengths: packedLengths(qkv, lengths), keyMask: nil, dropMask: nil)
}

/// The packed layout with dropout on the probabilities, as the `[B, T, 3C]` form's.
public func causalSelfAttention(packed qkv: Tensor, heads: Int, lengths: [Int], dropout: Float, rng: inout RNG) -> Tensor {
    let lengths = packedLengths(qkv, lengths)
    return attention(qkv, heads: heads, lengths: lengths, keyMask: nil, dropMask: dropoutMask(lengths, heads: heads, dropout: dropout, rng: &rng))
}

private func batchLengths(_ qkv: Tensor) -> [Int] {
    guard qkv.rank == 3 else { fatalError("attention: qkv shape \(qkv.shape) must be [B, T, 3·C]") }
    return [Int](repeating: qkv.shape[1], count: qkv.shape[0])
}

private func packedLengths(_ qkv: Tensor, _ lengths: [Int]) -> [Int] {
    guard qkv.rank == 2, lengths.allSatisfy({ $0 > 0 }), lengths.reduce(0, +) == qkv.shape[0] else {
        fatalError("attention: packed qkv shape \(qkv.shape) must be [N, 3·C] with positive lengths summing to N, found \(lengths.count) lengths summing to \(lengths.reduce(0, +))")
    }
    return lengths
}

/// One scale per probability (0 or 1/(1−p)), laid out as `attention` keeps the probabilities.
private func dropoutMask(_ lengths: [Int], heads: Int, dropout: Float, rng: inout RNG) -> Storage? {
    precondition(dropout >= 0 && dropout < 1, "attention: dropout \(dropout) outside [0, 1)")
    guard dropout > 0 else { return nil }
    let m = Storage(count: heads * lengths.reduce(0) { $0 + $1 * $1 })
    let keep = 1 / (1 - dropout), threshold = UInt32(Double(dropout) * 4_294_967_296.0)
    for i in 0..<m.count { m.pointer[i] = rng.next32() >= threshold ? keep : 0 }
    return m
}

/// Attention over consecutive sequences of `lengths` rows of `qkv` (`[…, 3C]`, rows in order);
/// the `[B, T, 3C]` batch is B sequences of T. Each (sequence, head) is its own [T, T] problem,
/// so a sequence's result is the same wherever it sits in the batch.
func attention(_ qkv: Tensor, heads: Int, lengths: [Int], keyMask: [Float]?, dropMask: Storage?) -> Tensor {
    let c3 = qkv.shape[qkv.rank - 1], n = qkv.count / c3
    guard c3 % (3 * heads) == 0 else {
        fatalError("attention: qkv shape \(qkv.shape) must end in 3·C with C divisible by \(heads) heads")
    }
    let c = c3 / 3, hd = c / heads
    if let keyMask, keyMask.count != n {
        fatalError("attention: keyMask has \(keyMask.count) entries, expected one per row, \(n)")
    }
    // Where each sequence's rows start, and where its heads' [T, T] probabilities start.
    var rowStart = [Int](repeating: 0, count: lengths.count), probStart = rowStart
    var squares = 0
    for i in lengths.indices.dropFirst() {
        rowStart[i] = rowStart[i - 1] + lengths[i - 1]
        probStart[i] = probStart[i - 1] + heads * lengths[i - 1] * lengths[i - 1]
    }
    for t in lengths { squares += t * t }
    let scale = 1 / Float(hd).squareRoot()
    let out = Tensor(uninitialized: Array(qkv.shape.dropLast()) + [c])
    // Softmax probabilities per (sequence, head), [T, T], upper triangle zero: kept for backward.
    let probs = Storage(count: heads * squares)
    let pq = qkv.pointer, po = out.pointer, pp = probs.pointer
    let pm = dropMask?.pointer  // per-probability scale: 0 or 1/(1−p); nil without dropout
    let maxT = lengths.max() ?? 0, meanCost = lengths.isEmpty ? 0 : squares / lengths.count * hd
    // The key mask read in place, 8 keys at a time.
    (keyMask ?? []).withUnsafeBufferPointer { maskBuffer in
        let pmask = keyMask == nil ? nil : maskBuffer.baseAddress
        // Each head's products are GEMMs on strided views of qkv (row stride 3C); OpenBLAS runs
        // them single-threaded inside the per-head parallel loop (see BLAS).
        Parallel.forRange(lengths.count * heads, cost: meanCost * 4) { range in
            let weighted = pm == nil ? nil : Storage(count: maxT * maxT)
            for sh in range {
                let si = sh / heads, h = sh % heads, t = lengths[si]
                let q = pq + rowStart[si] * c3 + h * hd, k = q + c, v = q + 2 * c
                let p = pp + probStart[si] + h * t * t
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(hd), scale,
                            q, Int32(c3), k, Int32(c3), 0, p, Int32(t))
                let keys = pmask.map { $0 + rowStart[si] }
                for ti in 0..<t {
                    let row = p + ti * t
                    _ = normalizeScores(row, ti + 1, max: maskAndMax(row, ti + 1, keys))
                    (row + ti + 1).update(repeating: 0, count: t - ti - 1)
                }
                let w = droppedProbabilities(p, pm.map { $0 + probStart[si] + h * t * t }, count: t * t, scratch: weighted)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(hd), Int32(t), 1,
                            w, Int32(t), v, Int32(c3), 0, po + rowStart[si] * c + h * hd, Int32(c))
            }
        }
    }
    if Tensor.needsGrad(qkv) {
        out.record("attention", [qkv]) { [probs, dropMask] g in
            withExtendedLifetime((probs, dropMask)) {}
            let gq = qkv.gradBuffer().pointer, pg = g.pointer
            Parallel.forRange(lengths.count * heads, cost: meanCost * 8) { range in
                let dS = Storage(count: maxT * maxT)
                let weighted = pm == nil ? nil : Storage(count: maxT * maxT)
                for sh in range {
                    let si = sh / heads, h = sh % heads, t = lengths[si]
                    let q = pq + rowStart[si] * c3 + h * hd, k = q + c, v = q + 2 * c
                    let gQ = gq + rowStart[si] * c3 + h * hd, gK = gQ + c, gV = gQ + 2 * c
                    let dO = pg + rowStart[si] * c + h * hd
                    let p = pp + probStart[si] + h * t * t, d = dS.pointer
                    let w = droppedProbabilities(p, pm.map { $0 + probStart[si] + h * t * t }, count: t * t, scratch: weighted)
                    // dV += Wᵀ·dO, with W the (dropped-out) probabilities
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(hd), Int32(t), 1,
                                w, Int32(t), dO, Int32(c), 1, gV, Int32(c3))
                    // dP = (dO·Vᵀ) ∘ M
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(hd), 1,
                                dO, Int32(c), v, Int32(c3), 0, d, Int32(t))
                    if let pm {
                        let m = pm + probStart[si] + h * t * t
                        for i in 0..<(t * t) { d[i] *= m[i] }
                    }
                    // dScore = P ∘ (dP − Σ P·dP) · scale, row by row (the softmax backward)
                    for ti in 0..<t {
                        let pr = p + ti * t, dr = d + ti * t
                        var pdp: Float = 0
                        for s in 0...ti { pdp += pr[s] * dr[s] }
                        for s in 0...ti { dr[s] = pr[s] * (dr[s] - pdp) * scale }
                        for s in (ti + 1)..<t { dr[s] = 0 }
                    }
                    // dQ += dS·K; dK += dSᵀ·Q
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(hd), Int32(t), 1,
                                d, Int32(t), k, Int32(c3), 1, gQ, Int32(c3))
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(hd), Int32(t), 1,
                                d, Int32(t), q, Int32(c3), 1, gK, Int32(c3))
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
    // The key mask read in place: an optional array's subscript in the per-key loop costs a
    // check and a bounds test per key.
    (keyMask ?? []).withUnsafeBufferPointer { maskBuffer in
        let mask = keyMask == nil ? nil : maskBuffer.baseAddress
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
                        guard normalizeScores(scores.baseAddress!, pos + 1, max: maxv) else {
                            o.update(repeating: 0, count: hd)
                            continue
                        }
                        weightedSum(scores.baseAddress!, pos + 1, vBase, hd, into: o)
                    }
                }
            }
        }
    }
    return out
}

/// `out[e] = Σ_s p[s] · v[s·hd + e]` over the keys with a nonzero probability, added in key
/// order from zero: the arithmetic of one `axpy` per key, but 32 output lanes at a time stay in
/// four registers across all keys instead of going through memory once per key (that
/// store-to-load chain was most of decoding's attention, a fifth of generating with the demo's
/// model). Four accumulators, not one: a single one serialises on the add's latency.
@inline(__always)
func weightedSum(_ p: UnsafePointer<Float>, _ n: Int, _ v: UnsafePointer<Float>, _ hd: Int, into out: UnsafeMutablePointer<Float>) {
    var e = 0
    while e + 32 <= hd {
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        for s in 0..<n where p[s] != 0 {
            let w = SIMD8<Float>(repeating: p[s]), r = v + s * hd + e
            a0 = a0 + w * load8(r)
            a1 = a1 + w * load8(r + 8)
            a2 = a2 + w * load8(r + 16)
            a3 = a3 + w * load8(r + 24)
        }
        store8(a0, out + e); store8(a1, out + e + 8); store8(a2, out + e + 16); store8(a3, out + e + 24)
        e += 32
    }
    while e + 8 <= hd {
        var acc = SIMD8<Float>()
        for s in 0..<n where p[s] != 0 { acc = acc + SIMD8(repeating: p[s]) * load8(v + s * hd + e) }
        store8(acc, out + e)
        e += 8
    }
    while e < hd {
        var acc: Float = 0
        for s in 0..<n where p[s] != 0 { acc = acc + p[s] * v[s * hd + e] }
        out[e] = acc
        e += 1
    }
}

/// One head's probabilities after dropout, P∘M written into `scratch`, or P itself without
/// dropout (`mask` nil).
@inline(__always)
func droppedProbabilities(_ p: UnsafeMutablePointer<Float>, _ mask: UnsafeMutablePointer<Float>?, count: Int, scratch: Storage?) -> UnsafePointer<Float> {
    guard let mask, let scratch else { return UnsafePointer(p) }
    for i in 0..<count { scratch.pointer[i] = p[i] * mask[i] }
    return UnsafePointer(scratch.pointer)
}

/// Turns `n` scaled scores (−∞ for hidden keys) into softmax probabilities in place, subtracting
/// the row maximum `max` for stability. A row with no visible key becomes zeros and returns
/// false, so a left-padding query outputs zeros rather than NaN.
///
/// The exponentials and the scaling run 8 lanes at a time; the sum stays one add at a time, in
/// order, so the result is the same to the bit as the scalar loop's.
@inline(__always)
func normalizeScores(_ row: UnsafeMutablePointer<Float>, _ n: Int, max maxv: Float) -> Bool {
    if maxv == -Float.infinity {
        row.update(repeating: 0, count: n)
        return false
    }
    let m = SIMD8<Float>(repeating: maxv)
    @inline(__always) func exps(_ v: SIMD8<Float>) -> SIMD8<Float> {
        var e = exp8(v - m)
        e.replace(with: 0, where: v .== -Float.infinity)
        return e
    }
    var s = 0
    while s + 8 <= n { store8(exps(load8(row + s)), row + s); s += 8 }
    if s < n {
        var v = SIMD8<Float>(repeating: -Float.infinity)
        for j in 0..<(n - s) { v[j] = row[s + j] }
        let e = exps(v)
        for j in 0..<(n - s) { row[s + j] = e[j] }
    }
    var total: Float = 0
    for i in 0..<n { total += row[i] }
    let inv = SIMD8<Float>(repeating: 1 / total)
    s = 0
    while s + 8 <= n { store8(load8(row + s) * inv, row + s); s += 8 }
    while s < n { row[s] *= inv[0]; s += 1 }
    return true
}

/// Sets the scores of hidden keys (`keys[s] == 0`; none when `keys` is nil) among the first `n`
/// of `row` to −∞ and returns the largest score left, −∞ if none is. The maximum is exact, so
/// reading 8 at a time gives the scalar loop's value.
@inline(__always)
func maskAndMax(_ row: UnsafeMutablePointer<Float>, _ n: Int, _ keys: UnsafePointer<Float>?) -> Float {
    var vmax = SIMD8<Float>(repeating: -Float.infinity)
    var s = 0
    while s + 8 <= n {
        var v = load8(row + s)
        if let keys {
            v.replace(with: -Float.infinity, where: load8(keys + s) .== 0)
            store8(v, row + s)
        }
        vmax = max8(vmax, v)
        s += 8
    }
    var maxv = horizontalMax(vmax)
    while s < n {
        if let keys, keys[s] == 0 { row[s] = -Float.infinity } else if row[s] > maxv { maxv = row[s] }
        s += 1
    }
    return maxv
}
