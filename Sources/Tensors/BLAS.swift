import COpenBLAS
import Foundation

/// The OpenBLAS binding: thread count, and row-major SGEMM on raw pointers.
public enum BLAS {
    /// OpenBLAS threads, set once at first use: `RLHF_THREADS` if given, else the core count.
    /// OpenBLAS's own default (from its build or OPENBLAS_NUM_THREADS) is not reliable here.
    public static let threads: Int = {
        let env = ProcessInfo.processInfo.environment["RLHF_THREADS"].flatMap { Int($0) }
        let n = max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
        openblas_set_num_threads(Int32(n))
        return n
    }()

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major; op(A) is m×k, op(B) is k×n.
    /// `lda`/`ldb`/`ldc` are row strides of A, B, C as stored.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = threads
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS would leave C untouched with beta semantics unclear on some builds.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
