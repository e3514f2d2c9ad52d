/// Sums and means, whole-tensor and over the last axis, with masks for padded sequences.

/// Sum of all elements, as a scalar tensor.
public func sum(_ x: Tensor) -> Tensor {
    let out = Tensor(scalar: vsum(x.pointer, x.count))
    if Tensor.needsGrad(x) {
        out.record("sum", [x]) { g in
            let gx = x.gradBuffer().pointer, v = g.pointer[0]
            for i in 0..<x.count { gx[i] += v }
        }
    }
    return out
}

/// Mean of all elements, as a scalar tensor.
public func mean(_ x: Tensor) -> Tensor {
    precondition(x.count > 0, "mean: empty tensor of shape \(x.shape)")
    return sum(x) * (1 / Float(x.count))
}

/// Sums over the last axis: `[..., n]` → `[...]` (a rank-0 result for a vector).
public func sumLastAxis(_ x: Tensor) -> Tensor {
    guard let n = x.shape.last else { fatalError("sumLastAxis: scalar input has no axis") }
    let rows = n == 0 ? 0 : x.count / n
    return segmentSums(x, lengths: [Int](repeating: n, count: rows), shape: Array(x.shape.dropLast()))
}

/// Sums of consecutive runs of `x`'s elements, `lengths[i]` in run i (summing to `x.count`):
/// per sequence totals over sequences packed end to end. `[lengths.count]`.
public func segmentSums(_ x: Tensor, lengths: [Int]) -> Tensor {
    segmentSums(x, lengths: lengths, shape: [lengths.count])
}

private func segmentSums(_ x: Tensor, lengths: [Int], shape: [Int]) -> Tensor {
    guard lengths.allSatisfy({ $0 >= 0 }), lengths.reduce(0, +) == x.count else {
        fatalError("segmentSums: lengths summing to \(lengths.reduce(0, +)) for \(x.count) elements")
    }
    let out = Tensor(uninitialized: shape)
    var start = [Int](repeating: 0, count: lengths.count)
    for r in lengths.indices.dropFirst() { start[r] = start[r - 1] + lengths[r - 1] }
    for r in lengths.indices { out.pointer[r] = vsum(x.pointer + start[r], lengths[r]) }
    if Tensor.needsGrad(x) {
        out.record("segmentSums", [x]) { g in
            let gx = x.gradBuffer().pointer
            for r in lengths.indices {
                let v = g.pointer[r]
                for j in start[r]..<(start[r] + lengths[r]) { gx[j] += v }
            }
        }
    }
    return out
}

/// Mean over the last axis: `[..., n]` → `[...]`.
public func meanLastAxis(_ x: Tensor) -> Tensor {
    guard let n = x.shape.last, n > 0 else { fatalError("meanLastAxis: empty last axis in \(x.shape)") }
    return sumLastAxis(x) * (1 / Float(n))
}

/// Σ(x·mask) / Σmask over all elements: the mean over real (unpadded) tokens. `mask` is 0/1,
/// same shape, no gradient. An all-zero mask gives 0 (not NaN), so an empty batch cannot poison
/// a loss.
public func maskedMean(_ x: Tensor, _ mask: Tensor) -> Tensor {
    guard x.shape == mask.shape else { fatalError("maskedMean: shapes \(x.shape) and mask \(mask.shape) differ") }
    let n = x.count, px = x.pointer, pm = mask.pointer
    var total: Float = 0, weight: Float = 0
    for i in 0..<n { total += px[i] * pm[i]; weight += pm[i] }
    let denom = weight > 0 ? weight : 1
    let out = Tensor(scalar: total / denom)
    if Tensor.needsGrad(x) {
        out.record("maskedMean", [x]) { [mask] g in
            withExtendedLifetime(mask) {}
            let gx = x.gradBuffer().pointer, v = g.pointer[0] / denom
            for i in 0..<n { gx[i] += v * pm[i] }
        }
    }
    return out
}

/// Σ(x·mask) over the last axis: `[..., n]` → `[...]` (sequence log-probabilities in DPO).
public func maskedSumLastAxis(_ x: Tensor, _ mask: Tensor) -> Tensor {
    guard x.shape == mask.shape else { fatalError("maskedSumLastAxis: shapes \(x.shape) and mask \(mask.shape) differ") }
    return sumLastAxis(x * mask)
}
