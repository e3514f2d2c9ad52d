/// Small vector primitives on raw pointers, written with SIMD so the compiler need not prove
/// that reassociating a float sum is allowed (it won't, without fast-math).

@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    while i + 16 <= n {
        acc0 += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc1 += UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self)
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += alpha · x
@inline(__always)
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let va = SIMD8<Float>(repeating: alpha)
    while i + 8 <= n {
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + va * xv, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}

/// y += x
@inline(__always)
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + xv, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += x[i]; i += 1 }
}

/// Sum of n floats.
@inline(__always)
public func vsum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var acc = SIMD8<Float>()
    while i + 8 <= n { acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
    var s = acc.sum()
    while i < n { s += x[i]; i += 1 }
    return s
}
