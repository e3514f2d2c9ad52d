/// GPT-2's reversible byte ↔ printable-character mapping: every byte gets a visible Unicode
/// character so BPE can work on strings without control characters or spaces; printable
/// Latin-1 bytes map to themselves, the rest to U+0100 onwards ("Ġ" is the space byte 0x20).
enum ByteLevel {
    /// `characters[b]` is the character standing for byte `b`.
    static let characters: [Character] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var out = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { out[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return out
    }()

    /// The byte each mapping character stands for.
    static let bytes: [Character: UInt8] = {
        var d: [Character: UInt8] = [:]
        for (b, c) in characters.enumerated() { d[c] = UInt8(b) }
        return d
    }()

    /// The mapped string for raw bytes (how a token appears in vocab.json).
    static func encode(_ raw: some Sequence<UInt8>) -> String {
        String(raw.map { characters[Int($0)] })
    }

    /// Raw bytes for a mapped token string; nil if it has a character outside the mapping.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.count)
        for ch in token {
            guard let b = bytes[ch] else { return nil }
            out.append(b)
        }
        return out
    }
}
