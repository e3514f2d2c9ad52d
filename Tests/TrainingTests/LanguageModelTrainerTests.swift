import XCTest
import Foundation
import Models
import Tensors
import Tokenizers
@testable import Training

final class LanguageModelTrainerTests: XCTestCase {
    func makeRun(_ dir: URL, steps: Int) throws -> LanguageModelTrainer {
        let texts = (0..<200).map { "order \($0 % 17) is \(["late", "broken", "fine"][$0 % 3]). thank you." }
        let tok = try BPETokenizer.train(texts: texts, vocabSize: 300, specialTokens: ["<|endoftext|>"])
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 32)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 2; c.residPdrop = 0.1; c.embdPdrop = 0.1
        let model = GPT2(config: c, seed: 1)
        var stream: [Int32] = []
        for t in texts { stream += tok.encodeIDs(t) + [Int32(tok.eosTokenID!)] }
        var config = LanguageModelTrainingConfig()
        config.steps = steps; config.batchSize = 4; config.contextLength = 32; config.learningRate = 3e-3
        config.warmupSteps = 2; config.evalEvery = 4; config.checkpointEvery = 4; config.seed = 5
        let source = try TokenStream(tokens: stream, batchSize: 4, contextLength: 32, padID: 0)
        let eval = [LanguageModelBatch(windows: [Array(stream[0..<33]), Array(stream[40..<73])])]
        return LanguageModelTrainer(model: model, tokenizer: tok, config: config, source: source, evalBatches: eval, runDirectory: dir)
    }

    /// An interrupted run resumed from its checkpoint retraces the uninterrupted run's losses
    /// bit for bit (weights, AdamW moments, data order and dropout streams all restored).
    func testResumeContinuesTheSameLossCurve() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lmt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let a = try makeRun(base.appendingPathComponent("a"), steps: 12)
        try a.train()
        let b = try makeRun(base.appendingPathComponent("b"), steps: 12)
        try b.train(stopAt: 6)  // checkpoint at 4; steps 5–6 are lost, as in a crash
        let resumed = try makeRun(base.appendingPathComponent("b"), steps: 12)
        try resumed.resume()
        XCTAssertEqual(resumed.step, 4)
        try resumed.train()
        let la = Metrics.read(base.appendingPathComponent("a/metrics.jsonl"))
        let lb = Metrics.read(base.appendingPathComponent("b/metrics.jsonl"))
        XCTAssertEqual(la.count, 12)
        XCTAssertEqual(lb.count, 12, "metrics after the checkpoint are rewritten, not duplicated")
        XCTAssertEqual(la.map { $0["loss"]! }, lb.map { $0["loss"]! })
        XCTAssertEqual(la.last!["eval_loss"], lb.last!["eval_loss"])
        XCTAssertLessThan(la.last!["loss"]!, la.first!["loss"]!)
    }

    /// NaN in the loss stops training with the step named.
    func testNonFiniteLossIsReportedWithStep() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try makeRun(dir, steps: 3)
        run.model.finalGain.fill(.nan)
        XCTAssertThrowsError(try run.train()) { e in
            XCTAssertTrue("\(e)".contains("step 0"), "\(e)")
        }
    }
}
