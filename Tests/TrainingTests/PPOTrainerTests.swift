import XCTest
import Foundation
import Models
import Support
@testable import Tensors
import Tokenizers
@testable import Training

final class PPOTrainerTests: XCTestCase {
    static let texts = (0..<200).map { "order \($0 % 17) is \(["late", "broken", "fine"][$0 % 3]). thank you!" }

    /// A tiny random policy and a reward model initialised from it, on a tokenizer with a pad
    /// token distinct from EOS.
    func makeTrainer(_ dir: URL, config: PPOConfig, rewardFunctions: [RewardFunction] = [], monitors: [RewardFunction] = [],
                     rewardSeed: UInt64 = 4, promptCount: Int = 24) throws -> PPOTrainer {
        let tok = try BPETokenizer.train(texts: Self.texts, vocabSize: 300, specialTokens: ["<|endoftext|>", "<|pad|>"], padToken: "<|pad|>")
        var c = try GPT2Config.preset("tiny", vocabSize: tok.vocabSize, context: 48)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 2
        // Dropout is configured on, to show RL turns it off everywhere.
        c.residPdrop = 0.1; c.embdPdrop = 0.1; c.attnPdrop = 0.1
        c.eosTokenID = tok.eosTokenID; c.padTokenID = tok.padTokenID
        let policy = GPT2(config: c, seed: 3)
        let rm = RewardModel(initializedFrom: policy, seed: rewardSeed)
        rm.normalization = (0.5, 2)
        let prompts = (0..<promptCount).map { "order \($0) is" + ($0 % 3 == 0 ? " late and I am waiting for it" : "") }
        return try PPOTrainer(policy: policy, rewardModel: rm, tokenizer: tok, rewardTokenizer: nil, prompts: prompts,
                              rewardFunctions: rewardFunctions, monitors: monitors, config: config, runDirectory: dir)
    }

    func smallConfig() -> PPOConfig {
        var c = PPOConfig()
        c.steps = 4; c.batchSize = 8; c.numMiniBatches = 2; c.gradientAccumulation = 2; c.rolloutBatchSize = 8
        c.maxNewTokens = 12; c.learningRate = 1e-3; c.checkpointEvery = 2; c.seed = 9
        return c
    }

    /// A trainer in `dir` after one iteration of `smallConfig()`, and that iteration's rollout.
    func trainedOneIteration(_ dir: URL) throws -> (PPOTrainer, PPORollout) {
        var config = smallConfig()
        config.steps = 1
        let trainer = try makeTrainer(dir, config: config)
        try trainer.train()
        return (trainer, try XCTUnwrap(trainer.lastRollout))
    }

    func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ppo-\(UUID().uuidString)")
    }

    /// The log-probabilities the sampler reports and the training forward pass recomputes agree,
    /// and the first minibatch of the first epoch sees π/π_old = 1 exactly (dropout off).
    func testRolloutAndTrainingLogProbsAgreeAndFirstRatioIsOne() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, r) = try trainedOneIteration(dir)
        var maxDiff: Float = 0, tokens = 0
        for k in 0..<r.mask.count where r.mask[k] != 0 {
            maxDiff = max(maxDiff, abs(r.logProbs[k] - r.samplingLogProbs[k]))
            tokens += 1
        }
        XCTAssertGreaterThan(tokens, 8)
        XCTAssertLessThan(maxDiff, 2e-4, "sampler and training pass disagree on log π")
        XCTAssertEqual(trainer.firstRatio, 1, accuracy: 1e-6)
        XCTAssertFalse(trainer.policy.training)
    }

    /// A separate critic's forward and backward run beside the policy's, each backward seeded
    /// with its share of the summed loss: the run is the same to the bit as with one backward of
    /// the sum, on every core count.
    func testCriticBesideThePolicyGivesTheSameRunAsOneBackwardOfTheSum() throws {
        let base = tempDir()
        defer { try? FileManager.default.removeItem(at: base) }
        var config = smallConfig()
        config.steps = 2
        XCTAssertEqual(config.valueModel, .separate)
        func run(_ name: String, beside: Bool, workers: Int? = nil) throws -> PPOTrainer {
            let settings = ThreadSettings.current
            let saved = settings.workers
            settings.workers = workers
            defer { settings.workers = saved }
            let t = try makeTrainer(base.appendingPathComponent(name), config: config)
            t.criticBesidePolicy = beside
            try t.train()
            return t
        }
        let summed = try run("summed", beside: false)
        for (name, workers) in [("beside", nil), ("beside-one-core", 1)] as [(String, Int?)] {
            let beside = try run(name, beside: true, workers: workers)
            XCTAssertEqual(summed.optimizer.parameters.count, beside.optimizer.parameters.count)
            for ((key, a), (_, b)) in zip(summed.optimizer.parameters, beside.optimizer.parameters) {
                let (x, y) = (a.toArray(), b.toArray())
                XCTAssertTrue(x == y, "\(name): \(key) differs in \(zip(x, y).filter { $0 != $1 }.count) of \(x.count) values")
            }
            let ma = Metrics.read(base.appendingPathComponent("summed/metrics.jsonl"))
            let mb = Metrics.read(base.appendingPathComponent("\(name)/metrics.jsonl"))
            XCTAssertEqual(ma.count, 2)
            XCTAssertEqual(mb.count, 2)
            for (x, y) in zip(ma, mb) {
                for key in ["loss/policy_avg", "loss/value_avg", "val/clipfrac_avg", "policy/clipfrac_avg", "policy/approxkl_avg",
                            "policy/entropy_avg", "val/ratio", "objective/kl"] {
                    XCTAssertEqual(x[key], y[key], "\(name): \(key) at step \(x["step"] ?? -1)")
                }
            }
        }
    }

    /// A loss that is not finite stops the step with one message, whichever way the critic ran.
    func testANonFiniteLossGivesTheSameErrorBesideThePolicyAsSummed() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, trained) = try trainedOneIteration(dir)
        var rollout = trained
        let first = try XCTUnwrap(rollout.mask.firstIndex { $0 != 0 })
        rollout.advantages[first] = .nan
        var messages: [String] = []
        for beside in [false, true] {
            trainer.criticBesidePolicy = beside
            XCTAssertThrowsError(try trainer.trainMicroBatch([first / rollout.responseLength], rollout,
                                                             .init(policy: trainer.policy, value: trainer.value))) { messages.append("\($0)") }
        }
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages.first, messages.last)
        XCTAssertTrue(messages.first?.contains("the PPO loss (policy nan, value ") == true, "\(messages)")
    }

    /// TRL's `val/ratio_var` is the variance of the micro-batches' mean ratios. With two
    /// micro-batches in one epoch the first ratio is the one before any update, so the variance
    /// follows from it and the logged mean: ((r₁ − r₂)²)/2 = 2(mean − r₁)². One micro-batch has
    /// no variance and logs none. `eps` (episodes per second) is logged as TRL does.
    func testRatioVarianceAndEpisodesPerSecondAreLoggedAsTRLDoes() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = smallConfig()
        config.steps = 1; config.ppoEpochs = 1; config.numMiniBatches = 2; config.gradientAccumulation = 1
        let trainer = try makeTrainer(dir.appendingPathComponent("two"), config: config)
        try trainer.train()
        let m = try XCTUnwrap(Metrics.read(dir.appendingPathComponent("two/metrics.jsonl")).first)
        let mean = try XCTUnwrap(m["val/ratio"]), variance = try XCTUnwrap(m["val/ratio_var"])
        let r1 = Double(trainer.firstRatio)
        XCTAssertGreaterThan(variance, 0, "the update between the micro-batches changed nothing")
        XCTAssertEqual(variance, 2 * (mean - r1) * (mean - r1), accuracy: 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(m["eps"]), 0)

        config.numMiniBatches = 1
        try makeTrainer(dir.appendingPathComponent("one"), config: config).train()
        let one = try XCTUnwrap(Metrics.read(dir.appendingPathComponent("one/metrics.jsonl")).first)
        XCTAssertNil(one["val/ratio_var"])
        XCTAssertNotNil(one["val/ratio"])
    }

    /// The reward model reads each response as it was trained: prompt + response without the
    /// EOS the policy wrote, or, when it `appendsEOS` (TRL's convention), with one EOS at the end
    /// whether the response ended or was cut off by the length limit.
    func testRewardModelScoresResponsesInTheShapeItWasTrainedOn() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = smallConfig()
        config.missingEOSPenalty = 0
        let trainer = try makeTrainer(dir, config: config)
        let eos = Int32(try XCTUnwrap(trainer.tokenizer.eosTokenID))
        let answer = trainer.tokenizer.encodeIDs(" late. thank you!")
        let prompts = [trainer.promptIDs[0], trainer.promptIDs[1]]
        for appends in [false, true] {
            try trainer.rewardModel.setAppendsEOS(appends)
            var r = PPORollout(prompts: prompts, responses: [answer + [eos], answer], ended: [true, false],
                               samplingLogProbs: [[Float](repeating: -1, count: answer.count + 1), [Float](repeating: -1, count: answer.count)],
                               promptIndices: [0, 1])
            let (raw, _, _, _) = try trainer.score(&r)
            let read = prompts.map { $0 + answer + (appends ? [eos] : []) }
            let expected = trainer.rewardModel.scores(read).toArray().map(Double.init)
            for (a, b) in zip(raw, expected) { XCTAssertEqual(a, b, accuracy: 1e-5, "appendsEOS \(appends)") }
            XCTAssertEqual(r.scores.map { Float($0) }, expected.map { Float(trainer.rewardModel.normalised($0)) })
        }
        XCTAssertEqual(trainer.scoredTextsCut, 0)
        // A response that fills the context fits as it is, and is one token over when read with
        // EOS appended: then it is cut from the left, and counted.
        let context = trainer.rewardModel.trunk.config.nPositions
        let full = Array(Array(repeating: answer, count: context).joined().prefix(context - prompts[0].count))
        for (appends, cut) in [(false, 0), (true, 1)] {
            try trainer.rewardModel.setAppendsEOS(appends)
            var r = PPORollout(prompts: [prompts[0]], responses: [full], ended: [false],
                               samplingLogProbs: [[Float](repeating: -1, count: full.count)], promptIndices: [0])
            _ = try trainer.score(&r)
            XCTAssertEqual(trainer.scoredTextsCut, cut, "appendsEOS \(appends)")
        }
    }

    /// The separate critic starts where its returns are: at every state it predicts the term the
    /// reward holds for the reward model there, weight · (raw − mean) / std, not the raw score.
    func testSeparateCriticStartsAtTheRewardModelsTermInTheReward() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = smallConfig()
        config.rewardModelWeight = 1.5
        let trainer = try makeTrainer(dir, config: config)  // normalisation mean 0.5, std 2
        let critic = try XCTUnwrap(trainer.value)
        XCTAssertEqual(critic.kind, .separate)
        let answer = trainer.tokenizer.encodeIDs(" late. thank you!")
        let prompt = trainer.promptIDs[0]
        let r = PPORollout(prompts: [prompt], responses: [answer], ended: [false],
                           samplingLogProbs: [[Float](repeating: -1, count: answer.count)], promptIndices: [0])
        let v = critic.values(r.packed(rows: [0]), responseSlots: r.responseLength, policyHidden: nil).toArray()
        // Slot i's state is the prompt and the first i answer tokens.
        let states = (0..<answer.count).map { prompt + answer.prefix($0) }
        let raw = trainer.rewardModel.scores(states).toArray()
        XCTAssertGreaterThan(Set(raw.map { ($0 * 1e4).rounded() }).count, 1, "states the reward model tells apart")
        for (value, score) in zip(v, raw) {
            XCTAssertEqual(Double(value), 1.5 * trainer.rewardModel.normalised(Double(score)), accuracy: 2e-4)
            XCTAssertEqual(value, 1.5 * (score - 0.5) / 2, accuracy: 2e-4)
        }
    }

    /// Rewards: −β·(log π − log π_ref) on every response token, the score added on the last one;
    /// nothing on padding. GAE then runs per response with V = 0 after the last token.
    func testPerTokenRewardsPutTheScoreOnTheLastToken() {
        var r = PPORollout(prompts: [[5, 6], [7]], responses: [[1, 2, 3], [4]], ended: [true, false],
                           samplingLogProbs: [[-1, -2, -3], [-4]], promptIndices: [0, 1])
        XCTAssertEqual(r.promptLength, 2)
        XCTAssertEqual(r.responseLength, 3)
        XCTAssertEqual(r.ids, [5, 6, 1, 2, 3, 0, 7, 4, 0, 0])
        XCTAssertEqual(r.targets(rows: [1, 0]), [4, -1, -1, 1, 2, 3])
        // Packed without pads: row 1 (7 4) then row 0 (5 6 1 2 3); the predicting position of
        // each response slot, slots past a response at its last prompt token.
        let packed = r.packed(rows: [1, 0])
        XCTAssertEqual(packed.ids, [7, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(packed.lengths, [2, 5])
        XCTAssertEqual(packed.predicting, [0, 0, 0, 3, 4, 5])
        r.logProbs = [-1, -2, -3, -4, 0, 0]
        r.refLogProbs = [-1.5, -2, -2, -4.5, 0, 0]
        r.scores = [2, -1]
        r.assignRewards(beta: 0.1)
        let expected: [Float] = [-0.05, 0, 0.1 + 2, -0.05 - 1, 0, 0]
        for (a, b) in zip(r.rewards, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        r.values = [0.5, 0.25, 1, 0, 0, 0]
        r.computeAdvantages(gamma: 1, lambda: 1, whitenRewards: false)
        // λ = γ = 1: returns are the reward-to-go.
        XCTAssertEqual(r.returns[0], -0.05 + 0 + 2.1, accuracy: 1e-6)
        XCTAssertEqual(r.returns[2], 2.1, accuracy: 1e-6)
        XCTAssertEqual(r.returns[3], -1.05, accuracy: 1e-6)
        XCTAssertEqual(r.advantages[4], 0)
        let valid = [0, 1, 2, 3].map { r.advantages[$0] }
        XCTAssertEqual(valid.reduce(0, +), 0, accuracy: 1e-5, "advantages are whitened over response tokens")
    }

    /// An interrupted run resumed from its checkpoint retraces the uninterrupted run: the same
    /// metrics, β and final weights bit for bit (policy, critic, AdamW, RNG and β restored).
    func testResumeContinuesExactly() throws {
        let base = tempDir()
        defer { try? FileManager.default.removeItem(at: base) }
        var config = smallConfig()
        config.klTarget = 0.5; config.klHorizon = 50   // adaptive β, so its state matters
        config.valueModel = .separate
        let a = try makeTrainer(base.appendingPathComponent("a"), config: config)
        try a.train()
        let b = try makeTrainer(base.appendingPathComponent("b"), config: config)
        try b.train(stopAt: 3)  // checkpoint at 2; step 3 is lost, as in a crash
        let resumed = try makeTrainer(base.appendingPathComponent("b"), config: config)
        try resumed.resume()
        XCTAssertEqual(resumed.step, 2)
        try resumed.train()
        let ma = Metrics.read(base.appendingPathComponent("a/metrics.jsonl"))
        let mb = Metrics.read(base.appendingPathComponent("b/metrics.jsonl"))
        XCTAssertEqual(ma.count, 4)
        XCTAssertEqual(mb.count, 4)
        for (x, y) in zip(ma, mb) {
            for key in ["objective/kl", "objective/beta", "loss/policy_avg", "loss/value_avg", "objective/scores"] {
                XCTAssertEqual(x[key], y[key], "\(key) at step \(x["step"] ?? -1)")
            }
        }
        XCTAssertEqual(a.kl.beta, resumed.kl.beta)
        for ((n, p), (_, q)) in zip(a.optimizer.parameters, resumed.optimizer.parameters) {
            XCTAssertEqual(p.toArray(), q.toArray(), n)
        }
    }

    /// A checkpoint made with one learning-rate schedule is not continued under another: the
    /// resume is refused naming the field, and the checkpoint is left as it was. How often to
    /// save may change; a checkpoint from before configurations were stored is trusted.
    func testResumeRefusesAnotherRecipe() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = smallConfig()
        try makeTrainer(dir, config: config).train(stopAt: 2)
        let stateURL = dir.appendingPathComponent("checkpoint-last/trainer_state.json")
        let before = try Data(contentsOf: stateURL)

        var constant = config
        constant.decay = .constant
        XCTAssertThrowsError(try makeTrainer(dir, config: constant).resume()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("checkpoint-last") && text.contains("decay \"linear\" in the checkpoint, \"constant\" now"), text)
        }
        XCTAssertEqual(try Data(contentsOf: stateURL), before)

        // Other inputs than the run's: prompts, reward model, programmatic rewards.
        let bonus = RewardFunction(name: "bonus", weight: 1) { _, _ in 1 }
        for (other, field) in [(try makeTrainer(dir, config: config, promptCount: 23), "prompts"),
                               (try makeTrainer(dir, config: config, rewardSeed: 5), "reward_model_weights"),
                               (try makeTrainer(dir, config: config, rewardFunctions: [bonus]), "reward_functions")] {
            XCTAssertThrowsError(try other.resume()) { error in XCTAssertTrue("\(error)".contains(field), "\(error)") }
        }
        XCTAssertEqual(try Data(contentsOf: stateURL), before)

        var cadence = config
        cadence.checkpointEvery = 7
        let resumed = try makeTrainer(dir, config: cadence)
        try resumed.resume()
        XCTAssertEqual(resumed.step, 2)

        var old = try JSONDecoder().decode(TrainerState.self, from: before)
        XCTAssertEqual(old.configuration?["decay"], .string("linear"))
        old.configuration = nil
        XCTAssertNoThrow(try TrainingCheckpoint.check(saved: old.configuration, now: try TrainingCheckpoint.recorded(constant), checkpoint: dir))
    }

    /// With a constant rate a finished run continues to more iterations and ends where a run of
    /// that many from the start ends, bit for bit (the demo's KL-free twin of an older run folder
    /// goes from 50 to 100 so), and is refused fewer than its checkpoint holds; with a decaying
    /// rate, whose schedule depends on the count, another count is refused naming the field.
    func testConstantRateRunContinuesToMoreIterations() throws {
        let base = tempDir()
        defer { try? FileManager.default.removeItem(at: base) }
        var config = smallConfig()
        config.decay = .constant
        let whole = try makeTrainer(base.appendingPathComponent("whole"), config: config)
        try whole.train()
        var short = config
        short.steps = 2
        try makeTrainer(base.appendingPathComponent("short"), config: short).train()
        let longer = try makeTrainer(base.appendingPathComponent("short"), config: config)
        try longer.resume()
        XCTAssertEqual(longer.step, 2)
        try longer.train()
        for ((name, p), (_, q)) in zip(whole.optimizer.parameters, longer.optimizer.parameters) {
            XCTAssertEqual(p.toArray(), q.toArray(), name)
        }
        XCTAssertEqual(Metrics.read(base.appendingPathComponent("whole/metrics.jsonl")).map { $0["objective/scores"] },
                       Metrics.read(base.appendingPathComponent("short/metrics.jsonl")).map { $0["objective/scores"] })
        // Fewer iterations than the checkpoint holds: no run ends there.
        var fewer = config
        fewer.steps = 3
        XCTAssertThrowsError(try makeTrainer(base.appendingPathComponent("short"), config: fewer).resume()) { error in
            XCTAssertTrue("\(error)".contains("holds step 4, past the run's 3 iterations"), "\(error)")
        }

        var decaying = short
        decaying.decay = .linear
        try makeTrainer(base.appendingPathComponent("decaying"), config: decaying).train()
        decaying.steps = 4
        XCTAssertThrowsError(try makeTrainer(base.appendingPathComponent("decaying"), config: decaying).resume()) { error in
            XCTAssertTrue("\(error)".contains("steps 2 in the checkpoint, 4 now"), "\(error)")
        }
    }

    /// With lanes a minibatch's micro-batches train on copies of the policy and critic side by
    /// side, and the reference pass's rows are split as many ways. The run does not depend on how
    /// many cores run the lanes: side by side, or one after the other on one core (the calling
    /// thread limited to one), bit for bit, with a resume in between; a resume with other lanes
    /// is refused. Against one lane only the order of additions differs: after one iteration
    /// the weights agree to float rounding, for either kind of critic.
    func testLanesGiveTheSameRunOnAnyCoreCountAndResume() throws {
        let base = tempDir()
        defer { try? FileManager.default.removeItem(at: base) }
        let config = smallConfig()  // minibatches of 4 rollouts as 2 micro-batches of 2
        func lanes(_ n: Int, _ dir: String, _ config: PPOConfig) throws -> PPOTrainer {
            let t = try makeTrainer(base.appendingPathComponent(dir), config: config)
            t.lanes = n
            return t
        }
        let both = try lanes(2, "both", config)
        try both.train()
        do {
            let settings = ThreadSettings.current
            let saved = settings.workers
            settings.workers = 1
            defer { settings.workers = saved }
            try lanes(2, "serial", config).train(stopAt: 3)  // checkpoint at 2
            XCTAssertThrowsError(try lanes(1, "serial", config).resume()) { error in
                XCTAssertTrue("\(error)".contains("lanes 2 in the checkpoint, 1 now"), "\(error)")
            }
            let resumed = try lanes(2, "serial", config)
            try resumed.resume()
            XCTAssertEqual(resumed.step, 2)
            try resumed.train()
            for ((name, a), (_, b)) in zip(both.optimizer.parameters, resumed.optimizer.parameters) {
                XCTAssertEqual(a.toArray(), b.toArray(), name)
            }
        }
        let ma = Metrics.read(base.appendingPathComponent("both/metrics.jsonl"))
        let mb = Metrics.read(base.appendingPathComponent("serial/metrics.jsonl"))
        XCTAssertEqual(ma.count, 4)
        for (x, y) in zip(ma, mb) {
            for key in ["objective/kl", "loss/policy_avg", "loss/value_avg", "val/ratio", "objective/scores"] {
                XCTAssertEqual(x[key], y[key], "\(key) at step \(x["step"] ?? -1)")
            }
        }

        for kind in PPOConfig.ValueModel.allCases {
            var one = config
            one.steps = 1; one.valueModel = kind
            let a = try lanes(1, "one-\(kind)", one), b = try lanes(2, "two-\(kind)", one)
            try a.train()
            try b.train()
            let ra = try XCTUnwrap(a.lastRollout), rb = try XCTUnwrap(b.lastRollout)
            XCTAssertEqual(ra.ids, rb.ids, "the rollouts are sampled before any lane runs")
            for k in ra.logProbs.indices {
                XCTAssertEqual(ra.logProbs[k], rb.logProbs[k], accuracy: 1e-5, "log π_old[\(k)]")
                XCTAssertEqual(ra.refLogProbs[k], rb.refLogProbs[k], accuracy: 1e-5, "log π_ref[\(k)]")
                XCTAssertEqual(ra.values[k], rb.values[k], accuracy: 1e-5, "V_old[\(k)]")
            }
            XCTAssertEqual(b.firstRatio, 1, accuracy: 1e-6)
            for ((name, p), (_, q)) in zip(a.optimizer.parameters, b.optimizer.parameters) {
                let x = p.toArray(), y = q.toArray()
                let scale = x.map(abs).max()! + 1e-6
                for i in x.indices { XCTAssertEqual(x[i], y[i], accuracy: 1e-4 * scale, "\(kind): \(name)[\(i)]") }
            }
        }
    }

    /// A reward function that returns NaN stops the run naming the step and the function, and
    /// the checkpoint of the last good step stays.
    func testNonFiniteRewardStopsWithStepAndCause() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = smallConfig()
        config.checkpointEvery = 1
        let calls = Counter()
        let fn = RewardFunction(name: "flaky", weight: 1) { _, _ in calls.next() > 16 ? .nan : 0 }
        let trainer = try makeTrainer(dir, config: config, rewardFunctions: [fn])
        XCTAssertThrowsError(try trainer.train()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("step 3") && text.contains("flaky"), text)
        }
        let state = try Data(contentsOf: dir.appendingPathComponent("checkpoint-last/trainer_state.json"))
        XCTAssertEqual(try JSONDecoder().decode(TrainerState.self, from: state).step, 2)
    }

    /// PPO with a programmatic reward raises it: a response is rewarded for each "!" it contains.
    /// Both value-model layouts learn.
    func testPPORaisesAProgrammaticReward() throws {
        for kind in PPOConfig.ValueModel.allCases {
            let dir = tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            var config = smallConfig()
            config.steps = 40; config.batchSize = 16; config.numMiniBatches = 2; config.gradientAccumulation = 1
            config.rolloutBatchSize = 16; config.learningRate = 3e-3; config.klCoef = 0.01; config.decay = .constant
            config.rewardModelWeight = 0; config.missingEOSPenalty = 0; config.valueModel = kind
            let bang = RewardFunction(name: "bang", weight: 1) { _, r in Double(r.filter { $0 == "!" }.count) / 4 }
            let trainer = try makeTrainer(dir, config: config, rewardFunctions: [bang])
            try trainer.train()
            let m = Metrics.read(dir.appendingPathComponent("metrics.jsonl")).compactMap { $0["objective/bang"] }
            let first = m.prefix(5).reduce(0, +) / 5, last = m.suffix(5).reduce(0, +) / 5
            print("PPO \(kind) value model: bang reward \(first) → \(last)")
            XCTAssertGreaterThan(last, first + 0.2, "\(kind): reward \(first) → \(last)")
        }
    }

    /// GRPO and RLOO: each prompt appears `numGenerations` times in consecutive rows; the group
    /// baseline makes the advantages of a group sum to zero; there is no critic; and both raise
    /// the same programmatic reward PPO does.
    func testGRPOAndRLOOGroupPromptsAndRaiseAProgrammaticReward() throws {
        for estimator in [PPOConfig.AdvantageEstimator.grpo, .rloo] {
            let dir = tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            var config = smallConfig()
            config.advantageEstimator = estimator; config.numGenerations = 4
            config.steps = 40; config.batchSize = 16; config.numMiniBatches = 2; config.gradientAccumulation = 1
            config.rolloutBatchSize = 16; config.learningRate = 3e-3; config.klCoef = 0.01; config.decay = .constant
            config.ppoEpochs = estimator == .grpo ? 1 : 2
            config.rewardModelWeight = 0; config.missingEOSPenalty = 0
            let bang = RewardFunction(name: "bang", weight: 1) { _, r in Double(r.filter { $0 == "!" }.count) / 4 }
            let trainer = try makeTrainer(dir, config: config, rewardFunctions: [bang])
            XCTAssertNil(trainer.value)
            let idx = trainer.promptIndices(iteration: 0)
            XCTAssertEqual(idx.count, 16)
            for g in 0..<4 { XCTAssertEqual(Set(idx[g * 4..<g * 4 + 4]).count, 1, "group \(g) mixes prompts") }
            XCTAssertEqual(Set(idx).count, 4)
            try trainer.train(stopAt: 1)
            let r = try XCTUnwrap(trainer.lastRollout)
            for g in 0..<4 {
                let perRow = (g * 4..<g * 4 + 4).map { b in r.responseLengths[b] > 0 ? r.advantages[b * r.responseLength] : 0 }
                XCTAssertEqual(perRow.reduce(0, +), 0, accuracy: 1e-4, "\(estimator) group \(g) advantages \(perRow)")
            }
            XCTAssertEqual(trainer.firstRatio, 1, accuracy: 1e-6)
            try trainer.train()
            let rows = Metrics.read(dir.appendingPathComponent("metrics.jsonl"))
            XCTAssertNil(rows.last?["val/explained_variance"])
            let m = rows.compactMap { $0["objective/bang"] }
            let first = m.prefix(5).reduce(0, +) / 5, last = m.suffix(5).reduce(0, +) / 5
            print("\(estimator): bang reward \(first) → \(last)")
            XCTAssertGreaterThan(last, first + 0.2, "\(estimator): reward \(first) → \(last)")
        }
    }

    func testGroupEstimatorsRejectBatchesThatDoNotSplitIntoGroups() {
        var c = smallConfig()
        c.advantageEstimator = .grpo; c.batchSize = 10; c.numGenerations = 4; c.numMiniBatches = 1; c.gradientAccumulation = 1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--num-generations"), "\($0)") }
        c.numGenerations = 1; c.batchSize = 8
        XCTAssertThrowsError(try c.validate())
        c.advantageEstimator = .rloo  // named by RLOO's own flag
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--rloo-k"), "\($0)") }
        c.advantageEstimator = .gae; c.numGenerations = 4
        c.rolloutBatchSize = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--rollout-batch-size"), "\($0)") }
        c.rolloutBatchSize = 8; c.topK = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--top-k"), "\($0)") }
        c.topK = nil; c.topP = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--top-p"), "\($0)") }
    }
}

/// A thread-safe call counter for reward functions in tests.
final class Counter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}

final class OveroptimizationTests: XCTestCase {
    /// Proxy rising throughout while gold rises, peaks at step 20 and falls: the onset is found
    /// at the (smoothed) gold peak with the KL there; a run whose gold still rises has none.
    func testDetectsGoldPeakWhileProxyKeepsRising() throws {
        let steps = (1...40).map(Double.init)
        let proxy = steps.map { 0.05 * $0 }
        let gold = steps.map { 1 - 0.002 * ($0 - 20) * ($0 - 20) }
        let kl = steps.map { 0.1 * $0 }
        let onset = try XCTUnwrap(OveroptimizationOnset.detect(steps: steps, proxy: proxy, gold: gold, kl: kl, window: 5))
        // A trailing 5-step mean of a parabola peaking at 20 peaks at 22.
        XCTAssertEqual(onset.step, 22)
        XCTAssertEqual(onset.kl, 2.0, accuracy: 1e-9)   // mean of 1.8…2.2
        XCTAssertGreaterThan(onset.proxyGain, 0.8)
        XCTAssertLessThan(onset.goldChange, -0.3)
        XCTAssertNil(OveroptimizationOnset.detect(steps: steps, proxy: proxy, gold: steps.map { 0.01 * $0 }, kl: kl))
        // Gold falling while proxy falls too is not hacking.
        XCTAssertNil(OveroptimizationOnset.detect(steps: steps, proxy: proxy.map { -$0 }, gold: gold, kl: kl))
    }
}
