import CKernels
import XCTest
@testable import Tensors

/// `OpenBLASCore.remedy`: a fallback on a CPU with vector units is corrected to the widest set
/// the CPU runs; a deliberate choice, a CPU without AVX2, or a library built for one CPU (which
/// ignores `OPENBLAS_CORETYPE`) is left alone. (CI checks the restart itself on the `rlhf` binary:
/// an unset `OPENBLAS_CORETYPE` ends in vector kernels, a set one is kept.)
final class OpenBLASCoreTests: XCTestCase {
    func testARemedyIsNamedOnlyForAFallbackTheLibraryCanCorrect() {
        func remedy(_ chosen: String, dynamic: Bool = true, avx2: Bool = true, avx512: Bool = false) -> String? {
            OpenBLASCore.remedy(chosen: chosen, choosesAtRunTime: dynamic, avx2FMA: avx2, avx512: avx512)
        }
        // Debian 12's 0.3.21 on a 5th-generation Xeon.
        XCTAssertEqual(remedy("Prescott", avx512: true), "SkylakeX")
        XCTAssertEqual(remedy("Prescott"), "Haswell")
        XCTAssertEqual(remedy("Nehalem"), "Haswell")
        XCTAssertEqual(remedy("Sandybridge", avx512: true), "SkylakeX")
        // Choices OpenBLAS made on purpose, Excavator (AMD family 15h, AVX2) among them.
        for chosen in ["Haswell", "Excavator", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] {
            XCTAssertNil(remedy(chosen, avx512: true), chosen)
        }
        XCTAssertNil(remedy("Prescott", avx2: false), "nothing better on a CPU without AVX2")
        XCTAssertNil(remedy("PRESCOTT", dynamic: false, avx512: true), "a single-target build ignores OPENBLAS_CORETYPE")
    }

    /// This machine: OpenBLAS's name is not empty, and the remedy, if any, is one of the two.
    func testThisMachinesRemedyIsAVectorSet() {
        XCTAssertFalse(OpenBLASCore.name.isEmpty)
        if let better = OpenBLASCore.better {
            XCTAssertTrue(OpenBLASCore.choosesAtRunTime)
            XCTAssertEqual(better, ck_has_avx512_skylakex() != 0 ? "SkylakeX" : "Haswell")
        }
    }
}
