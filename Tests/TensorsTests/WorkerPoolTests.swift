import Foundation
import XCTest
@testable import Tensors

/// `Parallel.perform` on the worker pool (`ck_parallel_for`): every iteration runs exactly once,
/// in loops back to back, after the workers have gone to sleep, nested, and from two threads at
/// once (where one caller's loop runs on its own thread); a worker does take part, and no more
/// threads than `Parallel.workers` do.
final class WorkerPoolTests: XCTestCase {
    func testEveryIterationRunsOnceInLoopsBackToBack() {
        for n in [1, 2, 3, 7, 64] {
            for _ in 0..<2_000 {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: n)
                counts.initialize(repeating: 0, count: n)
                Parallel.perform(iterations: n) { i in counts[i] += 1 }
                XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: n)), [Int](repeating: 1, count: n), "n \(n)")
                counts.deallocate()
            }
        }
    }

    /// Two iterations of 3 ms: the caller cannot finish its own before a spinning or woken worker
    /// takes the other. Loops 1 ms apart go through the workers' sleep (after 200 µs of spinning)
    /// and wake-up; each still runs every iteration once.
    func testAWorkerTakesPartAndWakesFromSleep() throws {
        guard BLAS.threads > 1 else { throw XCTSkip("one core: the pool has no workers (RLHF_THREADS=1)") }
        // Shared: a loaded machine may not run the worker within 3 ms every time, so the test asks
        // for most loops, not all, and for every iteration in every loop.
        var shared = 0
        for _ in 0..<20 {
            let threads = UnsafeMutablePointer<pthread_t>.allocate(capacity: 2)
            let runs = UnsafeMutablePointer<Int>.allocate(capacity: 2)
            runs.initialize(repeating: 0, count: 2)
            defer { threads.deallocate(); runs.deallocate() }
            Parallel.perform(iterations: 2) { i in
                threads[i] = pthread_self()
                runs[i] += 1
                usleep(3_000)
            }
            XCTAssertEqual([runs[0], runs[1]], [1, 1])
            if pthread_equal(threads[0], threads[1]) == 0 { shared += 1 }
            usleep(1_000)
        }
        XCTAssertGreaterThan(shared, 10, "a worker took the second iteration in \(shared) loops of 20")
    }

    /// A loop runs on at most `Parallel.workers` threads however many iterations it has (a lane's
    /// loops stay on its share of the cores): with one, every iteration runs on the calling thread,
    /// even while the pool's workers spin from the loop before.
    func testALoopRunsOnAtMostWorkersThreads() throws {
        guard BLAS.threads > 1 else { throw XCTSkip("one core: the pool has no workers (RLHF_THREADS=1)") }
        let saved = ThreadSettings.current.workers
        defer { ThreadSettings.current.workers = saved }
        for workers in [2, 1, 1, 2, 1] {
            ThreadSettings.current.workers = workers
            let n = 16, caller = pthread_self()
            let elsewhere = UnsafeMutablePointer<Int>.allocate(capacity: n)
            elsewhere.initialize(repeating: 0, count: n)
            defer { elsewhere.deallocate() }
            Parallel.perform(iterations: n) { i in
                elsewhere[i] = pthread_equal(caller, pthread_self()) != 0 ? 0 : 1
                usleep(200)
            }
            if workers == 1 { XCTAssertEqual(Array(UnsafeBufferPointer(start: elsewhere, count: n)), [Int](repeating: 0, count: n)) }
        }
    }

    /// `Parallel.jobs` gives each lane its share of the cores while the others run, and a lane
    /// left alone all of them: its kernels then split across the pool as the caller's would.
    func testALaneLeftAloneTakesTheCoresTheOthersLeft() throws {
        // Parallel.jobs runs its jobs in turn on fewer: the first would wait for the second forever.
        guard Parallel.workers > 1 else { throw XCTSkip("one core: no lanes side by side (RLHF_THREADS=1)") }
        let secondRead = DispatchSemaphore(value: 0)
        let cores = Parallel.workers
        // One variable per lane: two threads writing into one array race on its buffer.
        var first = 0, second = 0, alone = 0, elsewhere = 0
        try Parallel.jobs([
            { first = Parallel.workers; secondRead.wait() },
            {
                second = Parallel.workers
                secondRead.signal()
                // The first lane ends once its job returns and it finds no other.
                let deadline = Date().addingTimeInterval(10)
                while Parallel.workers < cores && Date() < deadline { usleep(100) }
                alone = Parallel.workers
                // A worker asleep on a loaded machine may wake after the caller ran a loop's every
                // iteration: up to 20 loops for one that a worker takes part in.
                let caller = pthread_self()
                let lock = NSLock()
                for _ in 0..<20 where elsewhere == 0 {
                    Parallel.perform(iterations: 64) { _ in
                        if pthread_equal(caller, pthread_self()) == 0 { lock.lock(); elsewhere += 1; lock.unlock() }
                        usleep(200)
                    }
                }
            },
        ], lanes: 2)
        XCTAssertEqual([first, second], [Parallel.workers / 2, Parallel.workers / 2])
        XCTAssertEqual(alone, Parallel.workers)
        XCTAssertGreaterThan(elsewhere, 0, "the lane left alone ran all its loop's iterations itself")
    }

    func testNestedLoopsRunTheirIterationsOnTheCallingThread() {
        let inner = 5, outer = 4
        // 1 for an inner iteration that ran once, on the thread of the outer one.
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: inner * outer)
        counts.initialize(repeating: 0, count: inner * outer)
        defer { counts.deallocate() }
        Parallel.perform(iterations: outer) { o in
            let caller = pthread_self()
            Parallel.perform(iterations: inner) { i in
                counts[o * inner + i] += pthread_equal(caller, pthread_self()) != 0 ? 1 : 100
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: inner * outer)), [Int](repeating: 1, count: inner * outer))
    }

    func testTwoThreadsCallingAtOnceEachGetEveryIterationOnce() {
        let rounds = 3_000, n = 4
        final class Totals: @unchecked Sendable {
            let lock = NSLock()
            var value = [0, 0]
        }
        let totals = Totals()
        let done = DispatchGroup()
        for t in 0..<2 {
            done.enter()
            Thread {
                var mine = 0
                for _ in 0..<rounds {
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: n)
                    hits.initialize(repeating: 0, count: n)
                    Parallel.perform(iterations: n) { i in hits[i] += 1 }
                    mine += (0..<n).reduce(0) { $0 + (hits[$1] == 1 ? 1 : 0) }
                    hits.deallocate()
                }
                totals.lock.lock(); totals.value[t] = mine; totals.lock.unlock()
                done.leave()
            }.start()
        }
        done.wait()
        XCTAssertEqual(totals.value, [rounds * n, rounds * n])
    }
}
