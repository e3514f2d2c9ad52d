import Foundation

/// GPT-2's GELU, tanh form (`gelu_new` in transformers):
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public func gelu(_ x: Tensor) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let n = x.count, px = x.pointer, po = out.pointer
    let c: Float = 0.7978845608028654  // √(2/π)
    Parallel.forRange(n, cost: 20) { r in
        for i in r {
            let v = px[i]
            po[i] = 0.5 * v * (1 + Foundation.tanh(c * (v + 0.044715 * v * v * v)))
        }
    }
    if Tensor.needsGrad(x) {
        out.record("gelu", [x]) { g in
            let gx = x.gradBuffer().pointer, pg = g.pointer
            Parallel.forRange(n, cost: 30) { r in
                for i in r {
                    let v = px[i]
                    let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
                    let dt = (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
                    gx[i] += pg[i] * (0.5 * (1 + t) + 0.5 * v * dt)
                }
            }
        }
    }
    return out
}
