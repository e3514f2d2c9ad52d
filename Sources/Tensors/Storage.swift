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
        // Fresh gradient buffers of activations run to megabytes; zeroing them on one core left
        // the other idle (2026-12-06). `forRange` keeps small ones on the calling thread.
        if zeroed {
            let p = pointer
            Parallel.forRange(count) { r in (p + r.lowerBound).initialize(repeating: 0, count: r.count) }
        }
    }

    deinit { BufferPool.shared.give(pointer, count: count) }

    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}

/// Recycles Float32 buffers the way a caching allocator does: by size class, within a budget.
///
/// Sizes are rounded up to classes (eight per power of two, so at most 12.5% is wasted) because
/// RL's shapes change every step with the sampled lengths; cached by exact count, every new
/// length left another buffer behind, and a PPO run's cache grew to gigabytes. Buffers given back
/// beyond `cacheLimitBytes` go straight to the system, so the cache stays bounded whatever the
/// shapes do. `freshAllocations` counts the buffers that had to come from the system: a training
/// loop in steady state leaves it unchanged from one step to the next, which the tests check.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private let lock = NSLock()
    public private(set) var freshAllocations = 0
    public private(set) var bytesInUse = 0
    public private(set) var bytesCached = 0
    /// Upper bound of idle cached memory: 1 GiB, or `RLHF_POOL_CACHE_MB` megabytes.
    public var cacheLimitBytes: Int = (ProcessInfo.processInfo.environment["RLHF_POOL_CACHE_MB"].flatMap(Int.init) ?? 1024) << 20

    /// The element count actually allocated for a request of `count`: small sizes exactly, larger
    /// ones rounded up to a multiple of 1/8 of their power of two.
    public static func sizeClass(_ count: Int) -> Int {
        let n = max(count, 1)
        guard n > 1024 else { return n }
        let step = 1 << max(0, (Int.bitWidth - 1 - n.leadingZeroBitCount) - 3)
        return (n + step - 1) / step * step
    }

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = BufferPool.sizeClass(count)
        lock.lock(); defer { lock.unlock() }
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
        let n = BufferPool.sizeClass(count)
        lock.lock(); defer { lock.unlock() }
        bytesInUse -= n * 4
        if bytesCached + n * 4 > cacheLimitBytes {
            UnsafeMutableRawPointer(p).deallocate()
            return
        }
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
