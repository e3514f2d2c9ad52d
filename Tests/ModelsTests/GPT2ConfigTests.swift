import XCTest
import Foundation
import Support
@testable import Models

/// `config.json` as transformers writes and reads it: its files load, absent keys take
/// transformers' defaults, what we write reads back equal, and unsupported settings are refused
/// with the file and the field named.
final class GPT2ConfigTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gpt2config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func config(_ json: String, name: String = "config.json") throws -> URL {
        let url = tmp.appendingPathComponent(name)
        try Data(json.utf8).write(to: url)
        return url
    }

    func testLoadsTransformersWrittenConfigs() throws {
        let lm = try GPT2Config.load(FixturePaths.url("tiny-gpt2-hub/config.json"))
        XCTAssertEqual([lm.vocabSize, lm.nPositions, lm.nEmbd, lm.nLayer, lm.nHead], [50257, 64, 16, 2, 2])
        XCTAssertEqual(lm.headDim, 8)
        XCTAssertEqual(lm.innerDim, 64, "n_inner null means 4·n_embd")
        XCTAssertEqual(lm.architectures, ["GPT2LMHeadModel"])
        XCTAssertFalse(lm.isRewardModel)
        XCTAssertEqual(lm.residPdrop, 0); XCTAssertEqual(lm.layerNormEpsilon, 1e-5)
        XCTAssertTrue(lm.tieWordEmbeddings)
        XCTAssertEqual(lm.eosTokenID, 50256)

        let rm = try GPT2Config.load(FixturePaths.url("tiny-gpt2-rm/config.json"))
        XCTAssertTrue(rm.isRewardModel)
        XCTAssertEqual(rm.numLabels, 1, "transformers writes id2label, not num_labels")
        XCTAssertEqual(rm.padTokenID, 50256)
        XCTAssertEqual(rm.extra["summary_type"], .string("cls_index"), "unmodelled keys are kept")
    }

    func testAbsentKeysTakeTransformersDefaults() throws {
        let c = try GPT2Config.load(config(#"{"model_type": "gpt2"}"#))
        XCTAssertEqual([c.vocabSize, c.nPositions, c.nEmbd, c.nLayer, c.nHead, c.innerDim], [50257, 1024, 768, 12, 12, 3072])
        XCTAssertEqual(c.activationFunction, "gelu_new")
        XCTAssertEqual([c.residPdrop, c.embdPdrop, c.attnPdrop], [0.1, 0.1, 0.1])
        XCTAssertEqual(c.layerNormEpsilon, 1e-5)
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertEqual(c.bosTokenID, 50256); XCTAssertEqual(c.eosTokenID, 50256); XCTAssertNil(c.padTokenID)
        XCTAssertNil(c.numLabels)
        XCTAssertEqual(c, GPT2Config())
        // A smaller vocabulary does not hold the default 50256: no such token, as transformers
        // loads it (an explicit id outside the vocabulary stays an error).
        let small = try GPT2Config.load(config(#"{"model_type": "gpt2", "vocab_size": 1024}"#))
        XCTAssertNil(small.bosTokenID); XCTAssertNil(small.eosTokenID)
        XCTAssertThrowsError(try GPT2Config.load(config(#"{"model_type": "gpt2", "vocab_size": 1024, "eos_token_id": 50256}"#)))
    }

    func testOldAliasesAndExplicitValues() throws {
        let c = try GPT2Config.load(config(#"""
        {"model_type": "gpt2", "n_ctx": 512, "n_embd": 64, "n_head": 4, "n_inner": 100, "architectures": null,
         "activation_function": "gelu_pytorch_tanh", "tie_word_embeddings": false, "bos_token_id": null,
         "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false, "reorder_and_upcast_attn": false}
        """#))
        XCTAssertEqual(c.nPositions, 512, "n_ctx is the old name of n_positions")
        XCTAssertEqual(c.innerDim, 100)
        XCTAssertEqual(c.headDim, 16)
        XCTAssertEqual(c.architectures, ["GPT2LMHeadModel"])
        XCTAssertFalse(c.tieWordEmbeddings)
        XCTAssertNil(c.bosTokenID)
        XCTAssertEqual(c.activationFunction, "gelu_pytorch_tanh")
        let both = try GPT2Config.load(config(#"{"model_type": "gpt2", "n_ctx": 512, "n_positions": 256}"#))
        XCTAssertEqual(both.nPositions, 256, "n_positions wins over the alias")
    }

    func testWriteReadsBackEqualAndHasWhatTransformersNeeds() throws {
        var c = try GPT2Config.preset("tiny", vocabSize: 300, context: 96)
        c.padTokenID = 1; c.eosTokenID = 0; c.bosTokenID = 0
        c.architectures = ["GPT2ForSequenceClassification"]; c.numLabels = 1
        let url = tmp.appendingPathComponent("model/config.json")
        try c.write(to: url)
        let back = try GPT2Config.load(url)
        XCTAssertEqual(back.vocabSize, 300); XCTAssertEqual(back.nPositions, 96); XCTAssertEqual(back.numLabels, 1)
        XCTAssertTrue(back.isRewardModel)
        XCTAssertEqual(try GPT2Config.load({ try back.write(to: url); return url }()), back, "a second round trip is stable")

        let text = try String(contentsOf: url, encoding: .utf8)
        let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        XCTAssertEqual(obj["model_type"] as? String, "gpt2")
        XCTAssertEqual(obj["architectures"] as? [String], ["GPT2ForSequenceClassification"])
        XCTAssertNotNil(obj["transformers_version"] as? String)
        XCTAssertEqual(obj["id2label"] as? [String: String], ["0": "LABEL_0"])
        XCTAssertTrue(text.contains("\n"), "pretty-printed")
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        XCTAssertEqual(keys, keys.sorted(), "top-level keys sorted")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path), ["config.json"])
    }

    func testUnknownKeysSurviveARoundTrip() throws {
        let src = try config(#"{"model_type": "gpt2", "summary_type": "cls_index", "task_specific_params": {"text-generation": {"max_length": 50}}}"#)
        let c = try GPT2Config.load(src)
        let out = tmp.appendingPathComponent("out.json")
        try c.write(to: out)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
        XCTAssertEqual(obj["summary_type"] as? String, "cls_index")
        XCTAssertEqual((obj["task_specific_params"] as? [String: [String: Int]])?["text-generation"]?["max_length"], 50)
    }

    func testWrittenDtypeIsTheFloat32OfTheWeights() throws {
        // transformers 5 writes "dtype", 4.x "torch_dtype"; a half-precision input's must not
        // survive into the config of the float32 weights written beside it.
        let src = try config(#"{"model_type": "gpt2", "dtype": "float16", "torch_dtype": "bfloat16"}"#)
        let out = tmp.appendingPathComponent("dtype.json")
        try GPT2Config.load(src).write(to: out)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
        XCTAssertEqual(obj["dtype"] as? String, "float32")
        XCTAssertEqual(obj["torch_dtype"] as? String, "float32")
    }

    func testCodableGoesThroughTheSameJSON() throws {
        let url = FixturePaths.url("tiny-gpt2-rm/config.json")
        let decoded = try JSONDecoder().decode(GPT2Config.self, from: Data(contentsOf: url))
        XCTAssertEqual(decoded, try GPT2Config.load(url))
        // Encoding adds the keys transformers writes (torch_dtype, …), so compare what is written.
        let again = try JSONDecoder().decode(GPT2Config.self, from: JSONEncoder().encode(decoded))
        XCTAssertEqual(again.json, decoded.json)
        XCTAssertEqual(try JSONDecoder().decode(GPT2Config.self, from: JSONEncoder().encode(again)), again)
        XCTAssertThrowsError(try JSONDecoder().decode(GPT2Config.self, from: Data(#"{"model_type": "gpt2", "n_head": 5}"#.utf8))) { e in
            XCTAssertTrue("\(e)".contains("not divisible by n_head 5"), "\(e)")
        }
    }

    func testPresets() throws {
        let tiny = try GPT2Config.preset("tiny", vocabSize: 2048, context: 128)
        XCTAssertEqual([tiny.nLayer, tiny.nEmbd, tiny.nHead, tiny.vocabSize, tiny.nPositions], [4, 128, 4, 2048, 128])
        let small = try GPT2Config.preset("small", vocabSize: 4096, context: 256)
        XCTAssertEqual([small.nLayer, small.nEmbd, small.nHead, small.headDim], [6, 384, 6, 64])
        let gpt2 = try GPT2Config.preset("gpt2", vocabSize: 50257, context: 1024)
        XCTAssertEqual([gpt2.nLayer, gpt2.nEmbd, gpt2.nHead, gpt2.innerDim, gpt2.vocabSize, gpt2.nPositions], [12, 768, 12, 3072, 50257, 1024])
        XCTAssertEqual(gpt2.eosTokenID, 50256)
        XCTAssertNil(tiny.eosTokenID, "GPT-2's <|endoftext|> id does not exist in a 2048-token vocabulary")
        let url = tmp.appendingPathComponent("preset.json")
        try tiny.write(to: url)
        XCTAssertEqual(try GPT2Config.load(url).nEmbd, 128, "a preset written as is loads")
        XCTAssertThrowsError(try GPT2Config.preset("huge", vocabSize: 10, context: 10)) { e in
            let m = "\(e)"
            for s in ["\"huge\"", "tiny", "small", "gpt2"] { XCTAssertTrue(m.contains(s), "«\(m)» should mention \(s)") }
        }
    }

    func testRejectsUnsupportedOrInconsistentConfigsNamingFileAndField() throws {
        let cases: [(String, String)] = [
            (#"{"model_type": "llama"}"#, "unsupported model_type \"llama\", expected \"gpt2\""),
            (#"{"n_embd": 16}"#, "unsupported model_type (missing)"),
            (#"{"model_type": "gpt2", "n_embd": 10, "n_head": 3}"#, "n_embd 10 is not divisible by n_head 3"),
            (#"{"model_type": "gpt2", "n_head": 0}"#, "n_head must be positive, found 0"),
            (#"{"model_type": "gpt2", "vocab_size": -5}"#, "vocab_size must be positive"),
            (#"{"model_type": "gpt2", "n_inner": 0}"#, "n_inner must be positive"),
            (#"{"model_type": "gpt2", "n_layer": "two"}"#, "field \"n_layer\" should be an integer, found \"two\""),
            (#"{"model_type": "gpt2", "n_embd": 16.5}"#, "field \"n_embd\" should be an integer"),
            (#"{"model_type": "gpt2", "activation_function": "relu"}"#, "unsupported activation_function \"relu\", expected \"gelu_new\""),
            (#"{"model_type": "gpt2", "scale_attn_weights": false}"#, "scale_attn_weights false is not supported"),
            (#"{"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": true}"#, "scale_attn_by_inverse_layer_idx true is not supported"),
            (#"{"model_type": "gpt2", "add_cross_attention": true}"#, "add_cross_attention true is not supported"),
            (#"{"model_type": "gpt2", "tie_word_embeddings": "yes"}"#, "field \"tie_word_embeddings\" should be true or false"),
            (#"{"model_type": "gpt2", "resid_pdrop": 1.5}"#, "resid_pdrop must be in [0, 1), found 1.5"),
            (#"{"model_type": "gpt2", "layer_norm_epsilon": 0}"#, "layer_norm_epsilon must be positive"),
            (#"{"model_type": "gpt2", "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 50256}"#, "eos_token_id 50256 is outside the vocabulary [0, 100)"),
            (#"{"model_type": "gpt2", "architectures": "GPT2LMHeadModel"}"#, "field \"architectures\" should be an array of strings"),
            (#"{"model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"], "id2label": {"0": "a", "1": "b"}}"#, "a reward model needs num_labels 1, found 2"),
            ("{\"model_type\": ", "not a JSON object"),
            ("[1, 2]", "not a JSON object"),
        ]
        for (i, (json, message)) in cases.enumerated() {
            let url = try config(json, name: "case\(i).json")
            XCTAssertThrowsError(try GPT2Config.load(url), json) { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix(url.path + ": "), "«\(m)» should start with the file")
                XCTAssertTrue(m.contains(message), "«\(m)» should mention «\(message)»")
            }
        }
        let missing = tmp.appendingPathComponent("nowhere/config.json")
        XCTAssertThrowsError(try GPT2Config.load(missing)) { e in XCTAssertTrue("\(e)".contains(missing.path), "\(e)") }
    }
}
