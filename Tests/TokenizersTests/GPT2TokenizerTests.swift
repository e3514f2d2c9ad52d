import XCTest
import Foundation
@testable import Tokenizers

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func cases(_ file: String) throws -> [(text: String, ids: [Int])] {
        let data = try Data(contentsOf: root.appendingPathComponent("tokenizer-reference/\(file)"))
        let list = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        return list.map { ($0["text"] as! String, $0["ids"] as! [Int]) }
    }
}

final class GPT2TokenizerTests: XCTestCase {
    static let fromJSON = try! BPETokenizer.load(directory: Fixtures.root.appendingPathComponent("gpt2-tokenizer"))

    func testEncodesHardTextExactlyAsHuggingFace() throws {
        for (text, ids) in try Fixtures.cases("gpt2_hard_texts.json") {
            XCTAssertEqual(Self.fromJSON.encode(text), ids, "text: \(text.debugDescription)")
        }
    }

    func testDecodeReproducesInputByteForByte() throws {
        for (text, ids) in try Fixtures.cases("gpt2_hard_texts.json") {
            XCTAssertEqual(Self.fromJSON.decode(ids), text)
            XCTAssertEqual(Self.fromJSON.decodeBytes(ids), Array(text.utf8))
        }
    }

    func testVocabAndMergesLoadTheSameAsTokenizerJSON() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("gpt2-tokenizer/\(f)"), to: dir.appendingPathComponent(f))
        }
        let plain = try BPETokenizer.load(directory: dir)
        XCTAssertEqual(plain.vocabSize, 50257)
        XCTAssertEqual(plain.eosTokenID, 50256)
        for (text, ids) in try Fixtures.cases("gpt2_hard_texts.json") { XCTAssertEqual(plain.encode(text), ids) }
    }

    func testPartialUTF8DecodesToReplacementNotCrash() {
        let ids = Self.fromJSON.encode("🙂")
        XCTAssertGreaterThan(ids.count, 1)
        XCTAssertEqual(Self.fromJSON.decode([ids[0]]), "\u{FFFD}")
    }

    func testErrorsNameFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try BPETokenizer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("no tokenizer")) }
        try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("gpt2-tokenizer/vocab.json"), to: dir.appendingPathComponent("vocab.json"))
        try "#version: 0.2\nĠ t\nbroken-line-without-space\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("merges.txt:3"), "\($0)") }
        try "{not json".write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("vocab.json"), "\($0)") }
    }
}
