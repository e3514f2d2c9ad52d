import Foundation

/// Splits non-GEMM kernels across cores. Never call from inside a BLAS call's threads, and do
/// not overlap with a threaded GEMM: on 2 cores the two would fight for the same cores.
public enum Parallel {
    /// Worker count; follows the BLAS thread setting so `RLHF_THREADS=1` makes everything serial.
    public static var workers: Int { BLAS.threads }

    /// Runs `body` over `0..<n` in contiguous chunks, in parallel when each chunk has at least
    /// `grain` items' worth of work (`cost` per item, in rough FLOPs). Small jobs stay serial:
    /// waking a thread costs microseconds.
    @inline(__always)
    public static func forRange(_ n: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        let w = workers
        if w <= 1 || n < 2 || n * cost < 32_768 {
            body(0..<n)
            return
        }
        let tasks = min(w, n)
        DispatchQueue.concurrentPerform(iterations: tasks) { t in
            let lo = n * t / tasks, hi = n * (t + 1) / tasks
            if lo < hi { body(lo..<hi) }
        }
    }
}
