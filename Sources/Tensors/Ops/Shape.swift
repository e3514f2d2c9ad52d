/// Views and row slices: moving data between shapes without arithmetic.

extension Tensor {
    /// The same elements under a new shape (one dimension may be -1). Shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var shape = newShape
        if let i = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else { fatalError("reshape: cannot reshape \(self.shape) to \(newShape)") }
            shape[i] = count / known
        }
        guard Tensor.elementCount(shape) == count else {
            fatalError("reshape: \(self.shape) has \(count) elements, \(newShape) needs \(Tensor.elementCount(shape))")
        }
        let out = Tensor(shape: shape, sharing: storage)
        if Tensor.needsGrad(self) {
            out.record("reshape", [self]) { g in
                addInPlace(self.gradBuffer().pointer, g.pointer, g.count)
            }
        }
        return out
    }

    /// Rows `start ..< start+length` along the first dimension (a copy).
    public func rows(_ start: Int, _ length: Int) -> Tensor {
        guard rank >= 1, start >= 0, length >= 0, start + length <= shape[0] else {
            fatalError("rows: range \(start)..<\(start + length) out of bounds for shape \(shape)")
        }
        let inner = shape[0] == 0 ? 0 : count / shape[0]
        let out = Tensor(uninitialized: [length] + shape.dropFirst())
        out.pointer.update(from: pointer + start * inner, count: length * inner)
        if Tensor.needsGrad(self) {
            out.record("rows", [self]) { g in
                addInPlace(self.gradBuffer().pointer + start * inner, g.pointer, length * inner)
            }
        }
        return out
    }
}

/// Stacks tensors of equal trailing shape along the first dimension.
public func concatRows(_ parts: [Tensor]) -> Tensor {
    guard let first = parts.first else { fatalError("concatRows: no tensors") }
    let tail = Array(first.shape.dropFirst())
    for p in parts where Array(p.shape.dropFirst()) != tail || p.rank == 0 {
        fatalError("concatRows: shapes \(first.shape) and \(p.shape) differ beyond the first dimension")
    }
    let total = parts.reduce(0) { $0 + $1.shape[0] }
    let out = Tensor(uninitialized: [total] + tail)
    var offset = 0
    var offsets: [Int] = []
    for p in parts {
        offsets.append(offset)
        (out.pointer + offset).update(from: p.pointer, count: p.count)
        offset += p.count
    }
    if GradMode.isEnabled && parts.contains(where: { $0.requiresGrad }) {
        out.record("concatRows", parts) { g in
            for (p, o) in zip(parts, offsets) where p.requiresGrad {
                addInPlace(p.gradBuffer().pointer, g.pointer + o, p.count)
            }
        }
    }
    return out
}

extension Tensor {
    /// Rows `indices` of a `[N, C]` tensor, as `[indices.count, C]` (a row may repeat); the
    /// backward pass adds each row's gradient back to where it came from. Picks last-token
    /// hidden states for reward and value heads.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        guard rank == 2 else { fatalError("gatherRows: needs a 2-D tensor, found \(shape)") }
        let n = shape[0], c = shape[1]
        let out = Tensor(uninitialized: [indices.count, c])
        for (i, r) in indices.enumerated() {
            guard r >= 0 && r < n else { fatalError("gatherRows: row \(r) outside 0..<\(n)") }
            (out.pointer + i * c).update(from: pointer + r * c, count: c)
        }
        if Tensor.needsGrad(self) {
            out.record("gatherRows", [self]) { g in
                let gx = self.gradBuffer().pointer
                for (i, r) in indices.enumerated() { addInPlace(gx + r * c, g.pointer + i * c, c) }
            }
        }
        return out
    }
}
