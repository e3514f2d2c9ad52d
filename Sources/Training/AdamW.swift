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
        let work = parameters.indices.map { i in (i, parameters[i].1.count) }
        // Optimiser state for every parameter is independent: split the list over cores.
        Parallel.forRange(work.count, cost: 1 << 16) { range in
            for i in range {
                let p = self.parameters[i].1
                guard let g = p.grad else { continue }
                let n = p.count
                let pp = p.pointer, pg = g.pointer, pm = self.m[i].pointer, pv = self.v[i].pointer
                let decay: Float = self.decays[i] ? 1 - lr * self.hyper.weightDecay : 1
                for j in 0..<n {
                    let gj = pg[j]
                    let mj = b1 * pm[j] + (1 - b1) * gj
                    let vj = b2 * pv[j] + (1 - b2) * gj * gj
                    pm[j] = mj
                    pv[j] = vj
                    pp[j] = pp[j] * decay - stepSize * mj / ((vj.squareRoot() * invSqrtC2) + eps)
                }
            }
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
    var total: Double = 0
    for (_, p) in parameters {
        guard let g = p.grad else { continue }
        let s = dot(g.pointer, g.pointer, g.count)
        total += Double(s)
    }
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
