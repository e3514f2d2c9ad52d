import Foundation

/// GPT-2's GELU, tanh form (`gelu_new` in transformers):
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), vectorised eight lanes at a time.
public func gelu(_ x: Tensor) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let n = x.count, px = x.pointer, po = out.pointer
    // tanh of the inner term, kept for backward when it will run: its exp is most of GELU's
    // cost, and recomputing it there gave the same values.
    let tanhs = Tensor.needsGrad(x) ? Storage(count: n) : nil
    let pt = tanhs?.pointer
    Parallel.forRange((n + 7) / 8, cost: 160) { r in
        // Two blocks a turn: each block's exp is a long chain of dependent steps, and two side
        // by side keep the vector units busy (the same operations on each value, so the same bits).
        var first = r.lowerBound
        while first + 2 <= r.upperBound && (first + 2) * 8 <= n {
            let i = first * 8
            let v0 = load8(px + i), v1 = load8(px + i + 8)
            let t0 = tanh8(geluInner(v0)), t1 = tanh8(geluInner(v1))
            store8(0.5 * v0 * (1 + t0), po + i)
            store8(0.5 * v1 * (1 + t1), po + i + 8)
            if let pt { store8(t0, pt + i); store8(t1, pt + i + 8) }
            first += 2
        }
        for block in first..<r.upperBound {
            let i = block * 8
            if i + 8 <= n {
                let v = load8(px + i)
                let t = tanh8(geluInner(v))
                store8(0.5 * v * (1 + t), po + i)
                if let pt { store8(t, pt + i) }
            } else {
                for j in i..<n {
                    let v = px[j], t = tanh8(geluInner(SIMD8(repeating: v)))[0]
                    po[j] = 0.5 * v * (1 + t)
                    pt?[j] = t
                }
            }
        }
    }
    if let tanhs {
        out.record("gelu", [x]) { g in
            let gx = x.gradBuffer().pointer, pg = g.pointer, pt = tanhs.pointer
            Parallel.forRange((n + 7) / 8, cost: 240) { r in
                for block in r {
                    let i = block * 8
                    if i + 8 <= n {
                        store8(load8(gx + i) + load8(pg + i) * geluDerivative(load8(px + i), tanh: load8(pt + i)), gx + i)
                    } else {
                        for j in i..<n { gx[j] += pg[j] * geluDerivative(SIMD8(repeating: px[j]), tanh: SIMD8(repeating: pt[j]))[0] }
                    }
                }
            }
        }
    }
    return out
}

@inline(__always)
func geluInner(_ v: SIMD8<Float>) -> SIMD8<Float> {
    0.7978845608028654 * (v + 0.044715 * v * v * v)  // √(2/π)·(x + 0.044715x³)
}

/// d/dx GELU(x), given t = tanh(geluInner(x)) from the forward pass.
@inline(__always)
func geluDerivative(_ v: SIMD8<Float>, tanh t: SIMD8<Float>) -> SIMD8<Float> {
    let dt = (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * v * v)
    return 0.5 * (1 + t) + 0.5 * v * dt
}
