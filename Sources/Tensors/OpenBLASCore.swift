import CKernels
import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernels this process runs, and the remedy when they are older than the CPU.
///
/// An OpenBLAS built for many CPUs (Debian's is) picks its kernels by the CPU's model number as
/// it loads. A CPU newer than the library gets its generic Prescott kernels (SSE3): Debian 12's
/// OpenBLAS 0.3.21 on a 5th-generation Xeon (family 6, model 207) ran sgemm at GPT-2's shapes at
/// 32–47 GFLOP/s, and at 157–248 with the SkylakeX kernels on the same two cores (`rlhf bench
/// gemm`, 2026-12-06). OpenBLAS reads `OPENBLAS_CORETYPE` only while it loads, so the remedy is
/// to start the program again with it set.
public enum OpenBLASCore {
    /// The kernels OpenBLAS chose, as it names them: "SkylakeX", "Haswell", "Zen", "Prescott", …
    public static var name: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's kernel sets that use AVX2 and FMA (or AVX-512). Any other choice on a CPU that
    /// has them is a fallback, not a decision: OpenBLAS did not know the CPU.
    static let vectorCores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The `OPENBLAS_CORETYPE` this CPU should run, when OpenBLAS fell back to kernels older than
    /// the CPU's vector units; nil when its choice stands (or the CPU has neither AVX2 nor AVX-512).
    public static var better: String? {
        guard ck_has_avx2_fma() != 0, !vectorCores.contains(name) else { return nil }
        return ck_has_avx512_skylakex() != 0 ? "SkylakeX" : "Haswell"
    }

    /// Starts this program again with `OPENBLAS_CORETYPE` set to `better`, saying so on stderr,
    /// when OpenBLAS fell back and the variable is not set (a user who set it, to any value,
    /// keeps their choice, and the started program does not start again). Returns only when
    /// nothing was done or the restart failed; the program then goes on with the kernels it has.
    public static func restartWithBetterKernelsIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = better else { return }
        let note = "note: OpenBLAS does not know this CPU and chose its \(name) kernels; "
            + "running again with OPENBLAS_CORETYPE=\(core), which the CPU supports "
            + "(set OPENBLAS_CORETYPE yourself to choose)\n"
        FileHandle.standardError.write(Data(note.utf8))
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let failed = "warning: could not start again (\(String(cString: strerror(errno)))); "
            + "going on with OpenBLAS's \(name) kernels, several times slower\n"
        FileHandle.standardError.write(Data(failed.utf8))
    }
}
