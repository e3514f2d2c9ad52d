/// Row lookup: `out[i] = table[ids[i]]`, shape `[ids.count, C]`. The backward pass scatter-adds
/// into the table's gradient, so repeated ids accumulate.
public func embedding(_ table: Tensor, _ ids: [Int32]) -> Tensor {
    guard table.rank == 2 else { fatalError("embedding: table must be 2-D, found \(table.shape)") }
    let v = table.shape[0], c = table.shape[1]
    let out = Tensor(uninitialized: [ids.count, c])
    for (i, id) in ids.enumerated() {
        guard id >= 0 && Int(id) < v else {
            fatalError("embedding: id \(id) at position \(i) outside the table's \(v) rows")
        }
        (out.pointer + i * c).update(from: table.pointer + Int(id) * c, count: c)
    }
    if Tensor.needsGrad(table) {
        out.record("embedding", [table]) { g in
            let gt = table.gradBuffer().pointer
            for (i, id) in ids.enumerated() { addInPlace(gt + Int(id) * c, g.pointer + i * c, c) }
        }
    }
    return out
}
