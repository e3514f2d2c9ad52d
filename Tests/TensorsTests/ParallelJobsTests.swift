import Foundation
import XCTest
@testable import Tensors

/// `Parallel.jobs` (the demo's RL stages side by side) and the per-thread settings it relies on.
final class ParallelJobsTests: XCTestCase {
    /// A small forward and backward through the split kernels (GEMM large enough to be split,
    /// GELU, layer norm, attention-free): outputs and gradients, flattened.
    private func step(seed: UInt64) -> [Float] {
        let x = randomTensor([64, 96], seed: seed), w = randomTensor([96, 256], seed: seed + 1, scale: 0.1)
        let gamma = randomTensor([256], seed: seed + 2), beta = randomTensor([256], seed: seed + 3)
        w.requiresGrad = true; gamma.requiresGrad = true
        let y = layerNorm(gelu(matmul(x, w)), gamma, beta)
        let loss = mean(y * y)
        loss.backward()
        return y.toArray() + w.grad!.toArray() + gamma.grad!.toArray()
    }

    func testJobsGiveBitIdenticalResultsToRunningAlone() throws {
        let alone = (0..<4).map { step(seed: UInt64(10 * $0)) }
        var together = [[Float]](repeating: [], count: 4)
        let lock = NSLock()
        try Parallel.jobs((0..<4).map { i in {
            let r = self.step(seed: UInt64(10 * i))
            lock.lock(); together[i] = r; lock.unlock()
        } })
        XCTAssertEqual(together, alone)
    }

    func testEachLaneGetsItsShareOfTheCoresAndEveryJobRunsOnce() throws {
        let lock = NSLock()
        var runs = [Int](repeating: 0, count: 7), workersSeen: Set<Int> = []
        try Parallel.jobs((0..<7).map { i in {
            lock.lock(); runs[i] += 1; workersSeen.insert(Parallel.workers); lock.unlock()
        } })
        XCTAssertEqual(runs, [Int](repeating: 1, count: 7))
        // Two lanes on two or more cores get half each, and a lane whose partner has ended (no
        // job left to take) all of them; on one core the jobs run in turn on it.
        if BLAS.threads >= 2 {
            XCTAssertTrue(workersSeen.contains(BLAS.threads / 2), "\(workersSeen)")
            XCTAssertTrue(workersSeen.isSubset(of: [BLAS.threads / 2, BLAS.threads]), "\(workersSeen)")
        } else {
            XCTAssertEqual(workersSeen, [BLAS.threads])
        }
        XCTAssertEqual(Parallel.workers, BLAS.threads, "the calling thread keeps its own setting")
    }

    func testFirstErrorIsRethrownAndNoFurtherJobStarts() {
        struct Boom: Error {}
        let lock = NSLock()
        var started: [Int] = []
        let jobs: [() throws -> Void] = (0..<6).map { i in {
            lock.lock(); started.append(i); lock.unlock()
            if i == 0 { throw Boom() }
            if i == 1 { Thread.sleep(forTimeInterval: 0.2) }  // still running when job 0 fails
        } }
        XCTAssertThrowsError(try Parallel.jobs(jobs)) { XCTAssertTrue($0 is Boom) }
        XCTAssertTrue(started.allSatisfy { $0 <= 1 }, "started after the failure: \(started)")
        XCTAssertTrue(started.contains(0))
    }

    func testGradModeIsPerThread() {
        let w = randomTensor([3, 3], seed: 1)
        w.requiresGrad = true
        final class Flag: @unchecked Sendable { var value = false }
        let recordedElsewhere = Flag()
        withNoGrad {
            XCTAssertNil(matmul(w, w).node, "no graph inside withNoGrad")
            let done = DispatchSemaphore(value: 0)
            Thread { recordedElsewhere.value = matmul(w, w).node != nil; done.signal() }.start()
            done.wait()
        }
        XCTAssertTrue(recordedElsewhere.value, "another thread's ops still record while this one is in withNoGrad")
        XCTAssertNotNil(matmul(w, w).node)
    }
}
