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
}
