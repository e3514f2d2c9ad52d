import XCTest
import Feedback
import Foundation
import Models
import Tensors
import Tokenizers
@testable import Training

final class RewardTrainerTests: XCTestCase {
    func makeModel(seed: UInt64 = 1) throws -> RewardModel {
        var c = try GPT2Config.preset("tiny", vocabSize: 40, context: 16)
        c.nLayer = 1; c.nEmbd = 16; c.nHead = 2
        return RewardModel(initializedFrom: GPT2(config: c, seed: seed), seed: seed + 1)
    }

    /// Four responses to one prompt compared pairwise: six pairs, four distinct texts.
    static func kWisePairs(prompt: [Int32], group: Int, base: Int32) -> [RewardTrainer.Pair] {
        let responses: [[Int32]] = (0..<4).map { k in prompt + [base + Int32(k), base + Int32(k) + 1, 3] }
        return (0..<4).flatMap { i in (i + 1..<4).map { j in RewardTrainer.Pair(chosen: responses[i], rejected: responses[j], group: group) } }
    }

    /// A text repeated across pairs of a minibatch is scored once; the loss and every gradient
    /// are those of scoring each pair on its own.
    func testRepeatedTextsAreScoredOnceWithTheSameLossAndGradients() throws {
        let rm = try makeModel()
        let pairs = Self.kWisePairs(prompt: [5, 6, 7], group: 0, base: 10) + Self.kWisePairs(prompt: [8, 9], group: 1, base: 20)
        let trainer = RewardTrainer(model: rm, config: .init())

        trainer.optimizer.zeroGrad()
        let s = trainer.scores(pairs[...])
        let loss = mean(-logSigmoid(s.chosen - s.rejected))
        loss.backward()
        let grouped = rm.parameters.map { $0.1.grad!.toArray() }

        trainer.optimizer.zeroGrad()
        var total: Float = 0
        for p in pairs {
            let c = rm.scores([p.chosen])
            let r = rm.scores([p.rejected])
            let l = -logSigmoid(c - r) * (1 / Float(pairs.count))
            total += l.item
            l.backward()
        }
        XCTAssertEqual(loss.item, total, accuracy: 1e-5)
        for ((name, p), g) in zip(rm.parameters, grouped) {
            let single = p.grad!.toArray()
            for (a, b) in zip(g, single) { XCTAssertEqual(a, b, accuracy: 1e-5 + 1e-4 * abs(b), name) }
        }
    }

    /// With `appendsEOS` (TRL's RewardTrainer convention) a text is read at an EOS appended once,
    /// kept when the context cuts the text from the left; its score is the one TRL's model gives
    /// the text with the EOS string appended; training pairs are read the same way; and a saved
    /// model says so in its config, so it is scored that way when loaded.
    func testAppendEOSReadsTheScoreAtEOSAsTRLDoesAndIsSavedWithTheModel() throws {
        let tok = try BPETokenizer.train(texts: PPOTrainerTests.texts, vocabSize: 300, specialTokens: ["<|endoftext|>", "<|pad|>"], padToken: "<|pad|>")
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 16)
        c.nLayer = 1; c.nEmbd = 16; c.nHead = 2; c.eosTokenID = tok.eosTokenID; c.padTokenID = tok.padTokenID
        let rm = RewardModel(initializedFrom: GPT2(config: c, seed: 1), seed: 2)
        let eos = Int32(try XCTUnwrap(tok.eosTokenID))
        let (prompt, answer) = ("order 3 is", " late. thank you!")
        let ids = tok.encodeIDs(prompt + answer)
        XCTAssertLessThan(ids.count, 15)
        XCTAssertEqual(rm.sequence(ids), ids, "without appendsEOS the text is read as it is")

        try rm.setAppendsEOS(true)
        XCTAssertEqual(rm.sequence(ids), ids + [eos])
        XCTAssertEqual(rm.sequence(ids + [eos]), ids + [eos], "a text that ends with EOS gets no second one")
        let long = ids + ids + ids
        XCTAssertEqual(rm.sequence(long), Array((long + [eos]).suffix(16)), "cut from the left, the EOS kept")
        let atEOS = rm.score(prompts: [prompt], responses: [answer], tokenizer: tok)
        try rm.setAppendsEOS(false)
        XCTAssertEqual(rm.score(prompts: [prompt], responses: [answer + "<|endoftext|>"], tokenizer: tok), atEOS)
        XCTAssertNotEqual(rm.score(prompts: [prompt], responses: [answer], tokenizer: tok), atEOS)

        try rm.setAppendsEOS(true)
        var truncated = 0
        let pair = RewardTrainer.pairs([PreferenceRecord(prompt: prompt, chosen: answer, rejected: " fine.")], for: rm, tokenizer: tok, truncated: &truncated)[0]
        XCTAssertEqual(pair.chosen, ids + [eos])
        XCTAssertEqual(pair.rejected, tok.encodeIDs(prompt + " fine.") + [eos])
        XCTAssertEqual(truncated, 0)
        // Prompt and response are encoded as one text, as the scorers and TRL encode them: a
        // prompt cut mid-word (an implicit prompt can be) reads the whole word.
        let midWord = RewardTrainer.pairs([PreferenceRecord(prompt: "order 3 is la", chosen: "te.", rejected: "ter.")], for: rm, tokenizer: tok, truncated: &truncated)[0]
        XCTAssertEqual(midWord.chosen, rm.sequence(prompt: "order 3 is la", response: "te.", tokenizer: tok))
        XCTAssertEqual(midWord.chosen, tok.encodeIDs("order 3 is late.") + [eos])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rm-eos-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try rm.save(to: dir, tokenizer: tok)
        let loaded = try RewardModel.load(directory: dir)
        XCTAssertTrue(loaded.appendsEOS)
        XCTAssertEqual(loaded.score(prompts: [prompt], responses: [answer], tokenizer: tok), atEOS)
        try rm.setAppendsEOS(false)
        try rm.save(to: dir, tokenizer: tok)
        XCTAssertFalse(try RewardModel.load(directory: dir).appendsEOS, "saving false over a model saved with true")

        // transformers reads the score at the last token that is not padding: with pad = EOS
        // that is the token before the appended EOS, so such a model is refused.
        var samePad = c
        samePad.padTokenID = c.eosTokenID
        let padIsEOS = RewardModel(trunk: GPT2(config: samePad, seed: 1), scoreWeight: rm.scoreWeight.copy())
        XCTAssertThrowsError(try padIsEOS.setAppendsEOS(true)) { XCTAssertTrue("\($0)".contains("pad_token_id"), "\($0)") }
        XCTAssertNoThrow(try padIsEOS.setAppendsEOS(false))
    }

    /// Minibatches hold whole prompt groups, each pair exactly once, at most `batchSize` pairs
    /// unless a single group is larger; with one pair per prompt they are plain chunks.
    func testMinibatchesKeepPromptGroupsWhole() {
        var pairs: [RewardTrainer.Pair] = []
        let sizes = [6, 6, 1, 6, 20, 3]
        for (g, n) in sizes.enumerated() {
            for k in 0..<n { pairs.append(.init(chosen: [1, Int32(k)], rejected: [2, Int32(k)], group: g)) }
        }
        let order = [4, 2, 0, 5, 1, 3]
        let batches = RewardTrainer.minibatches(pairs, groupOrder: order, batchSize: 16)
        XCTAssertEqual(batches.flatMap { $0 }.sorted(), Array(pairs.indices))
        for b in batches {
            let groups = Set(b.map { pairs[$0].group })
            for g in groups { XCTAssertEqual(b.filter { pairs[$0].group == g }.count, sizes[g], "group \(g) split") }
            XCTAssertTrue(b.count <= 16 || groups.count == 1, "batch of \(b.count) pairs with \(groups.count) groups")
        }
        XCTAssertEqual(batches.map { Set($0.map { pairs[$0].group }) }, [[4], [2, 0, 5, 1], [3]])

        let single = (0..<10).map { RewardTrainer.Pair(chosen: [1], rejected: [2], group: $0) }
        XCTAssertEqual(RewardTrainer.minibatches(single, groupOrder: [3, 1, 4, 0, 5, 9, 2, 6, 8, 7], batchSize: 4),
                       [[3, 1, 4, 0], [5, 9, 2, 6], [8, 7]])
    }

    /// Pairs of one prompt are held out together; with one pair per prompt the split is the
    /// ungrouped one.
    func testHeldOutSplitKeepsPromptsTogether() {
        let items = (0..<60).map { (prompt: "p\($0 / 6)", id: $0) }
        let (train, held) = splitHeldOut(items, groupedBy: { $0.prompt }, fraction: 0.2, seed: 3)
        XCTAssertEqual(held.count, 12)
        XCTAssertTrue(Set(train.map(\.prompt)).isDisjoint(with: held.map(\.prompt)))
        XCTAssertEqual((train + held).map(\.id).sorted(), Array(0..<60))

        let singles = (0..<50).map { "p\($0)" }
        let a = splitHeldOut(singles, fraction: 0.1, seed: 7), b = splitHeldOut(singles, groupedBy: { $0 }, fraction: 0.1, seed: 7)
        XCTAssertEqual(a.train, b.train)
        XCTAssertEqual(a.heldOut, b.heldOut)
    }

    func testAllPairsOfASample() {
        let r = SampleRecord(prompt: "p", completions: ["a", "b", "c", "d"])
        XCTAssertEqual(r.pairs(all: false).map { [$0.0, $0.1] }, [["a", "b"], ["c", "d"]])
        XCTAssertEqual(r.pairs(all: true).map { [$0.0, $0.1] }, [["a", "b"], ["a", "c"], ["a", "d"], ["b", "c"], ["b", "d"], ["c", "d"]])
        XCTAssertEqual(SampleRecord(prompt: "p", completions: ["a", "b", "c"]).pairs(all: false).count, 1)
    }

    /// K-wise groups train a reward model that learns the rule behind them: responses ending in
    /// token 30 beat those that do not, whatever comes before.
    func testLearnsARankingFromKWiseGroups() throws {
        let rm = try makeModel(seed: 4)
        var rng = RNG(seed: 9)
        func group(_ g: Int) -> [RewardTrainer.Pair] {
            let prompt = (0..<3).map { _ in Int32(rng.below(20)) + 5 }
            let good = (0..<2).map { _ in prompt + [Int32(rng.below(20)) + 5, 30] }
            let bad = (0..<2).map { _ in prompt + [Int32(rng.below(20)) + 5, 31] }
            return good.flatMap { c in bad.map { RewardTrainer.Pair(chosen: c, rejected: $0, group: g) } }
        }
        let train = (0..<48).flatMap(group), held = (48..<60).flatMap(group)
        var config = RewardTrainer.Config()
        config.epochs = 4; config.batchSize = 16; config.learningRate = 3e-3; config.seed = 2
        let trainer = RewardTrainer(model: rm, config: config)
        let before = trainer.evaluate(held)
        try trainer.train(train, eval: held, metrics: nil)
        let after = trainer.evaluate(held)
        XCTAssertEqual(after.accuracy, 1)
        XCTAssertLessThan(after.loss, before.loss / 2)
    }

    /// Stopped mid-epoch (and again at an epoch's end) and resumed from its checkpoint, with
    /// dropout on, the reward model ends bit for bit where an uninterrupted run does, and its
    /// log holds every step once.
    func testResumeContinuesExactly() throws {
        var c = try GPT2Config.preset("tiny", vocabSize: 40, context: 16)
        c.nLayer = 1; c.nEmbd = 16; c.nHead = 2; c.residPdrop = 0.1; c.attnPdrop = 0.1
        func model() -> RewardModel { RewardModel(initializedFrom: GPT2(config: c, seed: 5), seed: 6) }
        let pairs = (0..<10).flatMap { g in Self.kWisePairs(prompt: [Int32(5 + g), 6, 7], group: g, base: Int32(10 + g)) }
        let held = Self.kWisePairs(prompt: [9, 9], group: 99, base: 20)
        var config = RewardTrainer.Config()
        config.epochs = 2; config.batchSize = 12; config.learningRate = 3e-3; config.seed = 3; config.checkpointEvery = 2
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rm-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }

        let whole = RewardTrainer(model: model(), config: config, runDirectory: base.appendingPathComponent("whole"))
        try whole.train(pairs, eval: held, metrics: nil)

        let dir = base.appendingPathComponent("stopped")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("metrics.jsonl")
        // 5 steps an epoch: stop at 3 (after the checkpoint at 2), then at 5 (an epoch's end).
        let first = RewardTrainer(model: model(), config: config, runDirectory: dir)
        try first.train(pairs, eval: held, metrics: try Metrics(log), stopAt: 3)
        XCTAssertEqual(first.step, 3)
        for stop in [5, nil] {
            let next = RewardTrainer(model: model(), config: config, runDirectory: dir)
            XCTAssertTrue(next.hasCheckpoint)
            try next.resume()
            XCTAssertEqual(next.step, stop == 5 ? 2 : 5)
            try Metrics.truncate(log, afterStep: next.step)
            try next.train(pairs, eval: held, metrics: try Metrics(log), stopAt: stop)
            if stop == nil {
                for ((name, a), (_, b)) in zip(whole.model.parameters, next.model.parameters) {
                    XCTAssertEqual(a.toArray(), b.toArray(), name)
                }
            }
        }
        let steps = Metrics.read(log).filter { $0["epoch"] == nil }.compactMap { $0["step"] }
        XCTAssertEqual(steps, (1...10).map(Double.init))
        XCTAssertEqual(Metrics.read(log).compactMap { $0["epoch"] }, [1, 2])

        // A checkpoint resumed with other pairs or another flag is refused, naming what differs;
        // with the same ones it is accepted.
        let stopped = base.appendingPathComponent("stopped-again")
        try RewardTrainer(model: model(), config: config, runDirectory: stopped).train(pairs, eval: held, metrics: nil, stopAt: 3)
        var moreEpochs = config
        moreEpochs.epochs = 3
        let relabelled = pairs.map { RewardTrainer.Pair(chosen: $0.rejected, rejected: $0.chosen, group: $0.group) }
        for (cfg, data, what) in [(config, Array(pairs.prefix(24)), "train_pairs"), (moreEpochs, pairs, "epochs"), (config, relabelled, "train_hash")] {
            let t = RewardTrainer(model: model(), config: cfg, runDirectory: stopped)
            try t.resume()
            XCTAssertThrowsError(try t.train(data, eval: held, metrics: nil)) { XCTAssertTrue("\($0)".contains(what), "\($0)") }
        }
        // Begun from another model (another --model): another run.
        let otherStart = RewardTrainer(model: RewardModel(initializedFrom: GPT2(config: c, seed: 7), seed: 6), config: config, runDirectory: stopped)
        try otherStart.resume()
        XCTAssertThrowsError(try otherStart.checkResumable(pairs)) { XCTAssertTrue("\($0)".contains("initial_weights"), "\($0)") }
        let same = RewardTrainer(model: model(), config: config, runDirectory: stopped)
        try same.resume()
        XCTAssertNoThrow(try same.checkResumable(pairs))
    }

    func testHeldOutFractionZeroHoldsOutNothing() {
        let items = Array(0..<20)
        XCTAssertEqual(splitHeldOut(items, fraction: 0, seed: 1).heldOut, [])
        XCTAssertEqual(splitHeldOut(items, fraction: 0, seed: 1).train.sorted(), items)
        XCTAssertEqual(splitHeldOut(items, fraction: 0.01, seed: 1).heldOut.count, 1)  // any positive share holds out one
        XCTAssertEqual(splitHeldOut(items.map { "p\($0 % 4)" }, groupedBy: { $0 }, fraction: 0, seed: 1).heldOut, [])
    }
}
