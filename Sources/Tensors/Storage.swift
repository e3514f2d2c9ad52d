import Foundation

/// A Float32 buffer that returns itself to `BufferPool.shared` when the last tensor using it goes.
///
/// Training steps allocate the same shapes every step; recycling buffers by size means that after
/// the first step a steady-state step asks the system allocator for nothing (see `BufferPool`).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// A pooled buffer of `count` floats; contents are undefined unless `zeroed`.
    public init(count: Int, zeroed: Bool = false) {
        self.count = count
        self.pointer = BufferPool.shared.take(count)
        if zeroed { pointer.initialize(repeating: 0, count: count) }
    }

    deinit { BufferPool.shared.give(pointer, count: count) }

    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}

/// Recycles Float32 buffers by exact element count, the way a caching allocator does.
///
/// `freshAllocations` counts the buffers that had to come from the system: a training loop in
/// steady state leaves it unchanged from one step to the next, which the tests check.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private let lock = NSLock()
    public private(set) var freshAllocations = 0
    public private(set) var bytesInUse = 0
    public private(set) var bytesCached = 0

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        let n = max(count, 1)
        bytesInUse += n * 4
        if var list = free[n], let p = list.popLast() {
            free[n] = list
            bytesCached -= n * 4
            return p
        }
        freshAllocations += 1
        // 64-byte alignment keeps SIMD16 loads on one cache line and suits BLAS.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, count: Int) {
        lock.lock(); defer { lock.unlock() }
        let n = max(count, 1)
        bytesInUse -= n * 4
        bytesCached += n * 4
        free[n, default: []].append(p)
    }

    /// Returns every cached buffer to the system (e.g. between pipeline stages of different shapes).
    public func trim() {
        lock.lock(); defer { lock.unlock() }
        for (_, list) in free { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
        free.removeAll()
        bytesCached = 0
    }
}
