import XCTest
import Foundation
import Models
@testable import Tensors
import Tokenizers
@testable import Training

final class LanguageModelTrainerTests: XCTestCase {
    func makeRun(_ dir: URL, steps: Int, batchSize: Int = 4, accumulation: Int = 1, lanes: Int = 1, dropout: Double = 0.1,
                 modelSeed: UInt64 = 1, layers: Int = 2, lastWord: String = "you") throws -> LanguageModelTrainer {
        let texts = (0..<200).map { "order \($0 % 17) is \(["late", "broken", "fine"][$0 % 3]). thank \(lastWord)." }
        let tok = try BPETokenizer.train(texts: texts, vocabSize: 300, specialTokens: ["<|endoftext|>"])
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 32)
        c.nLayer = layers; c.nEmbd = 32; c.nHead = 2; c.residPdrop = dropout; c.embdPdrop = dropout; c.attnPdrop = dropout
        let model = GPT2(config: c, seed: modelSeed)
        var stream: [Int32] = []
        for t in texts { stream += tok.encodeIDs(t) + [Int32(tok.eosTokenID!)] }
        var config = LanguageModelTrainingConfig()
        config.steps = steps; config.batchSize = batchSize; config.gradientAccumulation = accumulation
        config.contextLength = 32; config.learningRate = 3e-3
        config.warmupSteps = 2; config.evalEvery = 4; config.checkpointEvery = 4; config.seed = 5
        let source = try TokenStream(tokens: stream, batchSize: batchSize, contextLength: 32)
        let eval = [LanguageModelBatch(windows: [Array(stream[0..<33]), Array(stream[40..<73])])]
        let trainer = LanguageModelTrainer(model: model, tokenizer: tok, config: config, source: source, evalBatches: eval, runDirectory: dir)
        trainer.lanes = lanes
        return trainer
    }

    func losses(_ dir: URL) -> [Double] { Metrics.read(dir.appendingPathComponent("metrics.jsonl")).map { $0["loss"]! } }

    /// Micro-batches spread over two model copies give the gradient of one model accumulating
    /// them in turn, up to float rounding (only the order of additions differs), and that is the
    /// gradient of the whole batch: 2 × 2 windows against 1 × 4.
    func testLanesGiveTheWholeBatchGradient() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lanes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let whole = try makeRun(base.appendingPathComponent("whole"), steps: 1, dropout: 0)
        var rng = RNG(seed: 9)
        let windows = whole.source.next(&rng)
        let halves = (0..<2).map { h in
            LanguageModelBatch(windows: (0..<2).map { r in
                let t = windows.lengths[0], row = (2 * h + r) * t
                return Array(windows.ids[row..<row + t]) + [windows.targets[row + t - 1]]
            })
        }
        var grads: [[[Float]]] = []
        for (trainer, batches) in [(whole, [windows]),
                                   (try makeRun(base.appendingPathComponent("one"), steps: 1, batchSize: 2, accumulation: 2, lanes: 1, dropout: 0), halves),
                                   (try makeRun(base.appendingPathComponent("two"), steps: 1, batchSize: 2, accumulation: 2, lanes: 2, dropout: 0), halves)] {
            trainer.model.training = true
            trainer.optimizer.zeroGrad()
            _ = try trainer.accumulateGradients(batches)
            grads.append(trainer.model.parameters.map { Array($0.1.grad!.buffer) })
        }
        for (name, (w, (one, two))) in zip(whole.model.parameters.map(\.0), zip(grads[0], zip(grads[1], grads[2]))) {
            let scale = w.map(abs).max()! + 1e-6
            for i in w.indices {
                XCTAssertEqual(one[i], w[i], accuracy: 1e-5 * scale, "\(name)[\(i)]")
                XCTAssertEqual(two[i], one[i], accuracy: 1e-6 * scale, "\(name)[\(i)]")
            }
        }
    }

    /// With lanes the run does not depend on how many cores run them: side by side on two, or
    /// one after the other on one (the calling thread limited to one core), bit for bit, dropout
    /// included. And it resumes exactly, the copies' dropout streams being drawn from the model's.
    func testLanesGiveTheSameRunOnAnyCoreCountAndResume() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lanes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let both = try makeRun(base.appendingPathComponent("both"), steps: 8, batchSize: 2, accumulation: 3, lanes: 2)
        try both.train()
        let settings = ThreadSettings.current
        let saved = settings.workers
        settings.workers = 1
        defer { settings.workers = saved }
        let serial = try makeRun(base.appendingPathComponent("serial"), steps: 8, batchSize: 2, accumulation: 3, lanes: 2)
        try serial.train(stopAt: 6)  // checkpoint at 4
        let resumed = try makeRun(base.appendingPathComponent("serial"), steps: 8, batchSize: 2, accumulation: 3, lanes: 2)
        try resumed.resume()
        try resumed.train()
        XCTAssertEqual(losses(base.appendingPathComponent("both")), losses(base.appendingPathComponent("serial")))
        for ((name, a), (_, b)) in zip(both.model.parameters, resumed.model.parameters) {
            XCTAssertEqual(Array(a.buffer), Array(b.buffer), name)
        }
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

    /// A resume with other data, another starting model or another shape is refused, naming
    /// what differs, and leaves the checkpoint as it was; the same inputs resume.
    func testResumeRefusesOtherDataOrStartingPoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeRun(dir, steps: 8).train(stopAt: 5)  // checkpoint at 4
        let stateURL = dir.appendingPathComponent("checkpoint-last/trainer_state.json")
        let before = try Data(contentsOf: stateURL)
        for (other, field) in [(try makeRun(dir, steps: 8, lastWord: "u"), "train_data"),
                               (try makeRun(dir, steps: 8, modelSeed: 2), "initial_weights"),
                               (try makeRun(dir, steps: 8, layers: 3), "model \"2 layers")] {
            XCTAssertThrowsError(try other.resume()) { error in
                XCTAssertTrue("\(error)".contains(field) && "\(error)".contains("would mix two runs"), "\(error)")
            }
        }
        // Settings are named as the caller calls them (a command-line tool: by its flags).
        let longer = try makeRun(dir, steps: 9)
        longer.settingNames = ["steps": "--steps"]
        XCTAssertThrowsError(try longer.resume()) { error in
            XCTAssertTrue("\(error)".contains("--steps 8 in the checkpoint, 9 now"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: stateURL), before)
        let same = try makeRun(dir, steps: 8)
        try same.resume()
        XCTAssertEqual(same.step, 4)
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
