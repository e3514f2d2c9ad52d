import Tensors

/// Splits items into training and held-out sets by a seeded shuffle: at least one item is held
/// out, and the same seed always holds out the same items (so a resumed run evaluates on the
/// same data).
public func splitHeldOut<T>(_ items: [T], fraction: Double, seed: UInt64) -> (train: [T], heldOut: [T]) {
    var order = Array(items.indices)
    var rng = RNG(seed: seed, stream: 3)
    order.shuffle(using: &rng)
    let held = min(items.count, max(1, Int(Double(items.count) * fraction)))
    return (order.dropFirst(held).map { items[$0] }, order.prefix(held).map { items[$0] })
}
