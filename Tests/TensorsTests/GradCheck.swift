import XCTest
@testable import Tensors

/// Centred finite differences against the analytic backward pass.
///
/// The scalar checked is L = Σ wᵢ·outᵢ with fixed random weights w, so every output element's
/// gradient path is exercised with a different weight. L is accumulated in Float64 from the
/// Float32 outputs; h = 1e-2 keeps Float32 rounding (≈1e-7·|L|/h) well under the O(h²) truncation.
func checkGradients(
    _ inputs: [Tensor], h: Float = 1e-2, tolerance: Double = 2e-2, maxElements: Int = 48,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor
) {
    var rng = RNG(seed: 99, stream: 7)
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let out = f(inputs)
    let w = Tensor.randn(out.shape, rng: &rng)
    sum(out * w).backward()

    func loss() -> Double {
        withNoGrad {
            let o = f(inputs)
            var s = 0.0
            for i in 0..<o.count { s += Double(o.pointer[i]) * Double(w.pointer[i]) }
            return s
        }
    }

    for (k, t) in inputs.enumerated() {
        guard let g = t.grad else { XCTFail("input \(k) \(t.shape) got no gradient", file: file, line: line); continue }
        // A spread of element indices (all of them for small tensors).
        let stride = max(1, t.count / maxElements)
        var numeric: [Double] = [], analytic: [Double] = []
        for i in Swift.stride(from: 0, to: t.count, by: stride) {
            let saved = t.pointer[i]
            t.pointer[i] = saved + h; let up = loss()
            t.pointer[i] = saved - h; let down = loss()
            t.pointer[i] = saved
            numeric.append((up - down) / (2 * Double(h)))
            analytic.append(Double(g.pointer[i]))
        }
        var diff = 0.0, norm = 0.0
        for (a, n) in zip(analytic, numeric) { diff += (a - n) * (a - n); norm += max(a * a, n * n) }
        let rel = diff.squareRoot() / max(norm.squareRoot(), 1e-6)
        XCTAssertLessThan(rel, tolerance, "input \(k) \(t.shape): relative gradient error \(rel)\n analytic \(analytic.prefix(6))\n numeric \(numeric.prefix(6))", file: file, line: line)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: scale, rng: &rng)
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-4, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(message)", file: file, line: line)
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    XCTAssertLessThanOrEqual(worst, tol, "max relative difference \(worst) \(message)", file: file, line: line)
}
