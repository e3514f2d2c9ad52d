import Foundation

/// Per-token log-probabilities of chosen ids, and the distribution's entropy, from logits.
///
/// This is the quantity every RLHF loss starts from (PPO ratios, KL to the reference, DPO
/// sequence log-probabilities, cross-entropy). `logProbs[i] = log softmax(logits[i] / T)[targets[i]]`;
/// a negative target (e.g. -100, the ignore index) gives 0 and no gradient.
public struct TokenLogProbs {
    /// `[N]` log-probabilities of the targets.
    public let logProbs: Tensor
    /// `[N]` entropies of each row's distribution (only when requested).
    public let entropy: Tensor?
}

/// Row-wise log-softmax at `temperature`, gathered at `targets`, from explicit logits `[N, V]`.
/// The backward pass writes a full `[N, V]` gradient, since the logits themselves are an input;
/// when the logits come from an LM head, `lmHeadLogProbs` avoids materialising them at all.
public func logSoftmaxGather(_ logits: Tensor, targets: [Int32], temperature: Float = 1, entropy wantEntropy: Bool = false) -> TokenLogProbs {
    guard logits.rank == 2, logits.shape[0] == targets.count else {
        fatalError("logSoftmaxGather: logits \(logits.shape) must be [N, V] with N = \(targets.count) targets")
    }
    let n = logits.shape[0], v = logits.shape[1]
    let lp = Tensor(uninitialized: [n])
    let ent = wantEntropy ? Tensor(uninitialized: [n]) : nil
    // Per row: log-sum-exp of z = logits/T and E_p[z], enough to rebuild p and H in backward.
    let stats = Storage(count: 2 * n)
    let invT = 1 / temperature
    Parallel.forRange(n, cost: 6 * v) { r in
        for i in r {
            let row = logits.pointer + i * v
            let (lse, ez) = rowStats(row, v, invT)
            stats.pointer[2 * i] = lse
            stats.pointer[2 * i + 1] = ez
            let tgt = Int(targets[i])
            precondition(tgt < v, "logSoftmaxGather: target \(tgt) at row \(i) outside vocabulary of \(v)")
            lp.pointer[i] = tgt < 0 ? 0 : row[tgt] * invT - lse
            ent?.pointer[i] = lse - ez
        }
    }
    if Tensor.needsGrad(logits) {
        let entStorage = ent?.storage
        let recordBackward: (Tensor?, Tensor?) -> Void = { gLP, gEnt in
            let gl = logits.gradBuffer().pointer
            Parallel.forRange(n, cost: 6 * v) { r in
                for i in r {
                    let row = logits.pointer + i * v, grow = gl + i * v
                    let lse = stats.pointer[2 * i]
                    let h = entStorage?.pointer[i] ?? 0
                    accumulateRowGradient(row: row, grad: grow, v: v, invT: invT, lse: lse, entropy: h,
                                          target: Int(targets[i]), gLogProb: gLP?.pointer[i] ?? 0, gEntropy: gEnt?.pointer[i] ?? 0)
                }
            }
        }
        lp.record("logSoftmaxGather", [logits]) { g in recordBackward(g, nil) }
        ent?.record("entropy", [logits]) { g in recordBackward(nil, g) }
    }
    return TokenLogProbs(logProbs: lp, entropy: ent)
}

/// Log-sum-exp of `row·invT` and the expectation of `row·invT` under its softmax.
@inline(__always)
func rowStats(_ row: UnsafePointer<Float>, _ v: Int, _ invT: Float) -> (Float, Float) {
    var maxv = vmax(row, v)
    maxv *= invT
    var total = SIMD8<Float>(), weighted = SIMD8<Float>()
    var j = 0
    while j + 8 <= v {
        let z = load8(row + j) * invT
        let e = exp8(z - maxv)
        total += e
        weighted += e * z
        j += 8
    }
    var t = total.sum(), w = weighted.sum()
    while j < v {
        let z = row[j] * invT
        let e = fastExp(z - maxv)
        t += e; w += e * z
        j += 1
    }
    let lse = maxv + Foundation.log(t)
    return (lse, w / t)
}

/// Adds one row's gradient: for log p_target, (onehot − p)/T; for entropy H = lse − E[z],
/// ∂H/∂z_j = −p_j (z_j − lse + H), also divided by T.
@inline(__always)
func accumulateRowGradient(row: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, v: Int, invT: Float,
                           lse: Float, entropy h: Float, target: Int, gLogProb: Float, gEntropy: Float) {
    let gl = target < 0 ? 0 : gLogProb
    if gl == 0 && gEntropy == 0 { return }
    var j = 0
    while j + 8 <= v {
        let logp = load8(row + j) * invT - lse
        let p = exp8(logp)
        store8(load8(grad + j) + (-gl * p - gEntropy * p * (logp + h)) * invT, grad + j)
        j += 8
    }
    while j < v {
        let logp = row[j] * invT - lse
        let p = fastExp(logp)
        grad[j] += (-gl * p - gEntropy * p * (logp + h)) * invT
        j += 1
    }
    if target >= 0 { grad[target] += gl * invT }
}

/// The fused LM head: log-probabilities of `targets` under `softmax(hidden · Wᵀ / T)` for
/// `hidden` `[N, C]` and `weight` `[V, C]` (the tied token embedding), plus entropies.
///
/// The `[N, V]` logits are the largest tensor of a language-model step (N·V·4 bytes: 1.3 GB for
/// 6,400 tokens of GPT-2). They are computed in row chunks; when all of them fit in
/// `cacheBytes` they are kept for the backward pass, otherwise each chunk is recomputed there
/// (one extra GEMM) so memory stays at one chunk.
public func lmHeadLogProbs(_ hidden: Tensor, weight: Tensor, targets: [Int32], temperature: Float = 1,
                           entropy wantEntropy: Bool = false, cacheBytes: Int = 512 << 20) -> TokenLogProbs {
    guard hidden.rank == 2, weight.rank == 2, hidden.shape[1] == weight.shape[1], hidden.shape[0] == targets.count else {
        fatalError("lmHeadLogProbs: hidden \(hidden.shape), weight \(weight.shape), \(targets.count) targets: need [N, C], [V, C], N targets")
    }
    let n = hidden.shape[0], c = hidden.shape[1], v = weight.shape[0]
    let invT = 1 / temperature
    let keep = n * v * 4 <= cacheBytes
    let chunk = keep ? max(n, 1) : max(1, min(n, (64 << 20) / max(v * 4, 1)))
    let cached: Storage? = keep ? Storage(count: max(n * v, 1)) : nil
    let scratch: Storage? = keep ? nil : Storage(count: chunk * v)
    let lp = Tensor(uninitialized: [n])
    let ent = wantEntropy ? Tensor(uninitialized: [n]) : nil
    let lse = Storage(count: max(n, 1))

    func logits(_ start: Int, _ rows: Int, into dst: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(transA: false, transB: true, m: rows, n: v, k: c, a: hidden.pointer + start * c, lda: c,
                   b: weight.pointer, ldb: c, beta: 0, c: dst, ldc: v)
    }

    var start = 0
    while start < n {
        let rows = min(chunk, n - start)
        let block = keep ? cached!.pointer + start * v : scratch!.pointer
        logits(start, rows, into: block)
        let s0 = start
        Parallel.forRange(rows, cost: 6 * v) { r in
            for i in r {
                let row = block + i * v
                let (l, ez) = rowStats(row, v, invT)
                let tgt = Int(targets[s0 + i])
                precondition(tgt < v, "lmHeadLogProbs: target \(tgt) outside vocabulary of \(v)")
                lse.pointer[s0 + i] = l
                lp.pointer[s0 + i] = tgt < 0 ? 0 : row[tgt] * invT - l
                ent?.pointer[s0 + i] = l - ez
            }
        }
        start += rows
    }

    if Tensor.needsGrad(hidden, weight) {
        let entStorage = ent?.storage
        // Both outputs feed one backward; whichever runs sees the other's gradient if it exists.
        let backward: (Tensor?, Tensor?) -> Void = { gLP, gEnt in
            let dScratch = Storage(count: chunk * v)
            let own = keep ? nil : Storage(count: chunk * v)
            var s = 0
            while s < n {
                let rows = min(chunk, n - s)
                let block: UnsafeMutablePointer<Float>
                if keep { block = cached!.pointer + s * v } else { block = own!.pointer; logits(s, rows, into: block) }
                let d = dScratch.pointer
                let s0 = s
                Parallel.forRange(rows, cost: 6 * v) { r in
                    for i in r {
                        (d + i * v).update(repeating: 0, count: v)
                        accumulateRowGradient(row: block + i * v, grad: d + i * v, v: v, invT: invT, lse: lse.pointer[s0 + i],
                                              entropy: entStorage?.pointer[s0 + i] ?? 0, target: Int(targets[s0 + i]),
                                              gLogProb: gLP?.pointer[s0 + i] ?? 0, gEntropy: gEnt?.pointer[s0 + i] ?? 0)
                    }
                }
                if hidden.requiresGrad {
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: c, k: v, a: d, lda: v, b: weight.pointer, ldb: c,
                               beta: 1, c: hidden.gradBuffer().pointer + s * c, ldc: c)
                }
                if weight.requiresGrad {
                    BLAS.sgemm(transA: true, transB: false, m: v, n: c, k: rows, a: d, lda: v, b: hidden.pointer + s * c, ldb: c,
                               beta: 1, c: weight.gradBuffer().pointer, ldc: c)
                }
                s += rows
            }
        }
        lp.record("lmHeadLogProbs", [hidden, weight]) { g in backward(g, nil) }
        ent?.record("lmHeadEntropy", [hidden, weight]) { g in backward(nil, g) }
    }
    return TokenLogProbs(logProbs: lp, entropy: ent)
}

/// Mean cross-entropy over targets that are not negative (−100 is transformers' ignore index).
public func crossEntropy(_ logits: Tensor, targets: [Int32]) -> Tensor {
    let lp = logSoftmaxGather(logits, targets: targets).logProbs
    let mask = Tensor(targets.map { $0 < 0 ? 0 : 1 }, shape: [targets.count])
    return -maskedMean(lp, mask)
}
