import XCTest
@testable import Tensors

/// `BLAS.sgemm` against a plain triple loop, for every transpose combination, with padded
/// leading dimensions, on the one-row path (SGEMV with A transposed), the few-row path
/// (`ck_skinny_sgemm`, on a CPU with AVX2 and FMA, at each vector width the CPU has: one row and a
/// few, odd sizes, more than one 2048-column panel, k and n not multiples of the vector or of the
/// 8-row block, 2–4 and 5–8 rows) and the SGEMM path, split across cores or not.
final class BLASTests: XCTestCase {
    /// Runs `body` once per few-row vector width this CPU runs: 8 (AVX2) and, with AVX-512, 16
    /// (once if the kernel is not in use).
    private func forEachSkinnyWidth(_ body: () -> Void) {
        let widest = BLAS.setSkinnyLanes(0)
        defer { BLAS.setSkinnyLanes(widest) }
        let lanes = [8, 16].filter { BLAS.setSkinnyLanes($0) == $0 }
        if lanes.isEmpty { body(); return }
        for l in lanes {
            BLAS.setSkinnyLanes(l)
            body()
        }
    }

    func testSgemmMatchesNaiveProduct() {
        forEachSkinnyWidth { checkSgemmAgainstNaiveProduct() }
    }

    private func checkSgemmAgainstNaiveProduct() {
        var rng = RNG(seed: 5)
        let lanes = BLAS.setSkinnyLanes(0)
        // (m, n, k): one row small and large enough to be split across cores, and a few rows.
        for (m, n, k) in [(1, 7, 5), (1, 3001, 769), (3, 9, 4), (5, 1200, 700), (2, 37, 13), (4, 17, 3), (7, 600, 9),
                          (8, 1031, 515), (3, 4300, 33), (6, 4200, 40), (9, 40, 16)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for beta: Float in [0, 0.5] {
                        // Stored shapes: A is m×k (or k×m if transposed), B is k×n (or n×k); pad each row by 3.
                        let (aRows, aCols) = transA ? (k, m) : (m, k)
                        let (bRows, bCols) = transB ? (n, k) : (k, n)
                        let lda = aCols + 3, ldb = bCols + 3, ldc = n + 3
                        let a = (0..<(aRows * lda)).map { _ in rng.normal() }
                        let b = (0..<(bRows * ldb)).map { _ in rng.normal() }
                        let c0 = (0..<(m * ldc)).map { _ in rng.normal() }
                        var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : c0
                        a.withUnsafeBufferPointer { pa in
                            b.withUnsafeBufferPointer { pb in
                                c.withUnsafeMutableBufferPointer { pc in
                                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.5,
                                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                               beta: beta, c: pc.baseAddress!, ldc: ldc)
                                }
                            }
                        }
                        var worst: Float = 0
                        for i in 0..<m {
                            for j in 0..<n {
                                var s: Float = 0
                                for p in 0..<k {
                                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                                    s += x * y
                                }
                                let want = 1.5 * s + (beta == 0 ? 0 : beta * c0[i * ldc + j])
                                worst = max(worst, abs(c[i * ldc + j] - want) / max(1, abs(want)))
                            }
                        }
                        XCTAssertLessThan(worst, 1e-4, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta) lanes \(lanes)")
                    }
                }
            }
        }
    }

    /// A product's values never depend on the core count: split across two cores or not, every
    /// entry is bit for bit the same (the few-row kernel's tail columns round like its vectors).
    func testSplitAcrossCoresIsBitIdentical() {
        forEachSkinnyWidth { checkSplitIsBitIdentical() }
    }

    /// Few-row shapes (split by columns) and SGEMM shapes split by rows (128 rows: 72 + 56 on two
    /// cores; 96×128×640, whose halves OpenBLAS might send to a direct kernel that does not cut k
    /// into blocks; 2000 rows, which get a tail of small blocks on two cores, and 4000 on two to
    /// four, one of them with k past OpenBLAS's k-blocks of 448), and shapes whose blocks would be
    /// small enough for OpenBLAS's small-matrix kernels: the 1400×1×768 value head and 80×100×128
    /// stay whole, and 2000×40×120 and 4000×32×150 (two and four cores) split without the tail,
    /// whose small blocks would be under the limit. On 2, 3 and 4 cores against one, with A as
    /// stored or transposed, and with a bias, which each block's core sets in it.
    private func checkSplitIsBitIdentical() {
        var rng = RNG(seed: 9)
        let shapes = [(1, 3001, 769), (2, 37, 13), (5, 1031, 515), (8, 2304, 77), (3, 9, 600), (7, 4133, 30), (40, 300, 200),
                      (128, 384, 600), (96, 128, 640), (200, 256, 64), (1400, 1, 768), (80, 100, 128), (130, 70, 50),
                      (2000, 48, 130), (4000, 40, 160), (4000, 16, 520), (2000, 40, 120), (4000, 32, 150)]
        for (m, n, k) in shapes {
            for transA in [false, true] where !(transA && m <= 8) {
                for transB in [false, true] {
                    for withBias in [false, true] {
                        let a = (0..<(m * k)).map { _ in rng.normal() }
                        let b = (0..<(n * k)).map { _ in rng.normal() }
                        let bias = (0..<n).map { _ in rng.normal() }
                        // prefilled: C's rows set to the bias beforehand, which `bias:` replaces.
                        func product(workers: Int, prefilled: Bool = false) -> [Float] {
                            let saved = ThreadSettings.current.workers
                            ThreadSettings.current.workers = workers
                            defer { ThreadSettings.current.workers = saved }
                            var c = prefilled ? (0..<m).flatMap { _ in bias } : [Float](repeating: .nan, count: m * n)
                            a.withUnsafeBufferPointer { pa in
                                b.withUnsafeBufferPointer { pb in
                                    bias.withUnsafeBufferPointer { pbias in
                                        c.withUnsafeMutableBufferPointer { pc in
                                            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: transA ? m : k,
                                                       b: pb.baseAddress!, ldb: transB ? k : n, beta: withBias ? 1 : 0, c: pc.baseAddress!, ldc: n,
                                                       bias: withBias && !prefilled ? pbias.baseAddress! : nil)
                                        }
                                    }
                                }
                            }
                            return c
                        }
                        let one = product(workers: 1)
                        let what = "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) bias \(withBias) lanes \(BLAS.setSkinnyLanes(0))"
                        for workers in 2...4 {
                            XCTAssertEqual(one.map(\.bitPattern), product(workers: workers).map(\.bitPattern), what + " workers \(workers)")
                        }
                        if withBias {
                            XCTAssertEqual(one.map(\.bitPattern), product(workers: 1, prefilled: true).map(\.bitPattern), what)
                        }
                    }
                }
            }
        }
    }

    /// Row blocks start at multiples of 24 and end at m, the last keeps 24 rows or more; one
    /// block per core below 960 rows per core, and above it 80% of each core's share first, then
    /// one small block per core of 168 rows or more (a fifth of 960, less the rounding to 24).
    func testRowBlocks() {
        XCTAssertEqual(BLAS.rowBlockStarts(m: 128, parts: 2), [0, 72, 128])
        XCTAssertEqual(BLAS.rowBlockStarts(m: 50, parts: 2), [0, 24, 50])
        XCTAssertEqual(BLAS.rowBlockStarts(m: 1919, parts: 2), [0, 960, 1919])
        XCTAssertEqual(BLAS.rowBlockStarts(m: 2200, parts: 2), [0, 888, 1752, 1992, 2200])
        XCTAssertEqual(BLAS.rowBlockStarts(m: 2200, parts: 2, tail: false), [0, 1104, 2200])
        for parts in 2...4 {
            XCTAssertEqual(BLAS.rowBlockStarts(m: 960 * parts - 1, parts: parts).count, parts + 1)
            XCTAssertEqual(BLAS.rowBlockStarts(m: 960 * parts, parts: parts).count, 2 * parts + 1)
            for m in stride(from: 48, through: 6000, by: 7) {
                let s = BLAS.rowBlockStarts(m: m, parts: parts)
                XCTAssertEqual(s.first, 0); XCTAssertEqual(s.last, m)
                XCTAssertEqual(s.count - 1, m >= 960 * parts ? 2 * parts : parts, "m \(m) parts \(parts)")
                XCTAssertTrue(s.dropLast().allSatisfy { $0 % 24 == 0 }, "m \(m) parts \(parts): \(s)")
                XCTAssertTrue(zip(s, s.dropFirst()).allSatisfy { $0 <= $1 }, "m \(m) parts \(parts): \(s)")
                XCTAssertGreaterThanOrEqual(m - s[s.count - 2], 24, "m \(m) parts \(parts): \(s)")
                if m >= 960 * parts {
                    XCTAssertTrue(zip(s, s.dropFirst()).allSatisfy { $1 - $0 >= 168 }, "m \(m) parts \(parts): \(s)")
                }
            }
        }
    }

    /// A row's values do not depend on the rows beside it: the few-row kernel's one-row loops
    /// (batch-1 decoding) give each entry bit for bit what it gets as one row of 2–8, so batch-1
    /// and batched generation produce the same numbers.
    func testOneRowIsBitIdenticalToItsRowInAFewRowProduct() throws {
        try XCTSkipUnless(BLAS.skinny, "without the few-row kernel one row goes to SGEMV, whose order differs")
        forEachSkinnyWidth {
            var rng = RNG(seed: 11)
            for (m, n, k) in [(2, 37, 13), (4, 3001, 769), (8, 1031, 515), (5, 2304, 77), (3, 9, 600)] {
                for transB in [false, true] {
                    for alpha: Float in [1, 0.75] {
                        let a = (0..<(m * k)).map { _ in rng.normal() }
                        let b = (0..<(n * k)).map { _ in rng.normal() }
                        let c0 = (0..<(m * n)).map { _ in rng.normal() }
                        func product(rows: Range<Int>) -> [Float] {
                            var c = Array(c0[(rows.lowerBound * n)..<(rows.upperBound * n)])
                            a.withUnsafeBufferPointer { pa in
                                b.withUnsafeBufferPointer { pb in
                                    c.withUnsafeMutableBufferPointer { pc in
                                        BLAS.sgemm(transA: false, transB: transB, m: rows.count, n: n, k: k, alpha: alpha,
                                                   a: pa.baseAddress! + rows.lowerBound * k, lda: k, b: pb.baseAddress!, ldb: transB ? k : n,
                                                   beta: 0.5, c: pc.baseAddress!, ldc: n)
                                    }
                                }
                            }
                            return c
                        }
                        let all = product(rows: 0..<m)
                        for r in 0..<m {
                            XCTAssertEqual(product(rows: r..<(r + 1)).map(\.bitPattern), all[(r * n)..<((r + 1) * n)].map(\.bitPattern),
                                           "row \(r) of m \(m) n \(n) k \(k) transB \(transB) alpha \(alpha) lanes \(BLAS.setSkinnyLanes(0))")
                        }
                    }
                }
            }
        }
    }
}
