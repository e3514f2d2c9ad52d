/// Vectorised exp and tanh for the hot loops (softmax over the vocabulary, attention, GELU).
/// Foundation's scalar `exp`/`tanh` cost 4–16 ns an element here; these run 8 lanes at a time.
/// Accuracy: Cephes' single-precision exp polynomial, within 2 ulp over [-87, 88]; inputs
/// outside are clamped, so exp never returns Inf and masked (−∞) entries must be skipped by the
/// caller as they already are.

@inline(__always)
public func exp8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    // Only concrete SIMD operations here: the generic `clamped`, `rounded` and Int32
    // conversions compile to per-lane loops (measured 30 ns an element against 1.4).
    var x = v
    x.replace(with: -87.3, where: x .< -87.3)
    x.replace(with: 88.0, where: x .> 88.0)  // 2^127 is the largest scale without overflow
    // n = round(x / ln 2) by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
    let magic = SIMD8<Float>(repeating: 12582912.0)
    let t = x * 1.44269504088896341 + magic
    let fx = t - magic
    // r = x − n·ln 2, with ln 2 split in two so r keeps full precision.
    x = x - fx * 0.693359375
    x = x + fx * 2.12194440e-4
    let z = x * x
    var y = SIMD8<Float>(repeating: 1.9875691500e-4)
    y = y * x + 1.3981999507e-3
    y = y * x + 8.3334519073e-3
    y = y * x + 4.1665795894e-2
    y = y * x + 1.6666665459e-1
    y = y * x + 5.0000001201e-1
    y = y * z + x + 1
    let bits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
    return y * unsafeBitCast(bits &<< 23, to: SIMD8<Float>.self)
}

@inline(__always)
public func fastExp(_ x: Float) -> Float {
    exp8(SIMD8(repeating: x))[0]
}

/// tanh(u) = 1 − 2/(e^{2u} + 1): exact limits ±1 for large |u|, absolute error ~1e-7 near 0.
@inline(__always)
public func tanh8(_ u: SIMD8<Float>) -> SIMD8<Float> {
    let e = exp8(u + u)
    return 1 - 2 / (e + 1)
}

/// The lane-wise larger of `a` and `b`, by one compare and one blend. `pointwiseMax` compiles to
/// a compare, a NaN test and a branch per lane here (measured: most of the attention forward
/// pass's own time at the demo's sizes). Both skip a NaN in `b` (a running maximum never holds
/// one), so they agree up to which of −0 and +0 is kept, which no softmax tells apart.
@inline(__always)
func max8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    var m = a
    m.replace(with: b, where: b .> a)
    return m
}

/// The largest lane, by halving: three compares and blends instead of `max()`'s seven scalar ones.
@inline(__always)
func horizontalMax(_ v: SIMD8<Float>) -> Float {
    var h = v.lowHalf
    h.replace(with: v.highHalf, where: v.highHalf .> h)
    var q = h.lowHalf
    q.replace(with: h.highHalf, where: h.highHalf .> q)
    return q[1] > q[0] ? q[1] : q[0]
}

/// The largest of `n` floats, −∞ for none, 8 at a time (a maximum is exact in any order; NaN
/// is skipped, as `Swift.max` folded over the values skips it).
@inline(__always)
public func vmax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = SIMD8<Float>(repeating: -Float.infinity)
    var i = 0
    while i + 8 <= n { m = max8(m, load8(x + i)); i += 8 }
    var r = horizontalMax(m)
    while i < n { if x[i] > r { r = x[i] }; i += 1 }
    return r
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
