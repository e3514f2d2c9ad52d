/// Layer normalisation over the last dimension with affine gain and bias:
/// y = (x − mean) / √(var + eps) · γ + β, variance biased (divided by C) as torch does.
public func layerNorm(_ x: Tensor, _ gamma: Tensor, _ beta: Tensor, eps: Float = 1e-5) -> Tensor {
    guard let c = x.shape.last, gamma.shape == [c], beta.shape == [c] else {
        fatalError("layerNorm: input \(x.shape), gamma \(gamma.shape), beta \(beta.shape): gamma and beta must be [last dim]")
    }
    let rows = x.count / max(c, 1)
    let out = Tensor(uninitialized: x.shape)
    // Per-row mean and 1/σ are kept for the backward pass (2 floats a row, cheap).
    let stats = Storage(count: 2 * rows)
    let px = x.pointer, po = out.pointer, pg = gamma.pointer, pb = beta.pointer, ps = stats.pointer
    Parallel.forRange(rows, cost: 8 * c) { r in
        for row in r {
            let xr = px + row * c, yr = po + row * c
            let m = vsum(xr, c) / Float(c)
            var v: Float = 0
            for j in 0..<c { let d = xr[j] - m; v += d * d }
            let rstd = 1 / (v / Float(c) + eps).squareRoot()
            for j in 0..<c { yr[j] = (xr[j] - m) * rstd * pg[j] + pb[j] }
            ps[2 * row] = m
            ps[2 * row + 1] = rstd
        }
    }
    if Tensor.needsGrad(x, gamma, beta) {
        out.record("layerNorm", [x, gamma, beta]) { [stats] g in
            withExtendedLifetime(stats) {}
            let pgo = g.pointer
            if x.requiresGrad {
                let gx = x.gradBuffer().pointer
                Parallel.forRange(rows, cost: 10 * c) { r in
                    for row in r {
                        let xr = px + row * c, gr = pgo + row * c, dx = gx + row * c
                        let m = ps[2 * row], rstd = ps[2 * row + 1]
                        // dx = rstd · (dn − mean(dn) − n · mean(dn·n)), dn = dy·γ, n = normalised x
                        var sumDn: Float = 0, sumDnN: Float = 0
                        for j in 0..<c {
                            let n = (xr[j] - m) * rstd
                            let dn = gr[j] * pg[j]
                            sumDn += dn
                            sumDnN += dn * n
                        }
                        let meanDn = sumDn / Float(c), meanDnN = sumDnN / Float(c)
                        for j in 0..<c {
                            let n = (xr[j] - m) * rstd
                            dx[j] += rstd * (gr[j] * pg[j] - meanDn - n * meanDnN)
                        }
                    }
                }
            }
            if gamma.requiresGrad || beta.requiresGrad {
                let gg = gamma.requiresGrad ? gamma.gradBuffer().pointer : nil
                let gbeta = beta.requiresGrad ? beta.gradBuffer().pointer : nil
                // Columns split across cores, rows summed in order in each: the same bits on any.
                // One chunk per core: narrower ones read each row in shorter pieces (slower, measured).
                Parallel.forRange(c, cost: 4 * rows, chunksPerWorker: 1) { cols in
                    for row in 0..<rows {
                        let xr = px + row * c, gr = pgo + row * c
                        let m = ps[2 * row], rstd = ps[2 * row + 1]
                        if let gg { for j in cols { gg[j] += gr[j] * (xr[j] - m) * rstd } }
                        if let gbeta { addInPlace(gbeta + cols.lowerBound, gr + cols.lowerBound, cols.count) }
                    }
                }
            }
        }
    }
    return out
}
