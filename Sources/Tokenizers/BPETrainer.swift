import Foundation
import Support

extension BPETokenizer {
    /// Trains a byte-level BPE on `texts`, the way `tokenizers`' `BpeTrainer` with a ByteLevel
    /// pre-tokenizer does: special tokens take the first ids, then the 256 byte symbols, then one
    /// token per merge of the most frequent adjacent pair (ties: lowest ids first) until
    /// `vocabSize` tokens exist or no pair occurs `minFrequency` times.
    ///
    /// With `splitDigits`, pre-tokens made of digits (GPT-2's ` ?\p{N}+`) take part in no merge, so
    /// every digit stays its own token, as in LLaMA's tokenizer, and a number is written the same
    /// way wherever it appears. Whether that helps a model copy numbers depends on the model: the
    /// demo's 4-layer model copied order numbers far worse this way after its short training
    /// (README, "Digit tokens, tried and not kept"). The files stay plain GPT-2 BPE: with no digit
    /// merges in `merges.txt`, `tokenizers` and `transformers` split digits the same way.
    ///
    /// Pair counts are kept incrementally with an index from pair to the words holding it, so
    /// each merge touches only those words; the best pair comes from a lazy max-heap.
    public static func train(texts: [String], vocabSize: Int, specialTokens: [String] = ["<|endoftext|>"],
                             padToken: String? = nil, minFrequency: Int = 2, splitDigits: Bool = false,
                             showProgress: Bool = false) throws -> BPETokenizer {
        var specials = specialTokens
        if let padToken, !specials.contains(padToken) { specials.append(padToken) }
        guard vocabSize >= specials.count + 256 else {
            throw RLHFError.invalidArgument("vocabulary size \(vocabSize) is below the \(specials.count + 256) special and byte tokens")
        }
        // 1. Word frequencies over pre-tokens (special tokens are cut out first, never learned).
        let splitter = try BPETokenizer(vocab: Dictionary(uniqueKeysWithValues: (0..<256).map { (String(ByteLevel.characters[$0]), $0) } + specials.enumerated().map { ($1, 256 + $0) }),
                                        merges: [], addedTokens: specials.map { ($0, true) })
        var wordCounts: [[UInt8]: Int] = [:]
        for text in texts {
            for segment in splitter.splitAddedTokens(text) {
                guard case .text(let s) = segment else { continue }
                let scalars = Array(s.unicodeScalars)
                for r in PreTokenizer.split(scalars) {
                    if splitDigits && scalars[r].contains(where: { PreTokenizer.classify($0) == .number }) { continue }
                    var bytes: [UInt8] = []
                    for sc in scalars[r] { bytes.append(contentsOf: UTF8.encode(sc)!) }
                    wordCounts[bytes, default: 0] += 1
                }
            }
        }
        // 2. Initial symbols: specials, then bytes in the order of their mapped characters.
        var tokens = specials
        let byteOrder = (0..<256).sorted { ByteLevel.characters[$0] < ByteLevel.characters[$1] }
        var byteID = [Int32](repeating: 0, count: 256)
        for b in byteOrder { byteID[b] = Int32(tokens.count); tokens.append(String(ByteLevel.characters[b])) }
        var tokenIndex = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })

        let sortedWords = wordCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }  // deterministic order
        var words = sortedWords.map { $0.key.map { byteID[Int($0)] } }
        let counts = sortedWords.map(\.value)
        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: Set<Int32>] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, word) in words.enumerated() where word.count > 1 {
            for i in 0..<(word.count - 1) {
                let k = key(word[i], word[i + 1])
                pairCounts[k, default: 0] += counts[w]
                pairWords[k, default: []].insert(Int32(w))
            }
        }
        var heap = PairHeap()
        for (k, c) in pairCounts { heap.push(c, k) }

        var merges: [(String, String)] = []
        let progress = showProgress ? Progress("tokenizer", total: vocabSize - tokens.count, unit: "merge") : nil
        let target = vocabSize
        while tokens.count < target {
            guard let (count, pair) = heap.popValid(pairCounts), count >= minFrequency else { break }
            let a = Int32(pair >> 32), b = Int32(truncatingIfNeeded: pair & 0xFFFF_FFFF)
            let merged = tokens[Int(a)] + tokens[Int(b)]
            let newID: Int32
            if let existing = tokenIndex[merged] { newID = Int32(existing) } else {
                newID = Int32(tokens.count)
                tokens.append(merged)
                tokenIndex[merged] = Int(newID)
            }
            merges.append((tokens[Int(a)], tokens[Int(b)]))
            var touched = Set<UInt64>()
            for w in pairWords[pair] ?? [] {
                let wi = Int(w), c = counts[wi]
                let old = words[wi]
                // Remove the word's old pairs, merge, add its new pairs.
                for i in 0..<(old.count - 1) {
                    let k = key(old[i], old[i + 1])
                    pairCounts[k, default: 0] -= c
                    touched.insert(k)
                }
                var neu: [Int32] = []
                neu.reserveCapacity(old.count)
                var i = 0
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b { neu.append(newID); i += 2 } else { neu.append(old[i]); i += 1 }
                }
                words[wi] = neu
                if neu.count > 1 {
                    for j in 0..<(neu.count - 1) {
                        let k = key(neu[j], neu[j + 1])
                        pairCounts[k, default: 0] += c
                        pairWords[k, default: []].insert(w)
                        touched.insert(k)
                    }
                }
            }
            for k in touched {
                let c = pairCounts[k] ?? 0
                if c <= 0 { pairCounts[k] = nil; pairWords[k] = nil } else { heap.push(c, k) }
            }
            pairCounts[pair] = nil
            pairWords[pair] = nil
            progress?.update(tokens.count - specials.count - 256)
        }
        progress?.finish("\(tokens.count) tokens, \(merges.count) merges")
        let vocab = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        return try BPETokenizer(vocab: vocab, merges: merges, addedTokens: specials.map { ($0, true) }, padToken: padToken, source: "trained tokenizer")
    }
}

/// A max-heap of (count, pair) with lazy invalidation: stale entries (whose count no longer
/// matches the live count) are skipped when popped.
struct PairHeap {
    private var items: [(Int, UInt64)] = []

    @inline(__always) private func above(_ x: (Int, UInt64), _ y: (Int, UInt64)) -> Bool {
        x.0 > y.0 || (x.0 == y.0 && x.1 < y.1)
    }

    mutating func push(_ count: Int, _ pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if above(items[i], items[p]) { items.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> (Int, UInt64)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && above(items[l], items[m]) { m = l }
                if r < items.count && above(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m); i = m
            }
        }
        return top
    }

    mutating func popValid(_ live: [UInt64: Int]) -> (Int, UInt64)? {
        while let (c, k) = pop() {
            if live[k] == c { return (c, k) }
        }
        return nil
    }
}
