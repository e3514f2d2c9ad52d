import Foundation
import Tensors

/// AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient, bias
/// correction, and no decay on biases, LayerNorm gains or embeddings' positions — the parameters
/// with rank < 2 — as GPT-2 training recipes (nanoGPT, TRL via transformers) do.
public final class AdamW {
    public struct Hyper: Codable, Equatable, Sendable {
        public var learningRate: Float
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        /// 1e-8 is torch's default; RL recipes (Ziegler, TRL's PPO) use 1e-5 for stability.
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0.01

        public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
            self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2
            self.epsilon = epsilon; self.weightDecay = weightDecay
        }
    }

    public var hyper: Hyper
    public let parameters: [(String, Tensor)]
    /// First and second moments, one pair per parameter, same shapes.
    public let m: [Tensor], v: [Tensor]
    /// Steps taken so far (for bias correction); saved with checkpoints.
    public private(set) var step = 0
    let decays: [Bool]

    public init(parameters: [(String, Tensor)], hyper: Hyper) {
        self.parameters = parameters
        self.hyper = hyper
        m = parameters.map { Tensor(zeros: $0.1.shape) }
        v = parameters.map { Tensor(zeros: $0.1.shape) }
        decays = parameters.map { $0.1.rank >= 2 }
    }

    /// Clears every parameter's gradient (keeping the buffers) before accumulating a new step.
    public func zeroGrad() {
        for (_, p) in parameters { p.zeroGrad() }
    }

    /// One update with the accumulated gradients, at `learningRate` (the schedule's value).
    /// Parameters without a gradient (unused in this step) are left unchanged.
    public func update(learningRate lr: Float) {
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.epsilon
        let c1 = 1 - Float(Foundation.pow(Double(b1), Double(step)))
        let c2 = 1 - Float(Foundation.pow(Double(b2), Double(step)))
        let stepSize = lr / c1
        let invSqrtC2 = 1 / c2.squareRoot()
        // Each element's update is independent of every other's, so the work is split by
        // elements, not by tensors: at 124M the token embedding alone is 31% of the parameters,
        // and a split by tensors left one core with two thirds of the work.
        let segments = segmentsWithGradients
        Parallel.forRange(segments.count, cost: AdamW.segmentLength * 8) { range in
            for (i, lo, hi) in segments[range] {
                let p = self.parameters[i].1
                let decay: Float = self.decays[i] ? 1 - lr * self.hyper.weightDecay : 1
                AdamW.updateSpan(p.pointer + lo, p.grad!.pointer + lo, self.m[i].pointer + lo, self.v[i].pointer + lo, count: hi - lo,
                                 b1: b1, b2: b2, eps: eps, stepSize: stepSize, invSqrtC2: invSqrtC2, decay: decay)
            }
        }
    }

    /// Elements per unit of `update`'s parallel work.
    static let segmentLength = 1 << 16

    /// `(parameter, lo, hi)` spans of at most `segmentLength` elements covering every parameter
    /// that has a gradient, in order.
    var segmentsWithGradients: [(Int, Int, Int)] {
        var out: [(Int, Int, Int)] = []
        for (i, (_, p)) in parameters.enumerated() where p.grad != nil {
            for lo in stride(from: 0, to: p.count, by: AdamW.segmentLength) {
                out.append((i, lo, min(lo + AdamW.segmentLength, p.count)))
            }
        }
        return out
    }

    /// The update of `count` elements, 8 lanes at a time. Every lane does the scalar loop's
    /// operations in the scalar loop's order (square root and division are correctly rounded in
    /// both), so the result is the same to the bit; the scalar loop, with a division and a square
    /// root per element, had made AdamW a tenth of a 124M training step.
    @inline(__always)
    static func updateSpan(_ pp: UnsafeMutablePointer<Float>, _ pg: UnsafePointer<Float>, _ pm: UnsafeMutablePointer<Float>,
                           _ pv: UnsafeMutablePointer<Float>, count n: Int,
                           b1: Float, b2: Float, eps: Float, stepSize: Float, invSqrtC2: Float, decay: Float) {
        typealias V = SIMD8<Float>
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), va1 = V(repeating: 1 - b1), va2 = V(repeating: 1 - b2)
        let veps = V(repeating: eps), vstep = V(repeating: stepSize), vc2 = V(repeating: invSqrtC2), vdecay = V(repeating: decay)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ x: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self) }
        var j = 0
        while j + 8 <= n {
            let g = load(pg + j)
            let m = vb1 * load(pm + j) + va1 * g
            let v = vb2 * load(pv + j) + va2 * g * g
            store(m, pm + j)
            store(v, pv + j)
            store(load(pp + j) * vdecay - vstep * m / ((v.squareRoot() * vc2) + veps), pp + j)
            j += 8
        }
        while j < n {
            let g = pg[j]
            let m = b1 * pm[j] + (1 - b1) * g
            let v = b2 * pv[j] + (1 - b2) * g * g
            pm[j] = m
            pv[j] = v
            pp[j] = pp[j] * decay - stepSize * m / ((v.squareRoot() * invSqrtC2) + eps)
            j += 1
        }
    }

    /// Restores the step counter from a checkpoint (moments are restored by assigning `m`/`v`).
    public func restore(step: Int) { self.step = step }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before
/// clipping (logged as `grad_norm`). A non-finite norm is returned unchanged for the caller to
/// report; nothing is scaled then.
@discardableResult
public func clipGradientNorm(_ parameters: [(String, Tensor)], maxNorm: Float) -> Float {
    // Each tensor's squared norm is one `dot`, taken on whichever core; the sum over tensors
    // stays in order, so the norm does not depend on the core count.
    var squares = [Double](repeating: 0, count: parameters.count)
    squares.withUnsafeMutableBufferPointer { out in
        Parallel.forRange(parameters.count, cost: 1 << 16) { range in
            for i in range {
                guard let g = parameters[i].1.grad else { continue }
                out[i] = Double(dot(g.pointer, g.pointer, g.count))
            }
        }
    }
    let total = squares.reduce(0, +)
    let norm = Float(total.squareRoot())
    guard norm.isFinite, maxNorm > 0, norm > maxNorm else { return norm }
    let scale = maxNorm / (norm + 1e-6)
    for (_, p) in parameters {
        guard let g = p.grad else { continue }
        for j in 0..<g.count { g.pointer[j] *= scale }
    }
    return norm
}

/// The name of the first parameter whose gradient holds NaN or Inf, if any.
public func firstNonFiniteGradient(_ parameters: [(String, Tensor)]) -> String? {
    for (name, p) in parameters {
        if let g = p.grad, !allFinite(g.pointer, g.count) { return name }
    }
    return nil
}
