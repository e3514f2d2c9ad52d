/// Inverted dropout: zeroes each element with probability `p` and scales survivors by 1/(1−p),
/// so evaluation needs no rescaling. Draws from `rng`, so a seed reproduces the masks.
/// With `p == 0` it returns `x` itself (RL runs with dropout off everywhere).
public func dropout(_ x: Tensor, p: Float, rng: inout RNG) -> Tensor {
    precondition(p >= 0 && p < 1, "dropout: probability \(p) outside [0, 1)")
    if p == 0 { return x }
    let n = x.count
    let mask = Storage(count: n)
    let scale = 1 / (1 - p)
    let threshold = UInt32(Double(p) * 4_294_967_296.0)
    for i in 0..<n { mask.pointer[i] = rng.next32() >= threshold ? scale : 0 }
    let out = Tensor(uninitialized: x.shape)
    for i in 0..<n { out.pointer[i] = x.pointer[i] * mask.pointer[i] }
    if Tensor.needsGrad(x) {
        out.record("dropout", [x]) { g in
            let gx = x.gradBuffer().pointer
            for i in 0..<n { gx[i] += g.pointer[i] * mask.pointer[i] }
        }
    }
    return out
}
