import Foundation
import XCTest
@testable import Tensors

/// `Parallel.perform` on the worker pool (`ck_parallel_for`): every iteration runs exactly once,
/// on loops back to back, nested, and from two threads at once (where one caller's loop runs on
/// its own thread). A lost wake-up or a slot reused too early would show as a count off by some.
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
        final class Totals: @unchecked Sendable { var value = [0, 0] }
        let totals = Totals()
        let done = DispatchGroup()
        for t in 0..<2 {
            done.enter()
            Thread {
                for _ in 0..<rounds {
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: n)
                    hits.initialize(repeating: 0, count: n)
                    Parallel.perform(iterations: n) { i in hits[i] += 1 }
                    totals.value[t] += (0..<n).reduce(0) { $0 + (hits[$1] == 1 ? 1 : 0) }
                    hits.deallocate()
                }
                done.leave()
            }.start()
        }
        done.wait()
        XCTAssertEqual(totals.value, [rounds * n, rounds * n])
    }
}
