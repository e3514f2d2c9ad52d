import XCTest
@testable import Support

final class JSONLTests: XCTestCase {
    struct Pair: Codable, Equatable { let prompt: String; let chosen: String }

    func testErrorsNameFileLineAndField() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("t-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try "{\"prompt\":\"a\",\"chosen\":\"b\"}\n\n{\"prompt\":\"a\"}\nnot json\n{\"prompt\":1,\"chosen\":\"x\"}\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try JSONL.read(Pair.self, from: url)) { e in
            XCTAssertEqual("\(e)", "\(url.path):3: missing field \"chosen\"")
        }
        let lenient = try JSONL.readLenient(Pair.self, from: url)
        XCTAssertEqual(lenient.records, [Pair(prompt: "a", chosen: "b")])
        XCTAssertEqual(lenient.invalid.count, 3)
        XCTAssertEqual("\(lenient.invalid[1])", "\(url.path):4: not valid JSON")
        XCTAssertTrue("\(lenient.invalid[2])".hasPrefix("\(url.path):5: field \"prompt\""))
    }

    func testReadsAPipeAndNamesAMissingFile() throws {
        // `--data <(…)` hands the command a pipe, which Data(contentsOf:) cannot read on Linux.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        DispatchQueue.global().async { try? "{\"prompt\":\"a\",\"chosen\":\"b\"}\n".write(toFile: path, atomically: false, encoding: .utf8) }
        XCTAssertEqual(try JSONL.read(Pair.self, from: URL(fileURLWithPath: path)), [Pair(prompt: "a", chosen: "b")])
        XCTAssertThrowsError(try JSONL.read(Pair.self, from: URL(fileURLWithPath: path + "-missing"))) {
            XCTAssertEqual("\($0)", "\(path)-missing: no such file")
        }
    }

    func testWriteIsAtomicAndRoundTrips() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try JSONL.write([Pair(prompt: "p\n\"q\"", chosen: "<script>")], to: url)
        XCTAssertEqual(try JSONL.read(Pair.self, from: url), [Pair(prompt: "p\n\"q\"", chosen: "<script>")])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path).filter { $0.contains(url.lastPathComponent + ".tmp") }
        XCTAssertEqual(leftovers, [])
    }
}
