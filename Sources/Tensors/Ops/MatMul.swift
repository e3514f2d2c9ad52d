/// Matrix products through `cblas_sgemm`, with their backward passes.
///
/// Shapes: `a` is `[..., M, K]` (or `[..., K, M]` when `transA`), `b` is `[K, N]` (or `[N, K]`
/// when `transB`) shared by every batch, or batched with the same leading dimensions as `a`.
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    guard a.rank >= 2, b.rank >= 2 else {
        fatalError("matmul: needs rank ≥ 2, found shapes \(a.shape) and \(b.shape)")
    }
    let aRows = a.shape[a.rank - 2], aCols = a.shape[a.rank - 1]
    let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
    let (m, k) = transA ? (aCols, aRows) : (aRows, aCols)
    let (kb, n) = transB ? (bCols, bRows) : (bRows, bCols)
    let batchA = Array(a.shape.dropLast(2))
    let batchB = Array(b.shape.dropLast(2))
    guard k == kb else {
        fatalError("matmul: inner dimensions differ: \(a.shape)\(transA ? "ᵀ" : "") × \(b.shape)\(transB ? "ᵀ" : "")")
    }
    guard batchB.isEmpty || batchB == batchA else {
        fatalError("matmul: batch dimensions differ: \(a.shape) and \(b.shape)")
    }
    let batch = batchA.reduce(1, *)
    let out = Tensor(uninitialized: batchA + [m, n])
    let lda = aCols, ldb = bCols
    if batchB.isEmpty && !transA {
        // One GEMM over all batch rows: [batch·M, K] × [K, N].
        BLAS.sgemm(transA: false, transB: transB, m: batch * m, n: n, k: k, a: a.pointer, lda: lda,
                   b: b.pointer, ldb: ldb, beta: 0, c: out.pointer, ldc: n)
    } else {
        for i in 0..<batch {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                       a: a.pointer + i * m * k, lda: lda,
                       b: batchB.isEmpty ? b.pointer : b.pointer + i * k * n, ldb: ldb,
                       beta: 0, c: out.pointer + i * m * n, ldc: n)
        }
    }
    if Tensor.needsGrad(a, b) {
        out.record("matmul", [a, b]) { g in
            let sharedB = batchB.isEmpty
            if a.requiresGrad {
                let ga = a.gradBuffer()
                if sharedB && !transA {
                    BLAS.sgemm(transA: false, transB: !transB, m: batch * m, n: k, k: n, a: g.pointer, lda: n,
                               b: b.pointer, ldb: ldb, beta: 1, c: ga.pointer, ldc: k)
                } else {
                    for i in 0..<batch {
                        let bp = sharedB ? b.pointer : b.pointer + i * k * n
                        if !transA {
                            BLAS.sgemm(transA: false, transB: !transB, m: m, n: k, k: n, a: g.pointer + i * m * n, lda: n,
                                       b: bp, ldb: ldb, beta: 1, c: ga.pointer + i * m * k, ldc: k)
                        } else {
                            // dA (K×M) = op(B) · dCᵀ
                            BLAS.sgemm(transA: transB, transB: true, m: k, n: m, k: n, a: bp, lda: ldb,
                                       b: g.pointer + i * m * n, ldb: n, beta: 1, c: ga.pointer + i * m * k, ldc: m)
                        }
                    }
                }
            }
            if b.requiresGrad {
                let gb = b.gradBuffer()
                if sharedB && !transA {
                    if !transB {
                        BLAS.sgemm(transA: true, transB: false, m: k, n: n, k: batch * m, a: a.pointer, lda: lda,
                                   b: g.pointer, ldb: n, beta: 1, c: gb.pointer, ldc: n)
                    } else {
                        BLAS.sgemm(transA: true, transB: false, m: n, n: k, k: batch * m, a: g.pointer, lda: n,
                                   b: a.pointer, ldb: lda, beta: 1, c: gb.pointer, ldc: k)
                    }
                } else {
                    for i in 0..<batch {
                        let ap = a.pointer + i * m * k
                        let gp = g.pointer + i * m * n
                        let gbp = sharedB ? gb.pointer : gb.pointer + i * k * n
                        if !transB {
                            // dB (K×N) = op(A)ᵀ · dC
                            BLAS.sgemm(transA: !transA, transB: false, m: k, n: n, k: m, a: ap, lda: lda,
                                       b: gp, ldb: n, beta: 1, c: gbp, ldc: n)
                        } else {
                            // dB (N×K) = dCᵀ · op(A)
                            BLAS.sgemm(transA: true, transB: transA, m: n, n: k, k: m, a: gp, lda: n,
                                       b: ap, ldb: lda, beta: 1, c: gbp, ldc: k)
                        }
                    }
                }
            }
        }
    }
    return out
}

/// y = x · W + b with `W` stored `[in, out]` (GPT-2's Conv1D layout) and optional bias `[out]`.
/// With `transposedWeight` the weight is `[out, in]` (torch `nn.Linear`: lm_head, score heads).
public func linear(_ x: Tensor, _ w: Tensor, _ bias: Tensor? = nil, transposedWeight: Bool = false) -> Tensor {
    guard w.rank == 2, x.rank >= 1 else { fatalError("linear: weight must be 2-D, found \(w.shape); input \(x.shape)") }
    let inDim = transposedWeight ? w.shape[1] : w.shape[0]
    let outDim = transposedWeight ? w.shape[0] : w.shape[1]
    guard x.shape.last == inDim else {
        fatalError("linear: input \(x.shape) does not end in \(inDim), the weight's input size (weight \(w.shape))")
    }
    if let bias, bias.shape != [outDim] {
        fatalError("linear: bias shape \(bias.shape), expected [\(outDim)] for weight \(w.shape)")
    }
    let rows = x.count / inDim
    let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outDim])
    BLAS.sgemm(transA: false, transB: transposedWeight, m: rows, n: outDim, k: inDim, a: x.pointer, lda: inDim,
               b: w.pointer, ldb: w.shape[1], beta: bias == nil ? 0 : 1, c: out.pointer, ldc: outDim,
               bias: bias?.pointer)
    let needs = bias.map { Tensor.needsGrad(x, w, $0) } ?? Tensor.needsGrad(x, w)
    if needs {
        out.record("linear", bias.map { [x, w, $0] } ?? [x, w]) { g in
            if x.requiresGrad {
                BLAS.sgemm(transA: false, transB: !transposedWeight, m: rows, n: inDim, k: outDim,
                           a: g.pointer, lda: outDim, b: w.pointer, ldb: w.shape[1],
                           beta: 1, c: x.gradBuffer().pointer, ldc: inDim)
            }
            if w.requiresGrad {
                if transposedWeight {
                    BLAS.sgemm(transA: true, transB: false, m: outDim, n: inDim, k: rows, a: g.pointer, lda: outDim,
                               b: x.pointer, ldb: inDim, beta: 1, c: w.gradBuffer().pointer, ldc: inDim)
                } else {
                    BLAS.sgemm(transA: true, transB: false, m: inDim, n: outDim, k: rows, a: x.pointer, lda: inDim,
                               b: g.pointer, ldb: outDim, beta: 1, c: w.gradBuffer().pointer, ldc: outDim)
                }
            }
            if let bias, bias.requiresGrad {
                // Columns split across cores; each still sums its rows in order, so the bits do
                // not depend on the split (on one core this loop left the other idle). One chunk
                // per core, as for layer norm's parameter gradients.
                let gb = bias.gradBuffer().pointer, pg = g.pointer
                Parallel.forRange(outDim, cost: rows, chunksPerWorker: 1) { cols in
                    for r in 0..<rows { addInPlace(gb + cols.lowerBound, pg + r * outDim + cols.lowerBound, cols.count) }
                }
            }
        }
    }
    return out
}
