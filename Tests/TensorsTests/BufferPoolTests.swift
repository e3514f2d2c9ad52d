import XCTest
@testable import Tensors

final class BufferPoolTests: XCTestCase {
    /// Size classes never give less than asked, waste at most 1/8 above 1024 floats, and map
    /// every length in a class to one size, so varying RL lengths share buffers.
    func testSizeClasses() {
        for n in [1, 7, 1024, 1025, 1100, 4097, 12_345, 1 << 20, (1 << 20) + 1, 3_000_001] {
            let c = BufferPool.sizeClass(n)
            XCTAssertGreaterThanOrEqual(c, n)
            if n <= 1024 { XCTAssertEqual(c, n) } else { XCTAssertLessThanOrEqual(Double(c), Double(n) * 1.125, "\(n) → \(c)") }
            XCTAssertEqual(BufferPool.sizeClass(c), c, "a class size is its own class")
        }
        XCTAssertEqual(BufferPool.sizeClass(8193), BufferPool.sizeClass(9000))
    }

    /// Buffers given back beyond the cache limit go to the system; within it they are reused.
    func testCacheStaysWithinItsLimit() {
        let pool = BufferPool()
        pool.cacheLimitBytes = 3 * 4096 * 4
        let buffers = (0..<5).map { _ in pool.take(4096) }
        XCTAssertEqual(pool.freshAllocations, 5)
        for b in buffers { pool.give(b, count: 4096) }
        XCTAssertEqual(pool.bytesCached, 3 * 4096 * 4)
        XCTAssertEqual(pool.bytesInUse, 0)
        let again = (0..<3).map { _ in pool.take(4000) }  // same class as 4096: served from the cache
        XCTAssertEqual(pool.freshAllocations, 5)
        XCTAssertEqual(pool.bytesCached, 0)
        for b in again { pool.give(b, count: 4000) }
        pool.trim()
        XCTAssertEqual(pool.bytesCached, 0)
    }
}
