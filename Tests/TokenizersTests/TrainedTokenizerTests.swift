import XCTest
import Foundation
@testable import Tokenizers

/// A tokenizer trained by this package means the same to Hugging Face: the fixture under
/// tokenizer-reference/trained/ was written by `rlhf train-tokenizer` on train_corpus.jsonl, and
/// trained_ids.json holds the ids `tokenizers` and transformers' AutoTokenizer produced with it.
final class TrainedTokenizerTests: XCTestCase {
    var dir: URL { Fixtures.root.appendingPathComponent("tokenizer-reference/trained") }

    func corpus() throws -> [String] {
        let data = try String(contentsOf: Fixtures.root.appendingPathComponent("tokenizer-reference/train_corpus.jsonl"), encoding: .utf8)
        return data.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }.map { $0["text"]! }
    }

    func testOwnTrainedTokenizerMatchesHuggingFaceIds() throws {
        let tok = try BPETokenizer.load(directory: dir)
        for (text, ids) in try Fixtures.cases("trained_ids.json") {
            XCTAssertEqual(tok.encode(text), ids, text.debugDescription)
            XCTAssertEqual(tok.decode(ids), text)
        }
    }

    func testTrainingIsDeterministicAndReproducesTheFixture() throws {
        let a = try BPETokenizer.train(texts: corpus(), vocabSize: 600, specialTokens: ["<|endoftext|>", "<|pad|>"], padToken: "<|pad|>")
        let fixture = try BPETokenizer.load(directory: dir)
        XCTAssertEqual(a.vocab, fixture.vocab)
        XCTAssertEqual(a.merges.map { $0.0 + " " + $0.1 }, fixture.merges.map { $0.0 + " " + $0.1 })
        XCTAssertEqual(a.tokenID("<|endoftext|>"), 0)
        XCTAssertEqual(a.padTokenID, 1)
        // Saved and reloaded from both layouts, it encodes the same.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("trained-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try a.save(to: out)
        let fromJSON = try BPETokenizer.load(directory: out)
        try FileManager.default.removeItem(at: out.appendingPathComponent("tokenizer.json"))
        let fromFiles = try BPETokenizer.load(directory: out)
        for t in try corpus().prefix(40) {
            XCTAssertEqual(fromJSON.encode(t), a.encode(t))
            XCTAssertEqual(fromFiles.encode(t), a.encode(t))
        }
        XCTAssertEqual(fromFiles.padTokenID, 1, "pad token comes back from special_tokens_map.json")
    }

    /// `add_prefix_space` in tokenizer_config.json gives every stretch of text between added
    /// tokens a leading space, as transformers reads it (ids from AutoTokenizer 5.25 on this
    /// fixture with the flag set); tokenizer.json's own flag is not what transformers goes by,
    /// and the flag survives a save and load.
    func testAddPrefixSpaceIsReadAsTransformersReadsIt() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("prefix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try FileManager.default.copyItem(at: dir, to: out)
        let configURL = out.appendingPathComponent("tokenizer_config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["add_prefix_space"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let tok = try BPETokenizer.load(directory: out)
        XCTAssertTrue(tok.addPrefixSpace)
        let expected: [(String, [Int])] = [
            ("Hello world", [341, 274, 259, 513]), (" Hello world", [341, 274, 259, 513]),
            ("<|endoftext|>Order #4821 is late", [0, 373, 272, 21, 25, 19, 18, 281, 510]),
            ("Hi<|endoftext|>there", [336, 0, 338, 367]), ("\nthanks", [222, 200, 85, 73, 339, 84]),
        ]
        for (text, ids) in expected { XCTAssertEqual(tok.encode(text), ids, text.debugDescription) }
        let saved = out.appendingPathComponent("saved")
        try tok.save(to: saved)
        XCTAssertTrue(try BPETokenizer.load(directory: saved).addPrefixSpace)
        try FileManager.default.removeItem(at: saved.appendingPathComponent("tokenizer.json"))
        XCTAssertTrue(try BPETokenizer.load(directory: saved).addPrefixSpace, "from vocab.json + merges.txt")
        // tokenizer.json saying true does not count without tokenizer_config.json saying so.
        config["add_prefix_space"] = nil
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let jsonURL = out.appendingPathComponent("tokenizer.json")
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as! [String: Any]
        var pre = root["pre_tokenizer"] as! [String: Any]
        pre["add_prefix_space"] = true
        root["pre_tokenizer"] = pre
        try JSONSerialization.data(withJSONObject: root).write(to: jsonURL)
        XCTAssertFalse(try BPETokenizer.load(directory: out).addPrefixSpace)
        XCTAssertEqual(try BPETokenizer.load(directory: out).encode("Hello world"), try BPETokenizer.load(directory: dir).encode("Hello world"))
    }

    /// Numbers in the corpus get digit merges by default; with `splitDigits` none, so any number
    /// encodes as one token per digit and reads the same after a space, a '#' or a letter.
    func testSplitDigitsKeepsEveryDigitItsOwnToken() throws {
        let texts = try corpus() + (0..<200).map { "Order #\(1000 + 37 * $0) and order \(20_000 + 11 * $0) again" }
        func digitTokens(_ t: BPETokenizer) -> [String] {
            t.vocab.keys.filter { $0.contains { $0.isASCII && $0.isNumber } }.sorted()
        }
        let merged = try BPETokenizer.train(texts: texts, vocabSize: 600, specialTokens: ["<|endoftext|>"])
        XCTAssertTrue(digitTokens(merged).contains { $0.count > 1 }, "the plain trainer merges digits on this corpus")
        let split = try BPETokenizer.train(texts: texts, vocabSize: 600, specialTokens: ["<|endoftext|>"], splitDigits: true)
        XCTAssertEqual(digitTokens(split), (0...9).map(String.init))
        XCTAssertEqual(split.vocabSize, 600, "the merges numbers would have used go to words")
        for text in ["Order #4812 came", "order 73921.", "x19y"] {
            let digits = text.filter(\.isNumber).map(String.init)
            let pieces = split.encode(text).map { split.decode([$0]) }
            XCTAssertEqual(pieces.filter { $0.contains { $0.isNumber } }, digits, text)
            XCTAssertEqual(split.decode(split.encode(text)), text)
        }
        // Saved and reloaded through the GPT-2 files, it still splits: the rule lives in merges.txt.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try split.save(to: out)
        try FileManager.default.removeItem(at: out.appendingPathComponent("tokenizer.json"))
        let reloaded = try BPETokenizer.load(directory: out)
        XCTAssertEqual(reloaded.encode("Order #4812 came"), split.encode("Order #4812 came"))
    }
}
