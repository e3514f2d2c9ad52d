import XCTest
import Foundation
import Tensors
@testable import Models

/// The same checkpoints, the same numbers as Hugging Face transformers (fixtures written by
/// Scripts/reference/make_model_fixtures.py).
final class TransformersParityTests: XCTestCase {
    func lmReference(_ name: String) throws -> [String: Any] {
        try FixturePaths.reference()[name] as! [String: Any]
    }

    func checkLanguageModel(_ name: String) throws {
        let model = try GPT2.load(directory: FixturePaths.url(name))
        let ref = try lmReference(name)
        let lines = ref["lines"] as! [[String: Any]]
        var total = 0.0, tokens = 0
        for line in lines {
            let ids = (line["ids"] as! [Int]).map(Int32.init)
            guard ids.count >= 2 else { continue }
            let batch = LanguageModelBatch(sequences: [ids], lossFrom: [1], maxLength: 64)
            let (s, n) = model.negativeLogLikelihood(batch)
            XCTAssertEqual(s, line["nll_sum"] as! Double, accuracy: 1e-4 * abs(line["nll_sum"] as! Double), "\(name) line NLL")
            XCTAssertEqual(n, line["tokens"] as! Int)
            total += s; tokens += n
        }
        let loss = total / Double(tokens)
        let refLoss = ref["loss"] as! Double
        XCTAssertLessThan(abs(loss - refLoss) / refLoss, 1e-4, "\(name): loss \(loss) vs transformers \(refLoss)")

        // First three positions' logits of the first text, first five vocabulary entries.
        let first = (lines[0]["ids"] as! [Int]).map(Int32.init)
        let logits = withNoGrad { model.logits(model.hiddenStates(ids: first, batch: 1, length: first.count)) }
        let refLogits = ref["logits_first_text"] as! [[Double]]
        for t in 0..<3 { for j in 0..<5 {
            XCTAssertEqual(Double(logits[t * model.config.vocabSize + j]), refLogits[t][j], accuracy: 1e-4)
        } }

        // Greedy generation, one prompt at a time and as one left-padded batch.
        var rng = RNG(seed: 0)
        let greedy = ref["greedy"] as! [[String: Any]]
        let prompts = greedy.map { ($0["prompt_ids"] as! [Int]).map(Int32.init) }
        let options = SamplingOptions(greedy: true, maxNewTokens: 12, eosTokenID: 50256)
        for (g, p) in zip(greedy, prompts) {
            let out = model.generate(prompts: [p], options: options, rng: &rng)
            XCTAssertEqual(out.tokens[0].map(Int.init), g["new_ids"] as! [Int], "\(name) greedy")
        }
        let batched = model.generate(prompts: prompts, options: options, rng: &rng)
        XCTAssertEqual(batched.tokens.map { $0.map(Int.init) }, ref["greedy_batched_left_padded"] as! [[Int]], "\(name) batched greedy")
    }

    func testHubLayoutFloat32() throws { try checkLanguageModel("tiny-gpt2-hub") }

    func testPrefixedLayoutFloat16WithExplicitHead() throws {
        // The file carries lm_head.weight (a tied copy, as torch's state_dict has it) beside wte.
        let file = try SafeTensors.load(FixturePaths.url("tiny-gpt2-prefixed/model.safetensors"))
        XCTAssertEqual(file.dtype("lm_head.weight"), "F16")
        XCTAssertNotNil(file.entries["transformer.wte.weight"])
        let model = try GPT2.load(directory: FixturePaths.url("tiny-gpt2-prefixed"))
        XCTAssertNil(model.untiedHead, "tie_word_embeddings is true: the head is wte")
        try checkLanguageModel("tiny-gpt2-prefixed")
    }

    func testRewardModelScores() throws {
        let rm = try RewardModel.load(directory: FixturePaths.url("tiny-gpt2-rm"))
        let ref = try lmReference("tiny-gpt2-rm")
        let ids = (ref["ids"] as! [[Int]]).map { $0.map(Int32.init) }
        let scores = rm.score(ids, batchSize: 3)
        for (s, r) in zip(scores, ref["scores"] as! [Double]) { XCTAssertEqual(Double(s), r, accuracy: 1e-4) }
        // transformers reads the score at the last token that is not pad_token_id (here EOS):
        // pads after a text leave its score as it was.
        let pad = Int32(try XCTUnwrap(rm.trunk.config.padTokenID))
        XCTAssertFalse(ids.contains { $0.last == pad })
        for (s, r) in zip(rm.score(ids.map { $0 + [pad, pad] }, batchSize: 3), ref["scores"] as! [Double]) { XCTAssertEqual(Double(s), r, accuracy: 1e-4) }
        // transformers' batched left-padded call keeps positions 0…L−1 for pads too (it does not
        // derive position ids from the mask outside generate), which shifts the scores; we pin
        // that behaviour by reproducing it with explicit positions.
        let three = Array(ids.prefix(3)), l = three.map(\.count).max()!
        var flat = [Int32](), mask = [Float]()
        for s in three { flat += Array(repeating: 50256, count: l - s.count) + s; mask += Array(repeating: 0, count: l - s.count) + Array(repeating: 1, count: s.count) }
        let positions = (0..<3).flatMap { _ in (0..<l).map(Int32.init) }
        let h = withNoGrad { rm.trunk.hiddenStates(ids: flat, batch: 3, length: l, keyMask: mask, positions: positions) }
        let last = withNoGrad { linear(h.gatherRows((0..<3).map { $0 * l + l - 1 }), rm.scoreWeight, transposedWeight: true) }
        for (s, r) in zip(last.toArray(), ref["left_padded_batch_scores"] as! [Double]) { XCTAssertEqual(Double(s), r, accuracy: 1e-4) }
    }

    func testSaveThenLoadRoundTripsBitForBit() throws {
        let model = try GPT2.load(directory: FixturePaths.url("tiny-gpt2-prefixed"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let again = try GPT2.load(directory: dir)
        for ((n, a), (_, b)) in zip(model.parameters, again.parameters) { XCTAssertEqual(a.toArray(), b.toArray(), n) }
        let rm = try RewardModel.load(directory: FixturePaths.url("tiny-gpt2-rm"))
        rm.normalization = (0.5, 2)
        try rm.save(to: dir)
        let rm2 = try RewardModel.load(directory: dir)
        XCTAssertEqual(rm2.scoreWeight.toArray(), rm.scoreWeight.toArray())
        XCTAssertEqual(rm2.normalization?.mean, 0.5)
    }
}
