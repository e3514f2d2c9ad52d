/// Reverse-mode automatic differentiation over a dynamic graph, as PyTorch does it: every op
/// whose inputs need gradients records a `Node` on its output; `backward()` walks the nodes in
/// reverse topological order. Each op's backward is written by hand (llm.c style) and accumulates
/// into its inputs' `grad` buffers, so fan-out and micro-batch accumulation are plain sums.
final class Node {
    let op: String
    let inputs: [Tensor]
    /// Receives the output's full gradient; adds each input's share into `input.gradBuffer()`.
    let backward: (Tensor) -> Void

    init(op: String, inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record graph nodes. Off inside `withNoGrad` (generation, evaluation, reference
/// and reward forwards in RL), which also skips building the closures. Per thread (see
/// `ThreadSettings`): a rollout on one thread leaves a training step on another recording.
public enum GradMode {
    public static var isEnabled: Bool {
        @inline(__always) get { ThreadSettings.current.gradEnabled }
        set { ThreadSettings.current.gradEnabled = newValue }
    }
}

/// Runs `body` without recording gradients, restoring the previous mode after.
@discardableResult
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = saved }
    return try body()
}

extension Tensor {
    /// True when an op on these inputs must record a node.
    @inline(__always)
    static func needsGrad(_ inputs: Tensor...) -> Bool {
        guard GradMode.isEnabled else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    /// Attaches `backward` to this op output if any input needs a gradient. `backward` must not
    /// capture `self` (the output) strongly: that would be a reference cycle. Capture
    /// `self.storage` when the backward needs the output's values.
    @inline(__always)
    func record(_ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> Void) {
        requiresGrad = true
        name = op
        node = Node(op: op, inputs: inputs, backward: backward)
    }

    /// This tensor's gradient buffer, created zeroed on first use.
    func gradBuffer() -> Tensor {
        if let g = grad { return g }
        let g = Tensor(zeros: shape)
        grad = g
        return g
    }

    /// Sets every element of the gradient to zero (keeping its buffer) — the start of a step.
    public func zeroGrad() {
        grad?.fill(0)
    }

    /// Back-propagates from this tensor. A scalar is seeded with gradient 1; otherwise pass
    /// `seed` (same shape). Gradients accumulate into every leaf with `requiresGrad` (parameters).
    /// Intermediate gradients and the graph are freed as the walk passes them.
    ///
    /// - Parameter detectAnomaly: check every op's output gradient for NaN/Inf and return the
    ///   first op (in backward order) where one appeared, instead of silently propagating it.
    /// - Returns: the op name where a non-finite gradient first appeared, when `detectAnomaly`.
    @discardableResult
    public func backward(seed: Tensor? = nil, detectAnomaly: Bool = false) -> String? {
        guard requiresGrad else { fatalError("backward: tensor \(name ?? "\(shape)") does not require grad") }
        if let seed {
            precondition(seed.shape == shape, "backward: seed shape \(seed.shape) differs from \(shape)")
            let g = gradBuffer()
            addInPlace(g.pointer, seed.pointer, count)
        } else {
            precondition(count == 1, "backward: implicit seed needs a scalar, found shape \(shape)")
            gradBuffer().pointer[0] += 1
        }

        // Iterative DFS post-order over nodes; identity-keyed so shared subgraphs visit once.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            let id = ObjectIdentifier(t)
            if visited.contains(id) { continue }
            visited.insert(id)
            guard let node = t.node else { continue }
            stack.append((t, true))
            for input in node.inputs where input.node != nil && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }

        var anomaly: String? = nil
        for t in order.reversed() {
            guard let node = t.node, let g = t.grad else { t.node = nil; continue }
            if detectAnomaly, anomaly == nil, !allFinite(g.pointer, g.count) { anomaly = node.op }
            node.backward(g)
            // An intermediate's gradient and history are dead once its node has run.
            t.node = nil
            t.grad = nil
        }
        return anomaly
    }
}

/// True when no element is NaN or ±Inf.
public func allFinite(_ p: UnsafePointer<Float>, _ n: Int) -> Bool {
    var bad: Float = 0
    for i in 0..<n { bad += p[i] * 0 }  // NaN and ±Inf times 0 are NaN; finite times 0 is 0
    return bad == 0
}
