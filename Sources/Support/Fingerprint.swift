/// A 64-bit FNV-1a hash of what fixes a training run besides its settings (its data, its
/// starting weights), kept in checkpoints so that resuming with other inputs is refused
/// (`TrainingCheckpoint.check`) rather than mixing two runs. Reported in 52 bits, which survive
/// JSON's doubles exactly.
public struct Fingerprint {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    @inline(__always)
    public mutating func mix(_ value: UInt64) { state = (state ^ value) &* 0x100_0000_01b3 }

    /// Token ids, one word each (no separator: mix one where sequences meet).
    public mutating func mix(ids: [Int32]) {
        for id in ids { mix(UInt64(UInt32(bitPattern: id))) }
    }

    /// Float bit patterns, one word each: any changed weight changes the hash.
    public mutating func mix(floats: UnsafeBufferPointer<Float>) {
        for x in floats { mix(UInt64(x.bitPattern)) }
    }

    /// A string's UTF-8 bytes, then a separator, so that ["ab", "c"] and ["a", "bc"] differ.
    public mutating func mix(_ text: String) {
        for byte in text.utf8 { mix(UInt64(byte)) }
        mix(0x1_0000_0000)
    }

    /// The hash as a checkpoint stores it.
    public var json: JSONValue { .number(Double(state & (1 << 52 - 1))) }
}
