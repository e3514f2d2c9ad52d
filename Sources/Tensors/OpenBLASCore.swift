import CKernels
import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernels this process runs, and the remedy when they are older than the CPU.
///
/// An OpenBLAS built for many CPUs (`DYNAMIC_ARCH`, as Debian's is) picks its kernels by the
/// CPU's family and model as it loads. Some CPUs newer than the library fall through its tables
/// to the generic Prescott kernels (SSE3): Debian 12's OpenBLAS 0.3.21 on a 5th-generation Xeon
/// (family 6, model 207) ran sgemm at GPT-2's shapes at 32–47 GFLOP/s, and at 157–248 with the
/// SkylakeX kernels on the same two cores (`rlhf bench gemm`, 2026-12-06). OpenBLAS reads
/// `OPENBLAS_CORETYPE` only while it loads, so the remedy is to start the program again with it set.
public enum OpenBLASCore {
    /// The kernels OpenBLAS chose, as it names them: "SkylakeX", "Haswell", "Zen", "Prescott", …
    /// (a library built for one CPU names its target, in capitals).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// Whether this OpenBLAS chooses its kernels at run time, and so reads `OPENBLAS_CORETYPE`.
    public static var choosesAtRunTime: Bool { String(cString: openblas_get_config()).contains("DYNAMIC_ARCH") }

    /// OpenBLAS's kernel sets for CPUs with AVX2 and FMA (or AVX-512), as a run-time choice names
    /// them (0.3.21's table; "SapphireRapids" from later releases). Any other choice on a CPU with
    /// AVX2 and FMA is a fallback, not a decision: OpenBLAS did not place the CPU.
    static let vectorCores: Set<String> = ["Haswell", "Excavator", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The `OPENBLAS_CORETYPE` to ask for when OpenBLAS (choosing at run time) fell back to
    /// kernels older than the CPU's vector units, else nil: SkylakeX with AVX-512 F/CD/BW/DQ/VL,
    /// Haswell with AVX2 and FMA.
    static func remedy(chosen: String, choosesAtRunTime: Bool, avx2FMA: Bool, avx512: Bool) -> String? {
        guard choosesAtRunTime, avx2FMA, !vectorCores.contains(chosen) else { return nil }
        return avx512 ? "SkylakeX" : "Haswell"
    }

    /// `remedy` for this process's OpenBLAS and CPU.
    public static var better: String? {
        remedy(chosen: name, choosesAtRunTime: choosesAtRunTime, avx2FMA: ck_has_avx2_fma() != 0, avx512: ck_has_avx512_skylakex() != 0)
    }

    /// Starts this program again with `OPENBLAS_CORETYPE` set to `better`, saying so on stderr,
    /// when OpenBLAS fell back and the variable is not set (a user who set it, to any value,
    /// keeps their choice, and the started program does not start again). Returns only when
    /// nothing was done or the restart failed; the program then goes on with the kernels it has.
    public static func restartWithBetterKernelsIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = better else { return }
        let note = "note: OpenBLAS did not place this CPU and chose its \(name) kernels; "
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
