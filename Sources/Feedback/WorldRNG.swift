/// SplitMix64: the world generator's own seeded stream. Feedback does not depend on the tensor
/// library, and the world's files must be byte-identical for a seed on every machine.
public struct WorldRNG: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    /// An integer in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next(upperBound: UInt64(n))) }
    public mutating func chance(_ p: Double) -> Bool { unit() < p }
}
