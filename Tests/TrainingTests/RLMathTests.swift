import XCTest
import Foundation
import Tensors
@testable import Training

final class RLMathTests: XCTestCase {
    /// Three tokens, reward only at the end, worked by hand with γ = 0.9, λ = 0.5:
    /// δ₂ = 1 − 0.3 = 0.7; δ₁ = 0 + 0.9·0.3 − 0.2 = 0.07; δ₀ = 0 + 0.9·0.2 − 0.1 = 0.08
    /// A₂ = 0.7; A₁ = 0.07 + 0.45·0.7 = 0.385; A₀ = 0.08 + 0.45·0.385 = 0.25325.
    func testGAEHandComputed() {
        let (a, r) = generalizedAdvantages(rewards: [0, 0, 1], values: [0.1, 0.2, 0.3], gamma: 0.9, lambda: 0.5)
        XCTAssertEqual(a[2], 0.7, accuracy: 1e-6)
        XCTAssertEqual(a[1], 0.385, accuracy: 1e-6)
        XCTAssertEqual(a[0], 0.25325, accuracy: 1e-6)
        XCTAssertEqual(r[0], 0.35325, accuracy: 1e-6)
        // γ = λ = 1 with zero values: advantages are the reward-to-go.
        let (mc, _) = generalizedAdvantages(rewards: [1, 2, 3], values: [0, 0, 0], gamma: 1, lambda: 1)
        XCTAssertEqual(mc, [6, 5, 3])
    }

    func testWhiten() {
        let w = whiten([1, 2, 3, 4])
        XCTAssertEqual(w.reduce(0, +), 0, accuracy: 1e-6)
        // Unbiased std of 1…4 is √(5/3).
        XCTAssertEqual(w[3], 1.5 / Float((5.0 / 3.0).squareRoot()), accuracy: 1e-5)
        let kept = whiten([1, 2, 3, 4], shiftMean: false)
        XCTAssertEqual(kept.reduce(0, +) / 4, 2.5, accuracy: 1e-5)
    }

    func testAdaptiveKLControllerFollowsZiegler() {
        var c = KLController.adaptive(initial: 0.1, target: 6, horizon: 10_000)
        c.update(currentKL: 12, samples: 256)   // error 1.0 clipped to 0.2
        XCTAssertEqual(c.beta, 0.1 * (1 + 0.2 * 256 / 10_000), accuracy: 1e-12)
        let before = c.beta
        c.update(currentKL: 5.4, samples: 256)  // error −0.1
        XCTAssertEqual(c.beta, before * (1 - 0.1 * 256 / 10_000), accuracy: 1e-12)
        var f = KLController.fixed(0.05)
        f.update(currentKL: 100, samples: 1000)
        XCTAssertEqual(f.beta, 0.05)
    }

    /// At and beyond the clip boundary: with A > 0 a ratio above 1+ε gets no gradient (clipped
    /// branch active); with A < 0 a ratio above 1+ε keeps its gradient (unclipped is larger).
    func testClippedSurrogateAtAndBeyondBoundary() {
        let eps: Float = 0.2
        func run(_ logRatio: Float, _ adv: Float) -> (loss: Float, grad: Float, clipfrac: Float) {
            let lp = Tensor([logRatio], shape: [1], requiresGrad: true)
            let l = PPOLoss(logProbs: lp, oldLogProbs: Tensor([0], shape: [1]), advantages: Tensor([adv], shape: [1]),
                            mask: Tensor([1], shape: [1]), clipRange: eps)
            l.policyLoss.backward()
            return (l.policyLoss.item, lp.grad!.item, l.clipFraction)
        }
        let inside = run(Foundation.log(1.1), 2)
        XCTAssertEqual(inside.loss, -2 * 1.1, accuracy: 1e-5)
        XCTAssertEqual(inside.grad, -2 * 1.1, accuracy: 1e-5)      // d(−A·r)/dlogp = −A·r
        XCTAssertEqual(inside.clipfrac, 0)
        let beyondPositive = run(Foundation.log(1.5), 2)
        XCTAssertEqual(beyondPositive.loss, -2 * 1.2, accuracy: 1e-5)
        XCTAssertEqual(beyondPositive.grad, 0, accuracy: 1e-7)
        let beyondNegative = run(Foundation.log(1.5), -2)
        XCTAssertEqual(beyondNegative.loss, 2 * 1.5, accuracy: 1e-5)
        XCTAssertEqual(beyondNegative.grad, 2 * 1.5, accuracy: 1e-5)
        XCTAssertEqual(beyondNegative.clipfrac, 0)
        let belowPositive = run(Foundation.log(0.5), 2)              // r < 1−ε, A > 0: unclipped wins
        XCTAssertEqual(belowPositive.loss, -2 * 0.5, accuracy: 1e-5)
        XCTAssertEqual(belowPositive.grad, -2 * 0.5, accuracy: 1e-5)
        // Exactly at 1+ε both branches are equal; the loss is continuous there.
        let atBoundary = run(Foundation.log(1.2), 2)
        XCTAssertEqual(atBoundary.loss, -2 * 1.2, accuracy: 1e-5)
    }

    func testClippedValueLoss() {
        let v = Tensor([1.0, 0.0], shape: [2], requiresGrad: true)
        let (loss, clipFraction) = PPOLoss.valueLoss(values: v, oldValues: Tensor([0.5, 0.1], shape: [2]), returns: Tensor([0, 0.05], shape: [2]),
                                                     mask: Tensor([1, 1], shape: [2]), clipRange: 0.2)
        // Token 0: (1−0)² = 1 vs clipped 0.7² = 0.49 → 1.  Token 1: 0.0025 vs (0.1−0.05)² → 0.0025.
        XCTAssertEqual(loss.item, 0.5 * (1 + 0.0025) / 2, accuracy: 1e-6)
        XCTAssertEqual(clipFraction, 0)
        loss.backward()
        XCTAssertEqual(v.grad![0], 0.5 * 2 * 1 / 2, accuracy: 1e-6)
    }

    /// DPO against the formula computed directly, value and gradient.
    func testDPOSigmoidIPOAndRobustMatchFormula() {
        let pc: [Float] = [-3, -5], pr: [Float] = [-4, -4.5], rc: [Float] = [-3.5, -5], rr: [Float] = [-3.8, -4.6]
        let beta: Float = 0.1
        for type in DPOLossType.allCases {
            let tc = Tensor(pc, shape: [2], requiresGrad: true), tr = Tensor(pr, shape: [2], requiresGrad: true)
            let d = DPOLoss(policyChosen: tc, policyRejected: tr, referenceChosen: Tensor(rc, shape: [2]),
                            referenceRejected: Tensor(rr, shape: [2]), beta: beta, type: type, labelSmoothing: 0.1)
            d.loss.backward()
            var expected = 0.0
            var grads: [Double] = []
            for i in 0..<2 {
                let h = Double((pc[i] - pr[i]) - (rc[i] - rr[i])), b = Double(beta)
                let s = 1 / (1 + Foundation.exp(-b * h))
                switch type {
                case .sigmoid:  // with ε = 0.1: conservative DPO
                    expected += (-(0.9) * Foundation.log(s) - 0.1 * Foundation.log(1 - s)) / 2
                    grads.append((-(0.9) * (1 - s) * b + 0.1 * s * b) / 2)
                case .robust:
                    expected += (-(0.9) * Foundation.log(s) + 0.1 * Foundation.log(1 - s)) / 0.8 / 2
                    grads.append((-(0.9) * (1 - s) * b - 0.1 * s * b) / 0.8 / 2)
                case .ipo:
                    expected += (h - 1 / (2 * b)) * (h - 1 / (2 * b)) / 2
                    grads.append(2 * (h - 1 / (2 * b)) / 2)
                }
            }
            XCTAssertEqual(Double(d.loss.item), expected, accuracy: 1e-5, "\(type)")
            for i in 0..<2 {
                XCTAssertEqual(Double(tc.grad![i]), grads[i], accuracy: 1e-5, "\(type) chosen grad")
                XCTAssertEqual(Double(tr.grad![i]), -grads[i], accuracy: 1e-5, "\(type) rejected grad")
            }
            XCTAssertEqual(d.chosenRewards[0], beta * 0.5, accuracy: 1e-6)
            XCTAssertEqual(d.accuracy, 0.5)  // margins 0.07 (> 0) and −0.01
        }
        // Plain DPO (ε = 0): −log σ(βh).
        let d = DPOLoss(policyChosen: Tensor(pc, shape: [2]), policyRejected: Tensor(pr, shape: [2]), referenceChosen: Tensor(rc, shape: [2]),
                        referenceRejected: Tensor(rr, shape: [2]), beta: beta)
        let expected = (0..<2).map { i -> Double in
            let h = Double((pc[i] - pr[i]) - (rc[i] - rr[i]))
            return Foundation.log(1 + Foundation.exp(-Double(beta) * h)) / 2
        }.reduce(0, +)
        XCTAssertEqual(Double(d.loss.item), expected, accuracy: 1e-6)
    }

    func testGroupAdvantagesIncludingAllEqualGroup() {
        let a = groupRelativeAdvantages([1, 2, 3, 5, 5, 5], groupSize: 3)
        XCTAssertEqual(a[0], -1 / (1 + 1e-4), accuracy: 1e-5)  // mean 2, sample std 1
        XCTAssertEqual(a[2], 1 / (1 + 1e-4), accuracy: 1e-5)
        XCTAssertEqual(Array(a[3...]), [0, 0, 0])
        XCTAssertTrue(a.allSatisfy { $0.isFinite })
        let r = leaveOneOutAdvantages([1, 2, 3, 4, 4], groupSize: 5)
        XCTAssertEqual(r[0], 1 - (2 + 3 + 4 + 4) / 4, accuracy: 1e-6)
        XCTAssertEqual(leaveOneOutAdvantages([2, 2], groupSize: 2), [0, 0])
    }
}
