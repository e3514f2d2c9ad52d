import XCTest
import Foundation
import Tensors
@testable import Models

/// Mismatched or incomplete model directories fail with one message naming the file and the problem
/// (corrupt safetensors files themselves are covered by SafeTensorsTests).
final class BadInputTests: XCTestCase {
    var tmp: URL!
    override func setUp() { tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)") ; try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true) }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    func expectError(_ contains: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(contains), "«\(e)» should mention «\(contains)»", file: file, line: line)
        }
    }

    /// A model directory missing its config or weights names what is missing.
    func testMissingModelFiles() throws {
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

    /// A tied model's file holding an lm_head.weight of its own: the same as wte loads; another
    /// is refused, since transformers 5 would use it and transformers 4 would not.
    func testStoredHeadOfATiedModelMustEqualWTE() throws {
        let model = try GPT2.load(directory: FixturePaths.url("tiny-gpt2-hub"))
        XCTAssertTrue(model.config.tieWordEmbeddings)
        try model.save(to: tmp)
        let weights = try SafeTensors.load(tmp.appendingPathComponent("model.safetensors"))
        var named = try weights.names.map { ($0, try weights.tensor($0)) }
        let wte = try weights.tensor("transformer.wte.weight")
        try SafeTensors.save(named + [("lm_head.weight", wte.copy())], metadata: ["format": "pt"], to: tmp.appendingPathComponent("model.safetensors"))
        XCTAssertNoThrow(try GPT2.load(directory: tmp))
        let other = wte.copy()
        other.pointer[3] += 1
        named.append(("lm_head.weight", other))
        try SafeTensors.save(named, metadata: ["format": "pt"], to: tmp.appendingPathComponent("model.safetensors"))
        expectError("tie_word_embeddings true, but lm_head.weight differs from wte.weight") { _ = try GPT2.load(directory: self.tmp) }
    }

    /// A checkpoint in shards (`save_pretrained` with `max_shard_size`) loads as the single file
    /// does, tensor for tensor; a shard missing, or lacking a tensor the index puts in it, is an
    /// error naming the file.
    func testShardedCheckpointLoadsAsTheSingleFile() throws {
        let model = try GPT2.load(directory: FixturePaths.url("tiny-gpt2-hub"))
        try model.save(to: tmp)
        let whole = try SafeTensors.load(tmp.appendingPathComponent("model.safetensors"))
        let names = whole.names
        let halves = [Array(names.prefix(names.count / 2)), Array(names.dropFirst(names.count / 2))]
        var map: [String: String] = [:]
        for (k, half) in halves.enumerated() {
            let file = "model-0000\(k + 1)-of-00002.safetensors"
            try SafeTensors.save(try half.map { ($0, try whole.tensor($0)) }, metadata: ["format": "pt"], to: tmp.appendingPathComponent(file))
            for n in half { map[n] = file }
        }
        let index = tmp.appendingPathComponent("model.safetensors.index.json")
        try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map]).write(to: index)
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("model.safetensors"))
        let sharded = try GPT2.load(directory: tmp)
        for ((name, a), (_, b)) in zip(model.parameters, sharded.parameters) { XCTAssertEqual(a.toArray(), b.toArray(), name) }
        // The index places a tensor in the other shard.
        var wrong = map
        wrong[halves[0][0]] = "model-00002-of-00002.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": wrong]).write(to: index)
        expectError("model-00002-of-00002.safetensors: has no tensor \"\(halves[0][0])\", which model.safetensors.index.json places in it") { _ = try GPT2.load(directory: self.tmp) }
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: index)
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("model-00002-of-00002.safetensors"))
        expectError("model-00002-of-00002.safetensors") { _ = try GPT2.load(directory: self.tmp) }
    }

    /// Weights holding a NaN (a diverged run's) are refused at load, naming the tensor: they
    /// would otherwise sample nothing but EOS, or score NaN, without a word.
    func testNonFiniteWeightsAreRefused() throws {
        let model = try GPT2.load(directory: FixturePaths.url("tiny-gpt2-hub"))
        model.blocks[1].fcWeight.pointer[7] = .nan
        try model.save(to: tmp)
        expectError("tensor \"transformer.h.1.mlp.c_fc.weight\" holds nan at element 7") { _ = try GPT2.load(directory: self.tmp) }
        let rm = RewardModel(initializedFrom: try GPT2.load(directory: FixturePaths.url("tiny-gpt2-hub")), seed: 1)
        rm.scoreWeight.pointer[0] = .infinity
        let rmDir = tmp.appendingPathComponent("rm")
        try rm.save(to: rmDir)
        expectError("tensor \"score.weight\" holds inf") { _ = try RewardModel.load(directory: rmDir) }
    }
}
