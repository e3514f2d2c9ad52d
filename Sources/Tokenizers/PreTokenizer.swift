/// GPT-2's pre-tokenization, the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// written as a scanner over Unicode scalars (no regex engine: this runs over whole corpora).
/// Contractions are lowercase only, as in GPT-2; a run of whitespace before a word gives its
/// last space to the word.
enum PreTokenizer {
    enum Class: UInt8 { case letter, number, space, other }

    /// ASCII classes from a table; other scalars from their Unicode general category and
    /// White_Space property (which is what `\s`, `\p{L}`, `\p{N}` mean in the regex).
    @inline(__always)
    static func classify(_ s: Unicode.Scalar) -> Class {
        let v = s.value
        if v < 128 {
            if (v >= 65 && v <= 90) || (v >= 97 && v <= 122) { return .letter }
            if v >= 48 && v <= 57 { return .number }
            if v == 32 || (v >= 9 && v <= 13) { return .space }
            return .other
        }
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Ranges of `scalars` that are pre-tokens, in order, covering the whole input.
    static func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let n = scalars.count
        var classes = [Class](repeating: .other, count: n)
        for i in 0..<n { classes[i] = classify(scalars[i]) }
        var out: [Range<Int>] = []
        var i = 0
        while i < n {
            // Contractions: 's 't 'm 'd and 're 've 'll.
            if scalars[i] == "'" && i + 1 < n {
                let a = scalars[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { out.append(i..<i + 2); i += 2; continue }
                if i + 2 < n {
                    let b = scalars[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        out.append(i..<i + 3); i += 3; continue
                    }
                }
            }
            // An optional single ASCII space, then a run of one class.
            var start = i
            var j = i
            if scalars[i] == " " && i + 1 < n && classes[i + 1] != .space { j = i + 1 }
            let c = classes[j]
            if c != .space {
                var k = j + 1
                while k < n && classes[k] == c { k += 1 }
                out.append(start..<k)
                i = k
                continue
            }
            // Whitespace: the run, minus its last character when a non-space follows (that
            // character starts the next pre-token via " ?…" or stands alone).
            start = i
            var k = i
            while k < n && classes[k] == .space { k += 1 }
            if k == n || k - start == 1 {
                out.append(start..<k)
                i = k
            } else {
                out.append(start..<k - 1)
                i = k - 1
            }
        }
        return out
    }
}
