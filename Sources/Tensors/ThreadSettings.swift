import Foundation

/// Settings that belong to one thread of work rather than to the process: whether ops record
/// gradients, and how many cores its kernels may split across.
///
/// They are per thread so that two jobs can run side by side in one process — `rlhf demo` runs
/// its RL stages two at a time, each on half the cores — without one job's `withNoGrad` (a rollout)
/// switching off the other's graph (a training step), and without both splitting every GEMM
/// across both cores. A thread that never sets them gets the process-wide defaults.
final class ThreadSettings {
    var gradEnabled = true
    /// Cores this thread's kernels may use, when fixed (tests pin it); nil leaves it to `lanes`.
    var workers: Int?
    /// The `Parallel.jobs` lanes this thread is one of, whose share of the cores its kernels
    /// use; nil (and no `workers`) means `BLAS.threads`.
    var lanes: LaneGroup?

    /// This thread's settings, created on first use and freed when the thread exits.
    /// `pthread_getspecific` costs a few nanoseconds; it is read once per op, not per element.
    @inline(__always)
    static var current: ThreadSettings {
        if let p = pthread_getspecific(key) {
            return Unmanaged<ThreadSettings>.fromOpaque(p).takeUnretainedValue()
        }
        let s = ThreadSettings()
        pthread_setspecific(key, Unmanaged.passRetained(s).toOpaque())
        return s
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { p in
            #if os(Linux)
            guard let p else { return }
            #endif
            Unmanaged<ThreadSettings>.fromOpaque(p).release()
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return k
    }()
}
