import XCTest
@testable import Tensors

/// Every op's backward against centred finite differences, at odd sizes (1, 7, 33) and batch > 1.
final class GradientTests: XCTestCase {
    func testMatmulAllTransposeCombinations() {
        for (m, k, n) in [(1, 7, 33), (7, 33, 1), (5, 3, 4)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = randomTensor(transA ? [k, m] : [m, k], seed: 1)
                    let b = randomTensor(transB ? [n, k] : [k, n], seed: 2)
                    checkGradients([a, b]) { matmul($0[0], $0[1], transA: transA, transB: transB) }
                }
            }
        }
    }

    func testBatchedMatmulSharedAndPerBatchRight() {
        let a = randomTensor([3, 5, 7], seed: 3)
        let shared = randomTensor([7, 4], seed: 4)
        checkGradients([a, shared]) { matmul($0[0], $0[1]) }
        let per = randomTensor([3, 7, 4], seed: 5)
        checkGradients([a, per]) { matmul($0[0], $0[1]) }
        let perT = randomTensor([3, 4, 7], seed: 6)
        checkGradients([a, perT]) { matmul($0[0], $0[1], transB: true) }
        let aT = randomTensor([3, 7, 5], seed: 7)
        checkGradients([aT, per]) { matmul($0[0], $0[1], transA: true) }
    }

    func testMatmulMatchesNaiveProduct() {
        let a = randomTensor([2, 3, 5], seed: 8), b = randomTensor([5, 4], seed: 9)
        let c = matmul(a, b)
        var expected = [Float](repeating: 0, count: 2 * 3 * 4)
        for r in 0..<6 { for j in 0..<4 { for k in 0..<5 { expected[r * 4 + j] += a[r * 5 + k] * b[k * 4 + j] } } }
        assertClose(c.toArray(), expected, tol: 1e-5)
        XCTAssertEqual(c.shape, [2, 3, 4])
    }

    func testLinearBothWeightLayouts() {
        let x = randomTensor([2, 3, 7], seed: 10)
        let w = randomTensor([7, 33], seed: 11), b = randomTensor([33], seed: 12)
        checkGradients([x, w, b]) { linear($0[0], $0[1], $0[2]) }
        let wt = randomTensor([33, 7], seed: 13)
        checkGradients([x, wt]) { linear($0[0], $0[1], transposedWeight: true) }
        // Same numbers as matmul + bias.
        let y = linear(x, w, b), ref = matmul(x, w) + b
        assertClose(y.toArray(), ref.toArray(), tol: 1e-5)
    }

    func testBinaryOpsWithEveryBroadcast() {
        let a = randomTensor([2, 3, 7], seed: 20)
        let same = randomTensor([2, 3, 7], seed: 21)
        let row = randomTensor([7], seed: 22)
        let col = randomTensor([2, 3, 1], seed: 23)
        let scalar = randomTensor([1], seed: 24)
        // Keep divisors and max/min arguments away from 0 and from each other's kinks.
        let positive = exp(randomTensor([2, 3, 7], seed: 25, scale: 0.3)).detached().copy()
        for b in [same, row, col, scalar] {
            checkGradients([a, b]) { $0[0] + $0[1] }
            checkGradients([a, b]) { $0[0] - $0[1] }
            checkGradients([a, b]) { $0[0] * $0[1] }
            checkGradients([b, a]) { $0[0] * $0[1] }
        }
        checkGradients([a, positive]) { $0[0] / $0[1] }
        checkGradients([a, same]) { maximum($0[0], $0[1]) }
        checkGradients([a, same]) { minimum($0[0], $0[1]) }
    }

    func testUnaryOps() {
        let x = randomTensor([3, 7], seed: 30)
        let positive = exp(randomTensor([3, 7], seed: 31, scale: 0.5)).detached().copy()
        checkGradients([x]) { exp($0[0]) }
        checkGradients([positive]) { log($0[0]) }
        checkGradients([positive]) { sqrt($0[0]) }
        checkGradients([x]) { sigmoid($0[0]) }
        checkGradients([x]) { logSigmoid($0[0] * 5) }
        checkGradients([x]) { tanh($0[0]) }
        checkGradients([x]) { square($0[0]) }
        checkGradients([x]) { -$0[0] * 3 + 2 }
        checkGradients([x]) { 1 - $0[0] / 4 }
        // clamp: values moved off the boundaries ±0.5 so differences do not straddle a kink.
        let off = Tensor(x.toArray().map { abs(abs($0) - 0.5) < 0.05 ? $0 + 0.2 : $0 }, shape: x.shape)
        checkGradients([off]) { clamp($0[0], -0.5, 0.5) }
        checkGradients([off]) { abs($0[0]) }
    }

    func testLogSigmoidIsStableForLargeInputs() {
        let x = Tensor([-200, -20, 0, 20, 200], shape: [5])
        let y = logSigmoid(x).toArray()
        XCTAssertEqual(y[0], -200, accuracy: 1e-3)
        XCTAssertEqual(y[2], -0.6931472, accuracy: 1e-6)
        XCTAssertEqual(y[4], 0, accuracy: 1e-6)
        XCTAssertTrue(y.allSatisfy { $0.isFinite })
    }

    func testWhereAndReductions() {
        let a = randomTensor([4, 7], seed: 40), b = randomTensor([4, 7], seed: 41)
        var rng = RNG(seed: 3)
        let cond = Tensor((0..<28).map { _ in rng.uniform() < 0.5 ? 1 : 0 }, shape: [4, 7])
        checkGradients([a, b]) { `where`(cond, $0[0], $0[1]) }
        checkGradients([a]) { sum($0[0]) }
        checkGradients([a]) { mean($0[0]) }
        checkGradients([a]) { sumLastAxis($0[0]) }
        checkGradients([a]) { segmentSums($0[0].reshaped([28]), lengths: [5, 0, 20, 3]) }
        XCTAssertEqual(segmentSums(Tensor([1, 2, 3, 4, 5, 6], shape: [6]), lengths: [1, 0, 2, 3]).toArray(), [1, 0, 5, 15])
        checkGradients([a]) { meanLastAxis($0[0]) }
        checkGradients([a]) { maskedMean($0[0], cond) }
        checkGradients([a]) { maskedSumLastAxis($0[0], cond) }
        // An all-zero mask is 0, not NaN.
        XCTAssertEqual(maskedMean(a, Tensor(zeros: [4, 7])).item, 0)
    }

    func testShapeOps() {
        let a = randomTensor([4, 3, 2], seed: 50), b = randomTensor([1, 3, 2], seed: 51)
        checkGradients([a]) { $0[0].reshaped([-1, 6]) * $0[0].reshaped([4, 6]) }
        checkGradients([a]) { $0[0].rows(1, 2) }
        checkGradients([a, b]) { concatRows([$0[0], $0[1], $0[0]]) }
    }

    func testGELUMatchesFormulaAndGradient() {
        let x = randomTensor([7, 33], seed: 60, scale: 2)
        checkGradients([x]) { gelu($0[0]) }
        let y = gelu(Tensor([-3, -1, 0, 0.5, 3], shape: [5])).toArray()
        // Values of transformers' gelu_new at these points.
        assertClose(y, [-0.0036373, -0.1588080, 0, 0.3457140, 2.9963627], tol: 1e-5)
    }

    func testLayerNorm() {
        let x = randomTensor([2, 7, 33], seed: 70, scale: 3)
        let g = randomTensor([33], seed: 71), b = randomTensor([33], seed: 72)
        checkGradients([x, g, b]) { layerNorm($0[0], $0[1], $0[2], eps: 1e-5) }
        let one = randomTensor([1, 1], seed: 73), g1 = randomTensor([1], seed: 74), b1 = randomTensor([1], seed: 75)
        checkGradients([one, g1, b1]) { layerNorm($0[0], $0[1], $0[2]) }
        // Forward against the definition in Float64.
        let y = withNoGrad { layerNorm(x, g, b, eps: 1e-5) }
        for row in 0..<14 {
            let xs = (0..<33).map { Double(x[row * 33 + $0]) }
            let m = xs.reduce(0, +) / 33
            let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 33
            for j in 0..<33 {
                let e = (xs[j] - m) / (v + 1e-5).squareRoot() * Double(g[j]) + Double(b[j])
                XCTAssertEqual(Double(y[row * 33 + j]), e, accuracy: 1e-4)
            }
        }
    }

    func testEmbeddingScatterAddsRepeatedIds() {
        let table = randomTensor([7, 5], seed: 80)
        let ids: [Int32] = [3, 0, 3, 6, 3]
        checkGradients([table]) { embedding($0[0], ids) }
        table.grad = nil
        sum(embedding(table, ids)).backward()
        XCTAssertEqual(table.grad![3 * 5], 3)  // id 3 used three times
        XCTAssertEqual(table.grad![1 * 5], 0)  // id 1 never used
    }

    func testAttentionGradientWithAndWithoutPadding() {
        for (b, t, heads, hd) in [(2, 7, 3, 4), (1, 1, 1, 33), (3, 5, 2, 8)] {
            let qkv = randomTensor([b, t, 3 * heads * hd], seed: UInt64(90 + t))
            checkGradients([qkv]) { causalSelfAttention($0[0], heads: heads) }
        }
        // Left padding: the first two positions of sequence 0 are pads.
        var mask = [Float](repeating: 1, count: 2 * 6)
        mask[0] = 0; mask[1] = 0
        let qkv = randomTensor([2, 6, 3 * 2 * 4], seed: 99)
        checkGradients([qkv]) { causalSelfAttention($0[0], heads: 2, keyMask: mask) }
        let out = causalSelfAttention(qkv, heads: 2, keyMask: mask)
        XCTAssertTrue(out.toArray().allSatisfy { $0.isFinite })
        XCTAssertEqual(Array(out.toArray()[0..<8]), [Float](repeating: 0, count: 8), "a query with no visible key outputs zeros")
    }

    /// Packed sequences: each one's output is, to the bit, what it gives alone as a batch of one
    /// (its [T, T] problems are the same calls), and the gradient matches finite differences.
    func testPackedAttentionIsEachSequenceAloneAndHasTheRightGradient() {
        let heads = 2, hd = 4, c3 = 3 * heads * hd, lengths = [3, 1, 5]
        let qkv = randomTensor([lengths.reduce(0, +), c3], seed: 97)
        let packed = withNoGrad { causalSelfAttention(packed: qkv, heads: heads, lengths: lengths) }.toArray()
        var start = 0
        for t in lengths {
            let alone = Tensor(Array(qkv.toArray()[start * c3..<(start + t) * c3]), shape: [1, t, c3])
            let out = withNoGrad { causalSelfAttention(alone, heads: heads) }.toArray()
            XCTAssertEqual(Array(packed[start * c3 / 3..<(start + t) * c3 / 3]), out, "sequence at row \(start)")
            start += t
        }
        checkGradients([qkv]) { causalSelfAttention(packed: $0[0], heads: heads, lengths: lengths) }
        checkGradients([qkv]) { t in var rng = RNG(seed: 6); return causalSelfAttention(packed: t[0], heads: heads, lengths: lengths, dropout: 0.3, rng: &rng) }
    }

    func testAttentionDropoutGradientAndExpectation() {
        let qkv = randomTensor([2, 5, 3 * 2 * 4], seed: 98)
        checkGradients([qkv]) { t in var rng = RNG(seed: 4); return causalSelfAttention(t[0], heads: 2, dropout: 0.3, rng: &rng) }
        // Averaged over many masks, dropout leaves the output unchanged in expectation.
        let plain = withNoGrad { causalSelfAttention(qkv, heads: 2) }.toArray()
        var rng = RNG(seed: 5)
        var mean = [Float](repeating: 0, count: plain.count)
        for _ in 0..<2000 {
            let o = withNoGrad { causalSelfAttention(qkv, heads: 2, dropout: 0.3, rng: &rng) }.toArray()
            for i in 0..<o.count { mean[i] += o[i] / 2000 }
        }
        assertClose(mean, plain, tol: 0.05)
    }

    func testAttentionMatchesNaiveSoftmax() {
        let b = 2, t = 5, heads = 2, hd = 3, c = heads * hd
        let qkv = randomTensor([b, t, 3 * c], seed: 100)
        let out = withNoGrad { causalSelfAttention(qkv, heads: heads) }
        for bi in 0..<b { for h in 0..<heads { for ti in 0..<t {
            func at(_ s: Int, _ part: Int, _ d: Int) -> Double { Double(qkv[(bi * t + s) * 3 * c + part * c + h * hd + d]) }
            var scores = (0...ti).map { s in (0..<hd).map { at(ti, 0, $0) * at(s, 1, $0) }.reduce(0, +) / Double(hd).squareRoot() }
            let m = scores.max()!
            scores = scores.map { Foundation.exp($0 - m) }
            let z = scores.reduce(0, +)
            for d in 0..<hd {
                let e = (0...ti).map { scores[$0] / z * at($0, 2, d) }.reduce(0, +)
                XCTAssertEqual(Double(out[(bi * t + ti) * c + h * hd + d]), e, accuracy: 1e-5)
            }
        } } }
    }

    func testLogSoftmaxGatherAndEntropy() {
        let logits = randomTensor([7, 33], seed: 110, scale: 2)
        let targets: [Int32] = [0, 5, 32, -100, 7, 7, 1]
        for temperature: Float in [1, 0.7] {
            checkGradients([logits]) { logSoftmaxGather($0[0], targets: targets, temperature: temperature).logProbs }
            checkGradients([logits]) { logSoftmaxGather($0[0], targets: targets, temperature: temperature, entropy: true).entropy! }
        }
        // Values against a Float64 computation.
        let r = withNoGrad { logSoftmaxGather(logits, targets: targets, temperature: 0.7, entropy: true) }
        for i in 0..<7 {
            let z = (0..<33).map { Double(logits[i * 33 + $0]) / 0.7 }
            let m = z.max()!
            let lse = m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +))
            let p = z.map { Foundation.exp($0 - lse) }
            let h = -zip(p, z).map { $0 * ($1 - lse) }.reduce(0, +)
            let expected = targets[i] < 0 ? 0 : z[Int(targets[i])] - lse
            XCTAssertEqual(Double(r.logProbs[i]), expected, accuracy: 1e-5)
            XCTAssertEqual(Double(r.entropy![i]), h, accuracy: 1e-5)
        }
    }

    func testFusedLMHeadMatchesUnfusedAndChecksGradients() {
        let hidden = randomTensor([7, 5], seed: 120), weight = randomTensor([33, 5], seed: 121)
        let targets: [Int32] = [1, 2, 32, -100, 0, 9, 9]
        for cacheBytes in [512 << 20, 0] {  // kept logits, and recomputed row chunks
            checkGradients([hidden, weight]) { lmHeadLogProbs($0[0], weight: $0[1], targets: targets, temperature: 0.9, cacheBytes: cacheBytes).logProbs }
            checkGradients([hidden, weight]) { lmHeadLogProbs($0[0], weight: $0[1], targets: targets, entropy: true, cacheBytes: cacheBytes).entropy! }
            let fused = withNoGrad { lmHeadLogProbs(hidden, weight: weight, targets: targets, temperature: 0.9, cacheBytes: cacheBytes).logProbs }
            let plain = withNoGrad { logSoftmaxGather(matmul(hidden, weight, transB: true), targets: targets, temperature: 0.9).logProbs }
            assertClose(fused.toArray(), plain.toArray(), tol: 1e-5)
        }
    }

    func testCrossEntropyIgnoresNegativeTargets() {
        let logits = randomTensor([4, 7], seed: 130)
        checkGradients([logits]) { crossEntropy($0[0], targets: [1, -100, 6, 0]) }
        let all = crossEntropy(logits, targets: [1, -100, 6, 0]).item
        let lp = logSoftmaxGather(logits, targets: [1, 0, 6, 0]).logProbs
        XCTAssertEqual(all, -(lp[0] + lp[2] + lp[3]) / 3, accuracy: 1e-6)
    }

    func testDropoutGradientAndScaling() {
        let x = randomTensor([7, 33], seed: 140)
        checkGradients([x]) { t in var rng = RNG(seed: 5); return dropout(t[0], p: 0.3, rng: &rng) }
        var rng = RNG(seed: 6)
        let ones = Tensor.full([100_000], 1)
        let y = withNoGrad { dropout(ones, p: 0.25, rng: &rng) }.toArray()
        let kept = y.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 100_000, 0.75, accuracy: 0.01)
        XCTAssertEqual(kept[0], 1 / 0.75, accuracy: 1e-6)
    }

    func testGradientAccumulatesAcrossBackwardCalls() {
        let w = randomTensor([3, 4], seed: 150)
        w.requiresGrad = true
        let x = randomTensor([2, 3], seed: 151)
        sum(matmul(x, w)).backward()
        let once = w.grad!.toArray()
        sum(matmul(x, w)).backward()
        assertClose(w.grad!.toArray(), once.map { $0 * 2 }, tol: 1e-6)
        w.zeroGrad()
        XCTAssertTrue(w.grad!.toArray().allSatisfy { $0 == 0 })
    }

    func testFanOutSumsGradients() {
        let x = randomTensor([5], seed: 160)
        checkGradients([x]) { t in t[0] * t[0] + exp(t[0]) * t[0] }
    }

    func testDetectAnomalyNamesTheOp() {
        let x = Tensor([0, 1], shape: [2], requiresGrad: true)
        let y = sum(sqrt(x))  // d/dx sqrt at 0 is Inf
        let anomaly = y.backward(detectAnomaly: true)
        // The first non-finite gradient appears flowing into the input, reported at the op
        // whose output gradient first is non-finite, or nil if only the leaf got it.
        XCTAssertTrue(anomaly == nil || anomaly == "sqrt")
        XCTAssertFalse(allFinite(x.grad!.pointer, 2))
        let z = Tensor([1, 2], shape: [2], requiresGrad: true)
        let l = sum(log(z - 1) * 0 + exp(z * 1000))
        XCTAssertNotNil(l.backward(detectAnomaly: true))
    }
}

import Foundation
