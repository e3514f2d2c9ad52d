import CKernels
import Foundation

/// Splits non-GEMM kernels across cores. Never call from inside a BLAS call's threads, and do
/// not overlap with a threaded GEMM: on 2 cores the two would fight for the same cores.
public enum Parallel {
    /// Cores the calling thread's kernels (GEMM blocks and `forRange`) may use: `BLAS.threads`,
    /// so `RLHF_THREADS=1` makes everything serial, unless the thread is a lane of `jobs`.
    public static var workers: Int {
        @inline(__always) get {
            let settings = ThreadSettings.current
            return settings.workers ?? settings.lanes?.share ?? BLAS.threads
        }
    }

    /// Runs independent jobs side by side, `lanes` at a time, each lane a thread whose kernels
    /// use its share of the caller's `workers` cores; a lane takes the next job in order when
    /// its last one ends, and when no job is left it ends and its cores go to the lanes still
    /// running (`LaneGroup`): the last stage of the demo's RL lanes, or a policy's backward
    /// that outlasts its critic's, then runs on both cores instead of leaving one idle.
    ///
    /// Why: on two cores one small-model job uses the second core at about half efficiency (a
    /// training step of the demo's model runs 1.55× faster on two than on one), so two such jobs
    /// at one core each finish sooner than the same jobs one after the other on both. Results do
    /// not change: no kernel's arithmetic depends on how many cores it is split across.
    /// With fewer cores than lanes the jobs run one after another on the calling thread.
    /// After a job throws, no further job starts; the first error is rethrown once all lanes end.
    public static func jobs(_ jobs: [() throws -> Void], lanes: Int = 2) throws {
        let total = workers
        guard lanes > 1, total >= lanes, jobs.count > 1 else {
            for job in jobs { try job() }
            return
        }
        let queue = JobQueue(count: jobs.count)
        let done = DispatchGroup()
        let count = min(lanes, jobs.count)
        let caller = ThreadSettings.current
        let group = LaneGroup(cores: total, parent: caller.workers == nil ? caller.lanes : nil, lanes: count)
        for _ in 0..<count {
            done.enter()
            // A Thread rather than a GCD queue: the jobs run for minutes, and their backward
            // passes want more stack than GCD's workers get.
            let thread = Thread {
                ThreadSettings.current.lanes = group
                while let i = queue.next() {
                    do { try jobs[i]() } catch { queue.fail(error) }
                }
                group.end()
                done.leave()
            }
            thread.stackSize = 64 << 20
            thread.start()
        }
        done.wait()
        if let failure = queue.failure { throw failure }
    }

    /// Runs `body(i)` for every i in `0..<n` on the calling thread and the worker pool, on at most
    /// `workers` threads, returning when all have finished: the split of a GEMM or a kernel into
    /// blocks, which the threads take in order as they become free. The pool (`ck_parallel_for`)
    /// replaced GCD's `concurrentPerform`, whose idle worker often woke after the caller had run
    /// every block of a loop of a millisecond (see WorkerPool.c). Called from inside an
    /// iteration, or while another thread's loop runs, it runs the iterations here.
    public static func perform(iterations n: Int, _ body: (Int) -> Void) {
        _ = poolThreads
        let threads = Int32(clamping: workers)
        withoutActuallyEscaping(body) { body in
            var call = body
            withUnsafeMutablePointer(to: &call) { p in
                ck_parallel_for(n, threads, { ctx, i in ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(i) }, p)
            }
        }
    }

    /// The least work, in `forRange`'s cost units, worth a chunk of its own.
    static let grain = 32_768

    /// Threads in the pool, the caller included: `BLAS.threads`, started on first use.
    private static let poolThreads = Int(ck_pool_start(Int32(clamping: BLAS.threads)))

    /// Runs `body` over `0..<n` in contiguous chunks, in parallel when each chunk has at least
    /// `grain` items' worth of work (`cost` per item, in rough FLOPs). Small jobs stay serial:
    /// waking a thread costs microseconds.
    ///
    /// Up to `chunksPerWorker` chunks per core while each still holds `grain` or more (else one
    /// per core), which the cores take as they finish: the Xeon's two vCPUs often run at
    /// different speeds, and with one chunk each the faster one waited for the slower. With the
    /// splits alternated call by call in a PPO run (2026-12-06): four per core made the
    /// element-wise and row-wise kernels 1.02–1.32× faster than one in two runs (the binary ops'
    /// gradient 0.85× in one, 1.27× in the other), and eight 1.00–1.07× faster than four in two
    /// more (log-softmax's backward 1.26–1.28×; the binary gradient and AdamW 0.94–0.98× in one
    /// run, 1.05–1.14× in the other). Loops over columns that read every row (the bias and
    /// layer-norm parameter gradients) were 0.60–0.78× as fast with four as with one, and ask for
    /// one.
    @inline(__always)
    public static func forRange(_ n: Int, cost: Int = 1, chunksPerWorker: Int = 8, _ body: (Range<Int>) -> Void) {
        let w = workers
        if w <= 1 || n < 2 || n * cost < grain {
            body(0..<n)
            return
        }
        let tasks = min(n, w * max(1, min(chunksPerWorker, n * cost / (w * grain))))
        perform(iterations: tasks) { t in
            let lo = n * t / tasks, hi = n * (t + 1) / tasks
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// The lanes of one `Parallel.jobs` call and how many of them still run. Each lane's kernels
/// split across its share of the call's cores, `cores / running`, read afresh by every kernel, so
/// a lane that outlives the others takes the cores they leave (through the worker pool, which no
/// lane holds while each has one core). The call's cores are the calling lane's share when the
/// call runs inside another call's lane, so they grow too when that call's other lanes end.
/// Values do not change: no kernel's arithmetic depends on its core count.
final class LaneGroup: @unchecked Sendable {
    private let cores: Int
    private let parent: LaneGroup?
    private let running: OpaquePointer

    init(cores: Int, parent: LaneGroup?, lanes: Int) {
        self.cores = cores
        self.parent = parent
        guard let counter = ck_counter_new(lanes) else { fatalError("Parallel.jobs: out of memory for a counter") }
        running = counter
    }

    deinit { ck_counter_free(running) }

    /// This lane's cores now.
    var share: Int {
        @inline(__always) get { max(1, (parent?.share ?? cores) / max(1, ck_counter_load(running))) }
    }

    /// Called by a lane when it has no job left.
    func end() { _ = ck_counter_add(running, -1) }
}

/// The lanes' shared cursor into `Parallel.jobs`' list, and the first error.
private final class JobQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var cursor = 0
    private var firstError: Error?

    init(count: Int) { self.count = count }

    /// The next job's index, or nil when all have started or one has failed.
    func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard firstError == nil, cursor < count else { return nil }
        cursor += 1
        return cursor - 1
    }

    func fail(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if firstError == nil { firstError = error }
    }

    var failure: Error? {
        lock.lock(); defer { lock.unlock() }
        return firstError
    }
}
