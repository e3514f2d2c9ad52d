import XCTest
import Tensors
@testable import Models

/// Inference (generation, completion log-probabilities, reward scores) runs with dropout off
/// even on a model left in training mode, and leaves the mode as it found it.
final class DropoutOffTests: XCTestCase {
    func model(dropout: Double, training: Bool) throws -> GPT2 {
        var c = try GPT2Config.preset("tiny", vocabSize: 50, context: 16)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 4
        c.residPdrop = dropout; c.embdPdrop = dropout; c.attnPdrop = dropout
        let m = GPT2(config: c, seed: 13)
        m.training = training
        return m
    }

    func testInferenceIgnoresDropoutAndRestoresTrainingMode() throws {
        let eval = try model(dropout: 0.5, training: false), train = try model(dropout: 0.5, training: true)
        let seqs: [[Int32]] = [[1, 2, 3, 4, 5], [6, 7, 8]]
        XCTAssertEqual(train.completionLogProbs(seqs, completionStart: [2, 1]), eval.completionLogProbs(seqs, completionStart: [2, 1]))
        XCTAssertTrue(train.training)
        var r1 = RNG(seed: 3), r2 = RNG(seed: 3)
        var options = SamplingOptions(); options.maxNewTokens = 5
        XCTAssertEqual(train.generate(prompts: seqs, options: options, rng: &r1).tokens, eval.generate(prompts: seqs, options: options, rng: &r2).tokens)
        XCTAssertTrue(train.training)
        let rmTrain = RewardModel(initializedFrom: train, seed: 4), rmEval = RewardModel(initializedFrom: eval, seed: 4)
        rmTrain.trunk.training = true
        XCTAssertEqual(rmTrain.score(seqs), rmEval.score(seqs))
        XCTAssertTrue(rmTrain.trunk.training)
        XCTAssertFalse(eval.training)
    }
}
