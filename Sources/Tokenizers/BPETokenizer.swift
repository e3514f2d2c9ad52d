import Foundation
import Support

/// GPT-2's byte-level BPE tokenizer, compatible with Hugging Face `tokenizers`: loads
/// `tokenizer.json` or `vocab.json` + `merges.txt`, encodes and decodes byte for byte, and saves
/// both layouts. Added/special tokens (`<|endoftext|>`) are matched in the text before
/// pre-tokenization, as `tokenizers` does.
public final class BPETokenizer: @unchecked Sendable {
    /// Token string (byte-level mapped) → id, including added tokens.
    public let vocab: [String: Int]
    let idToToken: [String]
    /// Merge pairs in rank order, as token strings.
    public let merges: [(String, String)]
    /// (left id, right id) → (rank, merged id).
    let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    /// The id of each byte's single-character token.
    let byteIDs: [Int32]
    /// Added tokens (content, id, special), longest content first for matching.
    public let addedTokens: [(content: String, id: Int, special: Bool)]
    public private(set) var padTokenID: Int?
    /// Whether each stretch of text between added tokens gets a leading space when it has none
    /// (the ByteLevel pre-tokenizer's `add_prefix_space`), so that a text's first word is
    /// encoded as it is mid-sentence: "Hello" as "ĠHello". Off in GPT-2's own tokenizer.
    public let addPrefixSpace: Bool
    /// Pre-token bytes → ids; the same words recur constantly in real text.
    private var cache: [[UInt8]: [Int32]] = [:]
    private let cacheLock = NSLock()

    public var vocabSize: Int { idToToken.count }
    public func tokenID(_ token: String) -> Int? { vocab[token] }
    public func token(for id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }
    public var eosTokenID: Int? { vocab["<|endoftext|>"] }

    /// - Parameters:
    ///   - vocab: token → id for every token, added ones included.
    ///   - merges: merge pairs in rank order.
    ///   - addedTokens: special or added tokens, each also in `vocab`.
    ///   - addPrefixSpace: see `addPrefixSpace`.
    public init(vocab: [String: Int], merges: [(String, String)], addedTokens: [(String, Bool)], padToken: String? = nil,
                addPrefixSpace: Bool = false, source: String = "tokenizer") throws {
        var idToToken = [String](repeating: "", count: (vocab.values.max() ?? -1) + 1)
        for (t, i) in vocab {
            guard i >= 0 else { throw RLHFError.invalidFile(path: source, message: "token \"\(t)\" has negative id \(i)") }
            idToToken[i] = t
        }
        var byteIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = vocab[String(ByteLevel.characters[b])] else {
                throw RLHFError.invalidFile(path: source, message: "vocabulary lacks the byte-level token for byte \(b) (\"\(ByteLevel.characters[b])\"); not a byte-level BPE")
            }
            byteIDs[b] = Int32(id)
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b] else {
                throw RLHFError.invalidFile(path: source, message: "merge \(rank + 1) \"\(a) \(b)\" uses a token missing from the vocabulary")
            }
            guard let merged = vocab[a + b] else {
                throw RLHFError.invalidFile(path: source, message: "merge \(rank + 1) \"\(a) \(b)\" produces \"\(a + b)\", which is missing from the vocabulary")
            }
            let key = UInt64(ia) << 32 | UInt64(ib)
            if table[key] == nil { table[key] = (Int32(rank), Int32(merged)) }
        }
        var added: [(String, Int, Bool)] = []
        for (content, special) in addedTokens {
            guard let id = vocab[content] else {
                throw RLHFError.invalidFile(path: source, message: "added token \"\(content)\" has no id")
            }
            added.append((content, id, special))
        }
        self.vocab = vocab
        self.idToToken = idToToken
        self.merges = merges
        self.mergeTable = table
        self.byteIDs = byteIDs
        self.addedTokens = added.sorted { $0.0.utf8.count > $1.0.utf8.count }
        self.padTokenID = padToken.flatMap { vocab[$0] }
        self.addPrefixSpace = addPrefixSpace
    }

    // MARK: Encoding

    public func encode(_ text: String) -> [Int] {
        encodeIDs(text).map(Int.init)
    }

    /// Token ids as Int32 (the models' input type).
    public func encodeIDs(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for segment in splitAddedTokens(text) {
            switch segment {
            case .added(let id): out.append(Int32(id))
            case .text(let s) where addPrefixSpace && s.first != " ": encodeOrdinary((" " + s)[...], into: &out)
            case .text(let s): encodeOrdinary(s, into: &out)
            }
        }
        return out
    }

    enum Segment { case text(Substring), added(Int) }

    func splitAddedTokens(_ text: String) -> [Segment] {
        guard !addedTokens.isEmpty else { return [.text(text[...])] }
        var out: [Segment] = []
        var rest = text[...]
        while !rest.isEmpty {
            // The earliest match; at one position, the longest token (the list is sorted so).
            var best: (Range<Substring.Index>, Int)? = nil
            for (content, id, _) in addedTokens {
                if let r = rest.range(of: content), best == nil || r.lowerBound < best!.0.lowerBound {
                    best = (r, id)
                }
            }
            guard let (r, id) = best else { out.append(.text(rest)); break }
            if r.lowerBound > rest.startIndex { out.append(.text(rest[rest.startIndex..<r.lowerBound])) }
            out.append(.added(id))
            rest = rest[r.upperBound...]
        }
        return out
    }

    func encodeOrdinary(_ text: Substring, into out: inout [Int32]) {
        let scalars = Array(text.unicodeScalars)
        var utf8: [UInt8] = []
        for range in PreTokenizer.split(scalars) {
            utf8.removeAll(keepingCapacity: true)
            for s in scalars[range] { utf8.append(contentsOf: UTF8.encode(s)!) }
            cacheLock.lock()
            let hit = cache[utf8]
            cacheLock.unlock()
            if let hit { out.append(contentsOf: hit); continue }
            let ids = bpe(utf8)
            cacheLock.lock()
            if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
            cache[utf8] = ids
            cacheLock.unlock()
            out.append(contentsOf: ids)
        }
    }

    /// Applies merges to one pre-token's bytes: repeatedly merge the adjacent pair of lowest
    /// rank (every occurrence of it), until no pair is in the merge table.
    func bpe(_ bytes: [UInt8]) -> [Int32] {
        var word = bytes.map { byteIDs[Int($0)] }
        while word.count > 1 {
            var bestRank = Int32.max, bestID: Int32 = -1, bestLeft: Int32 = -1, bestRight: Int32 = -1
            for i in 0..<(word.count - 1) {
                if let m = mergeTable[UInt64(UInt32(word[i])) << 32 | UInt64(UInt32(word[i + 1]))], m.rank < bestRank {
                    bestRank = m.rank; bestID = m.id; bestLeft = word[i]; bestRight = word[i + 1]
                }
            }
            if bestID < 0 { break }
            var merged: [Int32] = []
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == bestLeft && word[i + 1] == bestRight {
                    merged.append(bestID); i += 2
                } else {
                    merged.append(word[i]); i += 1
                }
            }
            word = merged
        }
        return word
    }

    // MARK: Decoding

    /// Raw bytes of the tokens (added tokens as their UTF-8 content).
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard let t = token(for: id) else { continue }
            if addedTokens.contains(where: { $0.id == id }) { out.append(contentsOf: Array(t.utf8)); continue }
            if let b = ByteLevel.decode(t) { out.append(contentsOf: b) } else { out.append(contentsOf: Array(t.utf8)) }
        }
        return out
    }

    /// Text of the tokens; byte sequences that are not valid UTF-8 (a token boundary inside a
    /// character) become U+FFFD, as transformers' `errors="replace"` does.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    public func decode(_ ids: [Int32]) -> String { decode(ids.map(Int.init)) }
}
