import XCTest
import Foundation
@testable import Tensors

final class FastMathTests: XCTestCase {
    func testExp8WithinTwoUlpOverItsRange() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let got = Double(exp8(SIMD8(repeating: x))[3])
            let want = Foundation.exp(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 2.5e-7, "worst relative error \(worst)")
        XCTAssertTrue(exp8(SIMD8(repeating: 1000))[0].isFinite)
        XCTAssertEqual(exp8(SIMD8(repeating: -1000))[0], 0, accuracy: 1e-37)
    }

    func testTanh8AbsoluteError() {
        var worst: Double = 0
        var x: Float = -20
        while x < 20 {
            worst = max(worst, abs(Double(tanh8(SIMD8(repeating: x))[0]) - Foundation.tanh(Double(x))))
            x += 0.0071
        }
        XCTAssertLessThan(worst, 3e-7)
    }

    /// The vector maximum is the scalar loop's (`Swift.max`, which skips NaN), at every length
    /// around the 8-lane blocks, wherever the largest value sits, with −∞ and NaN among the
    /// values; and −∞ for no values or only −∞.
    func testVectorMaximumIsTheScalarOnes() {
        var rng = RNG(seed: 5)
        for n in 0..<40 {
            for trial in 0..<20 {
                var x = (0..<n).map { _ in Float(rng.uniform()) * 20 - 10 }
                if n > 0 && trial % 3 == 1 { x[rng.below(n)] = -.infinity }
                if n > 0 && trial % 5 == 2 { x[rng.below(n)] = .nan }
                let want = x.reduce(-Float.infinity) { Swift.max($0, $1) }
                let got = vmax(x, n)
                XCTAssertEqual(got, want, "n \(n): \(x)")
            }
        }
        let hidden = [Float](repeating: -.infinity, count: 19)
        XCTAssertEqual(vmax(hidden, 19), -.infinity)
        var lanes = SIMD8<Float>(repeating: -1)
        for i in 0..<8 {
            lanes[i] = 3
            XCTAssertEqual(horizontalMax(lanes), 3, "lane \(i)")
            lanes[i] = -1
        }
    }
}
