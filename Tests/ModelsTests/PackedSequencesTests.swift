import XCTest
import Tensors
@testable import Models

/// `hiddenStates(packed:lengths:)`: sequences end to end without pads give each sequence the
/// hidden states it has alone and in a left-padded batch.
final class PackedSequencesTests: XCTestCase {
    func model() throws -> GPT2 {
        var c = try GPT2Config.preset("tiny", vocabSize: 50, context: 16)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 4
        return GPT2(config: c, seed: 11)
    }

    func testPackedRowsAreEachSequenceAloneAndTheRealRowsOfAPaddedBatch() throws {
        let gpt = try model()
        let sequences: [[Int32]] = [[3, 9, 4], [7], [1, 2, 3, 4, 5, 6], [8, 8]]
        let c = gpt.config.nEmbd
        let packed = withNoGrad { gpt.hiddenStates(packed: sequences.flatMap { $0 }, lengths: sequences.map(\.count)) }.toArray()
        XCTAssertEqual(packed.count, sequences.reduce(0) { $0 + $1.count } * c)
        // Left-padded as generation lays a batch out: positions count real tokens.
        let t = sequences.map(\.count).max()!
        var ids: [Int32] = [], mask: [Float] = []
        for s in sequences {
            ids += [Int32](repeating: 0, count: t - s.count) + s
            mask += [Float](repeating: 0, count: t - s.count) + [Float](repeating: 1, count: s.count)
        }
        let padded = withNoGrad { gpt.hiddenStates(ids: ids, batch: sequences.count, length: t, keyMask: mask) }.toArray()
        var start = 0
        for (b, s) in sequences.enumerated() {
            let mine = Array(packed[start * c..<(start + s.count) * c])
            let alone = withNoGrad { gpt.hiddenStates(ids: s, batch: 1, length: s.count) }.toArray()
            let inBatch = Array(padded[(b * t + t - s.count) * c..<(b + 1) * t * c])
            for (x, y) in zip(mine, alone) { XCTAssertEqual(x, y, accuracy: 1e-5, "sequence \(b) alone") }
            for (x, y) in zip(mine, inBatch) { XCTAssertEqual(x, y, accuracy: 1e-5, "sequence \(b) in a padded batch") }
            start += s.count
        }
    }

    /// A sequence's hidden states do not depend on what it is packed with or where (up to the
    /// last bits of the products, whose blocking follows the row count): PPO's old
    /// log-probabilities (rows in order) and its training pass (shuffled rows) rely on this.
    func testASequenceIsTheSameWhereverItIsPacked() throws {
        let gpt = try model()
        let a: [Int32] = [4, 5, 6, 7, 8], b: [Int32] = [9, 1], d: [Int32] = [2, 2, 2, 3, 3, 3, 1]
        let c = gpt.config.nEmbd
        let first = withNoGrad { gpt.hiddenStates(packed: a + b + d, lengths: [5, 2, 7]) }.toArray()
        let second = withNoGrad { gpt.hiddenStates(packed: d + a, lengths: [7, 5]) }.toArray()
        for (x, y) in zip(first[0..<5 * c], second[7 * c..<12 * c]) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        for (x, y) in zip(first[7 * c..<14 * c], second[0..<7 * c]) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }
}

/// `LanguageModelBatch`: sequences end to end, targets shifted within each sequence only.
final class LanguageModelBatchTests: XCTestCase {
    func testSequencesArePackedAndEachPredictsOnlyItsOwnNextTokens() {
        // Sequence 0: loss from token 2 (a two-token prompt); sequence 1: plain text, cut to 4.
        let b = LanguageModelBatch(sequences: [[1, 2, 3, 4], [5, 6, 7, 8, 9]], lossFrom: [2, 1], maxLength: 4)
        XCTAssertEqual(b.ids, [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(b.lengths, [4, 4])
        XCTAssertEqual(b.targets, [-100, 3, 4, -100, 6, 7, 8, -100])
        XCTAssertEqual(b.predictedTokensPerSequence, [2, 3])
        XCTAssertEqual(b.predictedTokens, 5)
    }

    /// DPO's sequence log-probabilities: the packed batch gives each sequence what it gets alone.
    func testSequenceLogProbsAreEachSequencesAlone() throws {
        var c = try GPT2Config.preset("tiny", vocabSize: 50, context: 16)
        c.nLayer = 2; c.nEmbd = 32; c.nHead = 4
        let gpt = GPT2(config: c, seed: 12)
        let seqs: [[Int32]] = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15, 16]]
        let together = withNoGrad { gpt.sequenceLogProbs(LanguageModelBatch(sequences: seqs, lossFrom: [2, 1, 3], maxLength: 16)) }.toArray()
        for (i, (s, from)) in zip(seqs, [2, 1, 3]).enumerated() {
            let alone = withNoGrad { gpt.sequenceLogProbs(LanguageModelBatch(sequences: [s], lossFrom: [from], maxLength: 16)) }.toArray()
            XCTAssertEqual(together[i], alone[0], accuracy: 1e-4, "sequence \(i)")
        }
    }
}
