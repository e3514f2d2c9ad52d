import Tensors

/// Splits items into training and held-out sets by a seeded shuffle: any positive fraction holds
/// out at least one item, 0 holds out none (as a TRL run without an eval set), and the same seed
/// always holds out the same items (so a resumed run evaluates on the same data).
public func splitHeldOut<T>(_ items: [T], fraction: Double, seed: UInt64) -> (train: [T], heldOut: [T]) {
    var order = Array(items.indices)
    var rng = RNG(seed: seed, stream: 3)
    order.shuffle(using: &rng)
    let held = fraction > 0 ? min(items.count, max(1, Int(Double(items.count) * fraction))) : 0
    return (order.dropFirst(held).map { items[$0] }, order.prefix(held).map { items[$0] })
}

/// Splits items into training and held-out sets by whole groups (items with the same `key`), so
/// that no group has items on both sides: held-out preference pairs must not share a prompt, and
/// so responses, with pairs the model trained on. `fraction` is a fraction of the groups; with
/// one item per group this is `splitHeldOut(_:fraction:seed:)`, item for item.
public func splitHeldOut<T>(_ items: [T], groupedBy key: (T) -> String, fraction: Double, seed: UInt64) -> (train: [T], heldOut: [T]) {
    var members: [String: [Int]] = [:]
    var keys: [String] = []
    for (i, item) in items.enumerated() {
        let k = key(item)
        if members[k] == nil { keys.append(k) }
        members[k, default: []].append(i)
    }
    let (trainKeys, heldKeys) = splitHeldOut(keys, fraction: fraction, seed: seed)
    return (trainKeys.flatMap { members[$0]! }.map { items[$0] }, heldKeys.flatMap { members[$0]! }.map { items[$0] })
}
