import XCTest
import Foundation
import Tensors
@testable import Models

/// Corrupt or mismatched checkpoints fail with one message naming the file and the problem.
final class BadInputTests: XCTestCase {
    var tmp: URL!
    override func setUp() { tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)") ; try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true) }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    func expectError(_ contains: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(contains), "«\(e)» should mention «\(contains)»", file: file, line: line)
        }
    }

    func writeSafetensors(header: String, data: [UInt8], to name: String = "x.safetensors") -> URL {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let url = tmp.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url
    }

    func testSafetensorsRoundTripAndDtypes() throws {
        let a = Tensor([1, -2.5, 3e-8, 65504, .infinity], shape: [5])
        for dtype in ["F32", "F16", "BF16"] {
            let url = tmp.appendingPathComponent("\(dtype).safetensors")
            try SafeTensors.save([("a", a), ("b", Tensor([7], shape: [1, 1]))], metadata: ["format": "pt"], dtype: dtype, to: url)
            let st = try SafeTensors.load(url)
            XCTAssertEqual(st.names, ["a", "b"])
            XCTAssertEqual(st.metadata["format"], "pt")
            XCTAssertEqual(st.shape("b"), [1, 1])
            let back = try st.floats("a")
            XCTAssertEqual(back[0], 1); XCTAssertEqual(back[1], -2.5); XCTAssertEqual(back[4], .infinity)
            if dtype == "F16" { XCTAssertEqual(back[3], 65504); XCTAssertEqual(back[2], 5.9604645e-8) }  // nearest half subnormal (2^-24)
        }
        XCTAssertEqual(halfToFloat(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertTrue(halfToFloat(0x7E00).isNaN)
    }

    func testCorruptSafetensorsNameFileAndTensor() throws {
        let short = tmp.appendingPathComponent("short.safetensors")
        FileManager.default.createFile(atPath: short.path, contents: Data([1, 2, 3]))
        expectError("short.safetensors: truncated") { _ = try SafeTensors.load(short) }
        let past = writeSafetensors(header: "{}", data: [], to: "past.safetensors")
        var bytes = try Data(contentsOf: past); bytes[0] = 200
        try bytes.write(to: past)
        expectError("runs past the end") { _ = try SafeTensors.load(past) }
        expectError("not a valid JSON") { _ = try SafeTensors.load(self.writeSafetensors(header: "{nope", data: [])) }
        expectError("tensor \"w\": data_offsets [0, 16] outside") {
            _ = try SafeTensors.load(self.writeSafetensors(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0]))
        }
        expectError("tensor \"w\": holds 8 bytes but F32 [4] needs 16") {
            _ = try SafeTensors.load(self.writeSafetensors(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))
        }
        expectError("unknown dtype \"Q4\"") {
            _ = try SafeTensors.load(self.writeSafetensors(header: #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
        }
        expectError("missing model config") { _ = try GPT2.load(directory: self.tmp) }
        try FileManager.default.copyItem(at: FixturePaths.url("tiny-gpt2-hub/config.json"), to: tmp.appendingPathComponent("config.json"))
        expectError("missing model weights (model.safetensors)") { _ = try GPT2.load(directory: self.tmp) }
    }

    func testConfigErrors() throws {
        let url = tmp.appendingPathComponent("config.json")
        try #"{"model_type": "llama"}"#.write(to: url, atomically: true, encoding: .utf8)
        expectError("unsupported model_type \"llama\"") { _ = try GPT2Config.load(url) }
        try #"{"model_type": "gpt2", "n_embd": 10, "n_head": 3}"#.write(to: url, atomically: true, encoding: .utf8)
        expectError("n_embd 10 is not divisible by n_head 3") { _ = try GPT2Config.load(url) }
        try #"{"model_type": "gpt2", "activation_function": "relu"}"#.write(to: url, atomically: true, encoding: .utf8)
        expectError("unsupported activation_function") { _ = try GPT2Config.load(url) }
        try #"{"model_type": "gpt2", "n_layer": "two"}"#.write(to: url, atomically: true, encoding: .utf8)
        expectError("field \"n_layer\" should be an integer") { _ = try GPT2Config.load(url) }
    }

    /// A config whose sizes disagree with the tensors names the tensor and both shapes.
    func testShapeMismatchBetweenConfigAndWeights() throws {
        let src = FixturePaths.url("tiny-gpt2-hub")
        try FileManager.default.copyItem(at: src.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
        var c = try GPT2Config.load(src.appendingPathComponent("config.json"))
        c.nEmbd = 32
        try c.write(to: tmp.appendingPathComponent("config.json"))
        expectError("tensor \"wte.weight\" has shape [50257, 16] but config.json implies [50257, 32]") { _ = try GPT2.load(directory: self.tmp) }
        c.nEmbd = 16; c.nLayer = 3
        try c.write(to: tmp.appendingPathComponent("config.json"))
        expectError("missing tensor \"transformer.h.2.ln_1.weight\"") { _ = try GPT2.load(directory: self.tmp) }
    }
}
