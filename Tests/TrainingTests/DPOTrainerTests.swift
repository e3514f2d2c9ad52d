import XCTest
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
@testable import Training

final class DPOTrainerTests: XCTestCase {
    static let texts = (0..<200).map { "order \($0 % 17) is \(["late", "broken", "fine"][$0 % 3]). thank you! whatever." }

    /// Preferences with a rule to learn: a polite closing beats a dismissive one.
    static func preferences(_ range: Range<Int>) -> [PreferenceRecord] {
        range.map { i in
            PreferenceRecord(prompt: "order \(i % 17) is", chosen: " \(["late", "fine"][i % 2]). thank you!",
                             rejected: " \(["broken", "late"][i % 2]). whatever.")
        }
    }

    func makeTrainer(_ dir: URL, config: DPOTrainer.Config, trainPairs: Range<Int> = 0..<64, heldOutPairs: Range<Int> = 64..<80,
                     referenceSeed: UInt64? = nil) throws -> DPOTrainer {
        let tok = try BPETokenizer.train(texts: Self.texts, vocabSize: 300, specialTokens: ["<|endoftext|>", "<|pad|>"], padToken: "<|pad|>")
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 32)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 2
        c.residPdrop = 0.1; c.embdPdrop = 0.1; c.attnPdrop = 0.1  // on in the config; DPO turns it off
        c.eosTokenID = tok.eosTokenID; c.padTokenID = tok.padTokenID
        let policy = GPT2(config: c, seed: 5)
        let reference = GPT2(config: c, seed: referenceSeed ?? 5)
        return try DPOTrainer(policy: policy, reference: reference, tokenizer: tok, train: Self.preferences(trainPairs),
                              heldOut: Self.preferences(heldOutPairs), config: config, runDirectory: dir)
    }

    func config() -> DPOTrainer.Config {
        var c = DPOTrainer.Config()
        c.epochs = 3; c.batchSize = 8; c.learningRate = 3e-3; c.evalEvery = 8; c.checkpointEvery = 4; c.klPrompts = 8; c.klMaxNewTokens = 12; c.seed = 2
        return c
    }

    func tempDir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("dpo-\(UUID().uuidString)") }

    /// A pair too long for the context keeps one prompt for both answers: cut for the longer
    /// answer, even where the shorter one would have fit with the whole prompt.
    func testALongPairKeepsOnePromptForBothAnswers() throws {
        let tok = try BPETokenizer.train(texts: Self.texts, vocabSize: 300, specialTokens: ["<|endoftext|>", "<|pad|>"], padToken: "<|pad|>")
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 32)
        c.nLayer = 1; c.nEmbd = 16; c.nHead = 2
        c.eosTokenID = tok.eosTokenID; c.padTokenID = tok.padTokenID
        // The longest prompt of "order N is late." sentences with which the rejected answer fits.
        let rejected = " fine.", chosen = " thank you! " + String(repeating: "whatever. ", count: 6)
        let prompt = try XCTUnwrap((1..<12).map { n in (0..<n).map { "order \($0) is late." }.joined(separator: " ") }
            .last { tok.encodeIDs($0).count + tok.encodeIDs(rejected).count + 1 <= 32 })
        let pair = PreferenceRecord(prompt: prompt, chosen: chosen, rejected: rejected)
        XCTAssertGreaterThan(tok.encodeIDs(prompt).count, 16)
        XCTAssertGreaterThan(tok.encodeIDs(prompt).count + tok.encodeIDs(chosen).count + 1, 32, "the chosen answer does not fit")
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trainer = try DPOTrainer(policy: GPT2(config: c, seed: 1), reference: GPT2(config: c, seed: 1), tokenizer: tok,
                                     train: [pair, Self.preferences(0..<1)[0]], heldOut: [], config: config(), runDirectory: dir)
        XCTAssertEqual(trainer.truncatedPairs, 1)
        let p = trainer.train.first { $0.prompt == prompt }!
        XCTAssertEqual(p.chosenStart, 16)
        XCTAssertEqual(p.rejectedStart, p.chosenStart)
        XCTAssertEqual(Array(p.chosen.prefix(p.chosenStart)), Array(p.rejected.prefix(p.rejectedStart)))
        XCTAssertLessThanOrEqual(p.chosen.count, 32)
    }

    /// At step 0 the policy is the reference: every implicit reward is 0, the loss is log 2 and the
    /// KL is 0. Training then ranks held-out chosen above rejected and moves away from the reference.
    func testHeldOutImplicitRewardAccuracyRises() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trainer = try makeTrainer(dir, config: config())
        XCTAssertFalse(trainer.policy.training)
        try trainer.train()
        let rows = Metrics.read(dir.appendingPathComponent("metrics.jsonl"))
        let start = try XCTUnwrap(rows.first)
        XCTAssertEqual(start["step"], 0)
        XCTAssertEqual(try XCTUnwrap(start["eval_loss"]), Foundation.log(2), accuracy: 1e-4)
        XCTAssertEqual(try XCTUnwrap(start["eval_rewards/margins"]), 0, accuracy: 1e-4)
        XCTAssertEqual(try XCTUnwrap(start["eval_kl"]), 0, accuracy: 1e-3)
        let first = try XCTUnwrap(rows.first { $0["loss"] != nil })
        XCTAssertEqual(try XCTUnwrap(first["loss"]), Foundation.log(2), accuracy: 1e-4, "first step's loss is log 2 before its update")
        let end = try XCTUnwrap(rows.last)
        XCTAssertEqual(end["step"], Double(trainer.totalSteps))
        print("DPO held-out accuracy → \(end["eval_rewards/accuracies"]!), loss \(end["eval_loss"]!), kl \(end["eval_kl"]!)")
        XCTAssertGreaterThan(try XCTUnwrap(end["eval_rewards/accuracies"]), 0.9)
        XCTAssertLessThan(try XCTUnwrap(end["eval_loss"]), 0.5)
        XCTAssertGreaterThan(try XCTUnwrap(end["eval_kl"]), 0.01)
        // Every training row carries TRL's metric names.
        for key in ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"] {
            XCTAssertNotNil(first[key], key)
        }
    }

    /// IPO (length-averaged log-probabilities, squared loss) also learns the preference.
    func testIPOLearnsThePreference() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = config()
        c.loss = .ipo; c.beta = 0.5; c.klPrompts = 0
        let trainer = try makeTrainer(dir, config: c)
        try trainer.train()
        let end = try XCTUnwrap(Metrics.read(dir.appendingPathComponent("metrics.jsonl")).last)
        XCTAssertGreaterThan(try XCTUnwrap(end["eval_rewards/accuracies"]), 0.9)
    }

    /// Interrupted after 5 steps and resumed, the run ends with the same weights and metrics as
    /// one that was never interrupted.
    func testResumeContinuesExactly() throws {
        let a = tempDir(), b = tempDir()
        defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }
        var c = config()
        c.epochs = 1; c.evalEvery = 3
        let straight = try makeTrainer(a, config: c)
        try straight.train()
        let first = try makeTrainer(b, config: c)
        try first.train(stopAt: 5)
        // Other pairs, held-out pairs or another reference would continue a different run:
        // refused, by name.
        for (other, field) in [(try makeTrainer(b, config: c, trainPairs: 1..<65), "train_data"),
                               (try makeTrainer(b, config: c, heldOutPairs: 64..<79), "eval_data"),
                               (try makeTrainer(b, config: c, referenceSeed: 6), "reference_weights")] {
            XCTAssertThrowsError(try other.resume()) { error in XCTAssertTrue("\(error)".contains(field), "\(error)") }
        }
        let resumed = try makeTrainer(b, config: c)
        try resumed.resume()
        XCTAssertEqual(resumed.step, 4, "resumes from the last checkpoint (every 4 steps)")
        try resumed.train()
        for ((name, x), (_, y)) in zip(straight.policy.parameters, resumed.policy.parameters) {
            XCTAssertEqual(x.toArray(), y.toArray(), "\(name) differs after resume")
        }
        let ma = Metrics.read(a.appendingPathComponent("metrics.jsonl")), mb = Metrics.read(b.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(ma.count, mb.count)
        XCTAssertEqual(ma.last?["eval_loss"], mb.last?["eval_loss"])
    }

    func testBadConfigurationsAreRefusedWithTheFlag() throws {
        var c = config()
        c.beta = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--beta"), "\($0)") }
        c = config(); c.loss = .ipo; c.labelSmoothing = 0.1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--label-smoothing"), "\($0)") }
    }
}

final class BestOfNTests: XCTestCase {
    func testAnalyticKL() {
        XCTAssertEqual(BestOfN.analyticKL(n: 1), 0)
        XCTAssertEqual(BestOfN.analyticKL(n: 2), Foundation.log(2) - 0.5, accuracy: 1e-12)
        XCTAssertEqual(BestOfN.analyticKL(n: 8), Foundation.log(8) - 7.0 / 8, accuracy: 1e-12)
    }

    /// The choice follows reward model + weighted reward functions: a large enough weight on a
    /// function overrides the reward model's ranking.
    func testChoosesTheHighestCombinedScore() throws {
        let tok = try BPETokenizer.train(texts: DPOTrainerTests.texts, vocabSize: 300, specialTokens: ["<|endoftext|>"])
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 32)
        c.nLayer = 1; c.nEmbd = 16; c.nHead = 2
        let rm = RewardModel(initializedFrom: GPT2(config: c, seed: 1), seed: 2)
        rm.normalization = (0, 1)
        let cands = [" fine. thank you!", " late. whatever.", " broken!"]
        let plain = BestOfN.choose(prompts: ["order 3 is"], candidates: [cands], rewardModel: rm, tokenizer: tok)[0]
        let raw = rm.score(prompts: Array(repeating: "order 3 is", count: 3), responses: cands, tokenizer: tok).map(Double.init)
        XCTAssertEqual(plain.best, raw.indices.max { raw[$0] < raw[$1] })
        XCTAssertEqual(plain.scores, raw)
        let whatever = RewardFunction(name: "whatever", weight: 1000) { _, r in r.contains("whatever") ? 1 : 0 }
        let forced = BestOfN.choose(prompts: ["order 3 is"], candidates: [cands], rewardModel: rm, tokenizer: tok, rewardFunctions: [whatever])[0]
        XCTAssertEqual(forced.response, " late. whatever.")
        // The proxy alone is kept beside the total the choice is made by.
        XCTAssertEqual(forced.rewardModelScores, raw)
        XCTAssertEqual(forced.scores, zip(raw, cands).map { $0 + ($1.contains("whatever") ? 1000 : 0) })
    }

    /// Best-of-k from the first k of N scored candidates is the choice among those k alone;
    /// equal scores go to the first, as in `best`.
    func testBestOfTheFirstKCandidates() {
        let c = BestOfN.Choice(prompt: "p", candidates: ["a", "b", "c", "d", "e"], scores: [0.1, 0.5, 0.5, 0.2, 0.9], rewardModelScores: [0, 0, 0, 0, 0])
        XCTAssertEqual((1...5).map { c.best(amongFirst: $0) }, [0, 1, 1, 1, 4])
        XCTAssertEqual(c.best, 4)
        XCTAssertEqual(c.response, "e")
    }
}
