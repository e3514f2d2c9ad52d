import CKernels
import XCTest
@testable import Tensors

/// `OpenBLASCore.better`: on a CPU with AVX2 and FMA, either OpenBLAS chose vector kernels or a
/// remedy is named, never both, and the remedy is the widest set the CPU runs. (CI checks the
/// restart itself on the `rlhf` binary: an unset `OPENBLAS_CORETYPE` ends in vector kernels, a
/// set one is kept.)
final class OpenBLASCoreTests: XCTestCase {
    func testARemedyIsNamedExactlyWhenOpenBLASFellBackToKernelsOlderThanTheCPU() {
        let name = OpenBLASCore.name
        XCTAssertFalse(name.isEmpty)
        let better = OpenBLASCore.better
        guard ck_has_avx2_fma() != 0 else {
            XCTAssertNil(better, "a CPU without AVX2 has nothing better than OpenBLAS's choice, \(name)")
            return
        }
        XCTAssertEqual(better == nil, OpenBLASCore.vectorCores.contains(name), "OpenBLAS chose \(name), remedy \(better ?? "none")")
        if let better {
            XCTAssertEqual(better, ck_has_avx512_skylakex() != 0 ? "SkylakeX" : "Haswell")
            XCTAssertTrue(OpenBLASCore.vectorCores.contains(better))
        }
    }
}
