/// PCG32 (O'Neill's XSH-RR output on a 64-bit LCG): small state, good statistics, and the same
/// stream on every machine, so one seed reproduces init, dropout, data order and sampling.
///
/// `stream` selects one of 2^63 independent sequences for the same seed: give each consumer its
/// own (`RNG(seed: s, stream: 1)` for dropout, `2` for data order, …) so adding a draw in one place
/// does not shift another's numbers.
public struct RNG: RandomNumberGenerator, Codable, Equatable, Sendable {
    public var state: UInt64
    public var increment: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        increment = (stream << 1) | 1
        state = 0
        _ = next32()
        state &+= seed
        _ = next32()
    }

    /// The generator for the `index`-th of a series (a pass over the data, a step) under one
    /// seed. `RNG(seed: seed &+ index)` would make seed s's index i + 1 the very generator of seed
    /// s + 1's index i: runs at neighbouring seeds would replay each other's draws one pass apart.
    public init(seed: UInt64, index: UInt64, stream: UInt64) {
        self.init(seed: RNG.splitMix(seed ^ RNG.splitMix(index)), stream: stream)
    }

    /// SplitMix64's finaliser: a bijection that scatters neighbouring inputs.
    static func splitMix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Restores a generator saved with a checkpoint.
    public init(state: UInt64, increment: UInt64) {
        self.state = state
        self.increment = increment
    }

    @inlinable public mutating func next32() -> UInt32 {
        let old = state
        state = old &* 6364136223846793005 &+ increment
        let xorshifted = UInt32(truncatingIfNeeded: ((old >> 18) ^ old) >> 27)
        let rot = UInt32(truncatingIfNeeded: old >> 59)
        return (xorshifted >> rot) | (xorshifted << ((~rot &+ 1) & 31))
    }

    public mutating func next() -> UInt64 {
        (UInt64(next32()) << 32) | UInt64(next32())
    }

    /// Uniform in [0, 1) with 24 bits of precision (every value exactly representable).
    @inlinable public mutating func uniform() -> Float {
        Float(next32() >> 8) * (1.0 / 16_777_216.0)
    }

    /// Standard normal by Box–Muller (one draw per call; the sine branch is dropped for simplicity
    /// of state, which costs a little speed only at initialisation time).
    public mutating func normal() -> Float {
        var u1 = Double(next32()) / 4_294_967_296.0
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next32()) / 4_294_967_296.0
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// An index in 0..<n.
    public mutating func below(_ n: Int) -> Int {
        Int(next(upperBound: UInt64(n)))
    }
}

import Foundation
@usableFromInline func _log(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Foundation.cos(x) }
