import Foundation
import XCTest
import Tensors
@testable import Training

final class OptimizerTests: XCTestCase {
    /// One AdamW step against the formula written out by hand.
    func testAdamWStepMatchesFormula() {
        let w = Tensor([1, -2, 3, 0.5], shape: [2, 2], requiresGrad: true)
        let b = Tensor([0.1, 0.2], shape: [2], requiresGrad: true)
        let opt = AdamW(parameters: [("w", w), ("b", b)], hyper: .init(learningRate: 0.1, weightDecay: 0.5))
        w.grad = Tensor([0.5, -1, 0, 2], shape: [2, 2])
        b.grad = Tensor([1, -1], shape: [2])
        opt.update(learningRate: 0.1)
        // Step 1: m̂ = g, v̂ = g², so the Adam step is lr·g/(|g|+eps); decay only on the matrix.
        func expect(_ p: Float, _ g: Float, decay: Bool) -> Float {
            let shrunk = decay ? p * (1 - 0.1 * 0.5) : p
            return shrunk - 0.1 * g / (abs(g) + 1e-8)
        }
        let wv = w.toArray(), bv = b.toArray()
        for (i, (p, g)) in zip([1, -2, 3, 0.5] as [Float], [0.5, -1, 0, 2] as [Float]).enumerated() {
            XCTAssertEqual(wv[i], expect(p, g, decay: true), accuracy: 1e-6)
        }
        XCTAssertEqual(bv[0], expect(0.1, 1, decay: false), accuracy: 1e-6)
        XCTAssertEqual(bv[1], expect(0.2, -1, decay: false), accuracy: 1e-6)
        XCTAssertEqual(opt.step, 1)
    }

    /// The 8-lane update split by elements across cores equals the scalar formula bit for bit,
    /// on sizes that leave a scalar tail and one that spans two of the parallel segments.
    func testAdamWVectorisedUpdateIsBitIdenticalToScalar() {
        var rng = RNG(seed: 5)
        let shapes = [[1], [13], [AdamW.segmentLength + 77], [3, 7]]
        let params = shapes.enumerated().map { ("p\($0.offset)", Tensor.randn($0.element, std: 1, rng: &rng)) }
        let unused = Tensor.randn([3, 3], std: 1, rng: &rng)
        var expected = params.map { $0.1.toArray() }
        var m = params.map { [Float](repeating: 0, count: $0.1.count) }, v = m
        let opt = AdamW(parameters: params + [("unused", unused)], hyper: .init(learningRate: 0.01, weightDecay: 0.1))
        let untouched = unused.toArray()
        for step in 1...3 {
            for (_, p) in params { p.grad = Tensor.randn(p.shape, std: 0.3, rng: &rng) }
            let lr: Float = 0.01 / Float(step)
            opt.update(learningRate: lr)
            let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
            let stepSize = lr / (1 - Float(Foundation.pow(Double(b1), Double(step))))
            let invSqrtC2 = 1 / (1 - Float(Foundation.pow(Double(b2), Double(step)))).squareRoot()
            let decay: Float = 1 - lr * 0.1
            for (k, (_, p)) in params.enumerated() {
                let g = p.grad!.toArray()
                for j in g.indices {
                    m[k][j] = b1 * m[k][j] + (1 - b1) * g[j]
                    v[k][j] = b2 * v[k][j] + (1 - b2) * g[j] * g[j]
                    // Only matrices take weight decay.
                    let shrunk = p.rank >= 2 ? expected[k][j] * decay : expected[k][j]
                    expected[k][j] = shrunk - stepSize * m[k][j] / ((v[k][j].squareRoot() * invSqrtC2) + eps)
                }
                XCTAssertEqual(p.toArray(), expected[k], "step \(step), shape \(shapes[k])")
            }
        }
        XCTAssertEqual(unused.toArray(), untouched, "a parameter without a gradient is left unchanged")
    }

    func testClipGradientNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true)
        a.grad = Tensor([3, 4], shape: [2])
        let norm = clipGradientNorm([("a", a)], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad![0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(a.grad![1], 0.8, accuracy: 1e-5)
        a.grad = Tensor([Float.nan, 1], shape: [2])
        XCTAssertEqual(firstNonFiniteGradient([("a", a)]), "a")
    }

    func testScheduleWarmupThenDecay() {
        let s = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, decay: .cosine, minRatio: 0.1)
        XCTAssertEqual(s.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 60), 0.55, accuracy: 1e-5)  // halfway: floor + half the span
        XCTAssertEqual(s.rate(at: 110), 0.1, accuracy: 1e-6)
        let l = LearningRateSchedule(peak: 1, warmupSteps: 0, totalSteps: 100, decay: .linear, minRatio: 0)
        XCTAssertEqual(l.rate(at: 25), 0.75, accuracy: 1e-6)
    }

    /// A small MLP learns (a + b) mod 7 from embeddings: loss falls far below chance (ln 7 ≈ 1.95),
    /// and a second run with the same seed gives bit-identical losses.
    func testMLPLearnsModularSumReproducibly() {
        func run() -> [Float] {
            var rng: RNG? = RNG(seed: 1234)
            var r = rng!
            let emb = Tensor.randn([7, 16], std: 0.5, rng: &r)
            let w1 = Tensor.randn([32, 64], std: 0.2, rng: &r), b1 = Tensor(zeros: [64])
            let w2 = Tensor.randn([64, 7], std: 0.2, rng: &r), b2 = Tensor(zeros: [7])
            rng = r
            let params = [("emb", emb), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)]
            for (_, p) in params { p.requiresGrad = true }
            let opt = AdamW(parameters: params, hyper: .init(learningRate: 0.01, weightDecay: 0))
            var data = RNG(seed: 99, stream: 2)
            var losses: [Float] = []
            for _ in 0..<300 {
                let batch = 32
                var a: [Int32] = [], b: [Int32] = [], y: [Int32] = []
                for _ in 0..<batch {
                    let x1 = data.below(7), x2 = data.below(7)
                    a.append(Int32(x1)); b.append(Int32(x2)); y.append(Int32((x1 + x2) % 7))
                }
                opt.zeroGrad()
                // Concatenate the two embeddings along features by summing two projections.
                let ea = embedding(emb, a), eb = embedding(emb, b)
                let h = gelu(linear(ea, w1.rows(0, 16)) + linear(eb, w1.rows(16, 16)) + b1)
                let loss = crossEntropy(linear(h, w2, b2), targets: y)
                loss.backward()
                clipGradientNorm(params, maxNorm: 1)
                opt.update(learningRate: 0.01)
                losses.append(loss.item)
            }
            return losses
        }
        let first = run(), second = run()
        XCTAssertEqual(first, second, "same seed, same losses bit for bit")
        let tail = first.suffix(20).reduce(0, +) / 20
        XCTAssertGreaterThan(first[0], 1.5)
        XCTAssertLessThan(tail, 0.2, "final loss \(tail) should be far below chance 1.95")
    }
}
