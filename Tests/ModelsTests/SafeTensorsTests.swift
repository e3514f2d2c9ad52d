import XCTest
import Foundation
import Support
import Tensors
@testable import Models

/// The safetensors reader and writer: files written by Python's `safetensors` read back bit for
/// bit, Swift-written files round-trip, and every kind of corruption is reported with the file
/// and the tensor named rather than trapping.
final class SafeTensorsTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// Asserts `body` throws and its message contains every string of `needles`.
    func assertError(_ needles: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for n in needles { XCTAssertTrue(text.contains(n), "«\(text)» should mention «\(n)»", file: file, line: line) }
        }
    }

    /// A safetensors file from raw parts, so tests can write what no correct writer would.
    func rawFile(_ name: String, header: String, data: [UInt8], headerLength: UInt64? = nil) -> URL {
        var bytes = [UInt8]()
        withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let url = tmp.appendingPathComponent(name)
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data(bytes)))
        return url
    }

    // MARK: Python-written files

    func testPythonWrittenFixtureReadsEveryDtypeBitExactly() throws {
        let dir = FixturePaths.url("model-reference")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("dtypes.json"))) as! [String: Any]
        let tensors = expected["tensors"] as! [String: [String: Any]]
        let file = try SafeTensors.load(dir.appendingPathComponent("dtypes.safetensors"))
        XCTAssertEqual(file.names, tensors.keys.sorted())
        XCTAssertEqual(file.metadata, expected["metadata"] as! [String: String])
        let torchToSafetensors = ["float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64", "int64": "I64",
                                  "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
                                  "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"]
        for (name, info) in tensors {
            XCTAssertEqual(file.dtype(name), torchToSafetensors[info["dtype"] as! String], name)
            XCTAssertEqual(file.shape(name), info["shape"] as? [Int], name)
            let t = try file.tensor(name)
            XCTAssertEqual(t.shape, info["shape"] as! [Int], name)
            let want = (info["float32_bits"] as! [Int]).map { Float(bitPattern: UInt32($0)) }
            let got = try file.floats(name)
            XCTAssertEqual(got.count, want.count, name)
            for (i, (g, w)) in zip(got, want).enumerated() {
                if w.isNaN { XCTAssertTrue(g.isNaN, "\(name)[\(i)]: expected NaN, got \(g)") }
                else { XCTAssertEqual(g.bitPattern, w.bitPattern, "\(name)[\(i)]: \(g) vs torch \(w)") }
            }
        }
        // The special values this fixture exists for, spelled out.
        let f16 = try file.floats("f16")
        XCTAssertEqual(f16[4], 65504)
        XCTAssertEqual(f16[6], Float(sign: .plus, exponent: -24, significand: 1), "smallest F16 subnormal")
        XCTAssertEqual(f16[7], Float(1023) * Float(sign: .plus, exponent: -24, significand: 1), "largest F16 subnormal")
        XCTAssertEqual(f16[8], .infinity); XCTAssertEqual(f16[9], -.infinity); XCTAssertTrue(f16[10].isNaN)
        XCTAssertEqual(f16[1].sign, .minus, "negative zero keeps its sign")
        let bf16 = try file.floats("bf16")
        XCTAssertEqual(bf16[6], Float(sign: .plus, exponent: -133, significand: 1), "smallest BF16 subnormal")
        XCTAssertEqual(bf16[8], .infinity); XCTAssertTrue(bf16[10].isNaN)
    }

    func testTransformersCheckpointsLoadWithTheirNamesAndShapes() throws {
        let hub = try SafeTensors.load(FixturePaths.url("tiny-gpt2-hub/model.safetensors"))
        XCTAssertEqual(hub.shape("wte.weight"), [50257, 16])
        XCTAssertEqual(hub.shape("h.0.attn.c_attn.weight"), [16, 48], "Conv1D weights are stored [in, out]")
        XCTAssertNil(hub.shape("lm_head.weight"))
        XCTAssertEqual(hub.metadata["format"], "pt")
        let prefixed = try SafeTensors.load(FixturePaths.url("tiny-gpt2-prefixed/model.safetensors"))
        XCTAssertEqual(prefixed.dtype("transformer.wte.weight"), "F16")
        XCTAssertEqual(try prefixed.floats("lm_head.weight"), try prefixed.floats("transformer.wte.weight"))
        let rm = try SafeTensors.load(FixturePaths.url("tiny-gpt2-rm/model.safetensors"))
        XCTAssertEqual(rm.shape("score.weight"), [1, 16])
    }

    func testTensorIsCopiedOutOfTheMapping() throws {
        let url = tmp.appendingPathComponent("copy.safetensors")
        try SafeTensors.save([("x", Tensor([1, 2, 3], shape: [3]))], to: url)
        var t: Tensor?
        do { t = try SafeTensors.load(url).tensor("x") }  // the map is released at the end of the scope
        try FileManager.default.removeItem(at: url)
        XCTAssertEqual(t?.toArray(), [1, 2, 3])
    }

    // MARK: Writing

    func testFloat32RoundTripIsBitExact() throws {
        var rng = RNG(seed: 7)
        let big = Tensor.randn([3, 5, 7], std: 3, rng: &rng)
        let special = Tensor([0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1.0 / 3], shape: [2, 4])
        let tensors: [(String, Tensor)] = [("z.last", big), ("a.first", special), ("scalar", Tensor(scalar: -4.25)),
                                           ("empty", Tensor(zeros: [0, 3]))]
        let url = tmp.appendingPathComponent("out/model.safetensors")  // directory created on write
        try SafeTensors.save(tensors, metadata: ["format": "pt", "step": "12"], to: url)
        let back = try SafeTensors.load(url)
        XCTAssertEqual(back.names, ["a.first", "empty", "scalar", "z.last"])
        XCTAssertEqual(back.metadata, ["format": "pt", "step": "12"])
        for (name, t) in tensors {
            XCTAssertEqual(back.dtype(name), "F32")
            XCTAssertEqual(back.shape(name), t.shape)
            XCTAssertEqual(try back.floats(name).map(\.bitPattern), t.toArray().map(\.bitPattern), name)
        }
        // Data follows the header on an 8-byte boundary, and tensors are laid out in the given order.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertEqual(bytes.count, 8 + Int(headerLength) + 4 * (105 + 8 + 1))
        XCTAssertEqual(back.entries["z.last"]?.begin, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path), ["model.safetensors"],
                       "no temporary file left behind")
    }

    func testHalfAndBFloat16WritesRoundToNearestEven() throws {
        let ulp24 = Float(sign: .plus, exponent: -24, significand: 1)
        // F16: 65520 is halfway to the next binade and rounds to inf; 2^-25 ties to even (0);
        // 0.75·2^-24 rounds up to the smallest subnormal.
        let halfIn: [Float] = [1, -2.5, 65504, 65520, ulp24 / 2, 0.75 * ulp24, .infinity, .nan, -0.0, 0.1]
        let halfOut: [Float] = [1, -2.5, 65504, .infinity, 0, ulp24, .infinity, .nan, -0.0, 0.0999755859375]
        // BF16 (7 fraction bits): 1 + 2^-8 ties to 1; 1 + 3·2^-8 ties up to 1 + 2^-6.
        let bfIn: [Float] = [1, 1 + 0x1p-8, 1 + 3 * 0x1p-8, -2.5, .infinity, .nan, 3.3895314e38, 0.1]
        let bfOut: [Float] = [1, 1, 1 + 0x1p-6, -2.5, .infinity, .nan, 3.3895314e38, 0.10009765625]
        for (dtype, input, output) in [("F16", halfIn, halfOut), ("BF16", bfIn, bfOut)] {
            let url = tmp.appendingPathComponent("\(dtype).safetensors")
            try SafeTensors.save([("v", Tensor(input, shape: [input.count]))], dtype: dtype, to: url)
            let back = try SafeTensors.load(url)
            XCTAssertEqual(back.dtype("v"), dtype)
            let got = try back.floats("v")
            for (i, (g, w)) in zip(got, output).enumerated() {
                if w.isNaN { XCTAssertTrue(g.isNaN, "\(dtype)[\(i)]") } else { XCTAssertEqual(g.bitPattern, w.bitPattern, "\(dtype)[\(i)]: \(g) vs \(w)") }
            }
            if let keep = ProcessInfo.processInfo.environment["RLHF_KEEP_SAFETENSORS"] {
                // Hand check that Python's safetensors reads Swift-written files: see the report.
                try? FileManager.default.copyItem(at: url, to: URL(fileURLWithPath: keep).appendingPathComponent(url.lastPathComponent))
            }
        }
        // All 65536 half bit patterns convert exactly as Swift's own Float16 → Float does.
        for h in UInt16.min...UInt16.max {
            let want = Float(Float16(bitPattern: h))
            let got = halfToFloat(h)
            if want.isNaN { XCTAssertTrue(got.isNaN) } else if got.bitPattern != want.bitPattern { XCTFail("half 0x\(String(h, radix: 16)): \(got) vs \(want)"); break }
        }
    }

    func testSaveRejectsWhatItCannotWriteAndKeepsTheOldFile() throws {
        let url = tmp.appendingPathComponent("keep.safetensors")
        try SafeTensors.save([("a", Tensor([1], shape: [1]))], to: url)
        let before = try Data(contentsOf: url)
        assertError(["cannot write dtype I8", url.path]) { try SafeTensors.save([("a", Tensor([2], shape: [1]))], dtype: "I8", to: url) }
        assertError(["\"a\" appears twice"]) { try SafeTensors.save([("a", Tensor([2], shape: [1])), ("a", Tensor([3], shape: [1]))], to: url) }
        assertError(["__metadata__", "reserved"]) { try SafeTensors.save([("__metadata__", Tensor([2], shape: [1]))], to: url) }
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["keep.safetensors"])
    }

    // MARK: Corrupt files

    func testTruncatedFileNamesFileAndTensor() throws {
        let url = tmp.appendingPathComponent("cut.safetensors")
        try SafeTensors.save([("a", Tensor([1, 2], shape: [2])), ("b", Tensor([3, 4, 5], shape: [3]))], to: url)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 5).write(to: url)
        assertError([url.path, "tensor \"b\"", "truncated"]) { _ = try SafeTensors.load(url) }
        try bytes.prefix(5).write(to: url)
        assertError([url.path, "too short for the 8-byte header length"]) { _ = try SafeTensors.load(url) }
        try bytes.prefix(20).write(to: url)
        assertError([url.path, "runs past the end of the 20-byte file"]) { _ = try SafeTensors.load(url) }
    }

    func testCorruptHeadersNameFileAndTensor() throws {
        let ok = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        let cases: [(String, String, [UInt8], [String])] = [
            ("json", "{\"w\": {nope", [], ["header is not a valid JSON object"]),
            ("array", "[1, 2]", [], ["header is not a valid JSON object"]),
            ("range", #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, [0, 0, 0, 0], ["tensor \"w\"", "data_offsets [0, 16] outside the 4 data bytes"]),
            ("negative", #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, [0, 0, 0, 0], ["tensor \"w\"", "outside"]),
            ("reversed", #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, [0, 0, 0, 0], ["tensor \"w\"", "outside"]),
            ("size", #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8), ["tensor \"w\"", "holds 8 bytes but F32 [4] needs 16"]),
            ("dtype", #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, [0], ["tensor \"w\"", "unknown dtype \"Q4\"", "F16"]),
            ("nodtype", #"{"w":{"shape":[1],"data_offsets":[0,1]}}"#, [0], ["tensor \"w\"", "missing dtype"]),
            ("noshape", #"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#, [0], ["tensor \"w\"", "missing shape"]),
            ("badshape", #"{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, [0], ["tensor \"w\"", "shape entry -1"]),
            ("fracshape", #"{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}"#, [0], ["tensor \"w\"", "shape entry 1.5"]),
            ("hugeshape", #"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#, [0, 0, 0, 0], ["tensor \"w\"", "too large"]),
            ("nooffsets", #"{"w":{"dtype":"U8","shape":[1]}}"#, [0], ["tensor \"w\"", "data_offsets must be [begin, end]"]),
            ("entry", #"{"w":[1,2]}"#, [], ["tensor \"w\"", "must be an object"]),
            ("overlap", "{\"a\":\(ok),\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", Array(repeating: 0, count: 12), ["\"a\"", "\"b\"", "overlap"]),
            ("metadata", #"{"__metadata__":[1]}"#, [], ["__metadata__ must be an object"]),
        ]
        for (name, header, data, needles) in cases {
            let url = rawFile("\(name).safetensors", header: header, data: data)
            assertError([url.path] + needles) { _ = try SafeTensors.load(url) }
        }
        // A header length near 2^64 must be reported, not overflow.
        let huge = rawFile("huge.safetensors", header: "{}", data: [], headerLength: UInt64.max - 3)
        assertError([huge.path, "runs past the end"]) { _ = try SafeTensors.load(huge) }
        let zero = rawFile("zero.safetensors", header: "", data: [1, 2, 3], headerLength: 0)
        assertError([zero.path, "header length 0"]) { _ = try SafeTensors.load(zero) }
    }

    func testValidEdgeCasesLoad() throws {
        // Empty tensors share an offset with their neighbour; trailing header spaces; empty header.
        let url = rawFile("edge.safetensors", header: #"{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}   "#, data: [3, 250])
        let f = try SafeTensors.load(url)
        XCTAssertEqual(try f.floats("w"), [3, 250])
        XCTAssertEqual(try f.floats("e"), [])
        XCTAssertEqual(try SafeTensors.load(rawFile("empty.safetensors", header: "{}", data: [])).names, [])
    }

    func testMissingFileAndMissingTensorAreNamed() throws {
        let missing = tmp.appendingPathComponent("absent.safetensors")
        assertError([missing.path, "cannot open"]) { _ = try SafeTensors.load(missing) }
        assertError([tmp.path, "not a regular file"]) { _ = try SafeTensors.load(self.tmp) }
        let url = tmp.appendingPathComponent("one.safetensors")
        try SafeTensors.save([("a", Tensor([1], shape: [1]))], to: url)
        let f = try SafeTensors.load(url)
        XCTAssertNil(f.dtype("nope")); XCTAssertNil(f.shape("nope"))
        assertError([url.path, "no tensor named \"nope\""]) { _ = try f.tensor("nope") }
    }
}

/// Opt-in measurement on a checkpoint-sized file (not run by default: it needs two large files
/// written by Python). Make them with
/// `python -c "import torch; from safetensors.torch import save_file; g=torch.Generator().manual_seed(0); t={f'w{i}': torch.randn(768, 3072, generator=g).half() for i in range(50)}; save_file(t, 'DIR/f16.safetensors'); save_file({k: v.float() for k, v in t.items()}, 'DIR/f32.safetensors')"`
/// and run with `RLHF_SAFETENSORS_BENCH=DIR`. Prints read throughput; asserts that the F16
/// file converts bit-identically to torch's own upcast in the F32 file.
final class SafeTensorsLargeFileTests: XCTestCase {
    func testLargeFileConversionMatchesTorchUpcast() throws {
        guard let dir = ProcessInfo.processInfo.environment["RLHF_SAFETENSORS_BENCH"] else {
            throw XCTSkip("set RLHF_SAFETENSORS_BENCH to a directory holding f16.safetensors and f32.safetensors")
        }
        let base = URL(fileURLWithPath: dir)
        var times: [String: Double] = [:]
        var loaded: [String: [String: Tensor]] = [:]
        for name in ["f32", "f16"] {
            let start = DispatchTime.now().uptimeNanoseconds
            let file = try SafeTensors.load(base.appendingPathComponent("\(name).safetensors"))
            var out: [String: Tensor] = [:]
            for n in file.names { out[n] = try file.tensor(n) }
            times[name] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            loaded[name] = out
        }
        let f32 = loaded["f32"]!, f16 = loaded["f16"]!
        XCTAssertEqual(f32.keys.sorted(), f16.keys.sorted())
        var elements = 0
        for (n, a) in f32 {
            let b = f16[n]!
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertEqual(memcmp(a.pointer, b.pointer, 4 * a.count), 0, "\(n): F16→F32 differs from torch's upcast")
            elements += a.count
        }
        let mb = Double(elements) / 1e6
        print(String(format: "safetensors read: %.1fM elements; F32 %.3f s (%.0f MB/s of file), F16 %.3f s (%.0f MB/s of file)",
                     mb, times["f32"]!, 4 * mb / times["f32"]!, times["f16"]!, 2 * mb / times["f16"]!))
    }
}
