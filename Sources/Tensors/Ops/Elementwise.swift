import Foundation

// Element-wise arithmetic with broadcasting. The operand shapes allowed are those the losses in
// RLHF need: equal shapes; a one-element operand (scalar); an operand whose shape is a trailing
// suffix of the other's (a bias row over the last dimensions); and `[..., 1]` against `[..., n]`
// (a per-row value such as a log-sum-exp). Anything else fails naming the op and both shapes.

/// How an operand's elements map onto the output's flat index.
enum Broadcast {
    case same
    case scalar
    case row(Int)      // operand index = i % length
    case column(Int)   // operand index = i / n (operand shape [..., 1], output [..., n])

    @inline(__always) func index(_ i: Int) -> Int {
        switch self {
        case .same: return i
        case .scalar: return 0
        case .row(let len): return i % len
        case .column(let n): return i / n
        }
    }

    /// The output shape for `a op b` and each operand's mapping.
    static func resolve(_ op: String, _ a: [Int], _ b: [Int]) -> ([Int], Broadcast, Broadcast) {
        if a == b { return (a, .same, .same) }
        let na = Tensor.elementCount(a), nb = Tensor.elementCount(b)
        if nb == 1 && b.count <= a.count { return (a, .same, .scalar) }
        if na == 1 && a.count <= b.count { return (b, .scalar, .same) }
        if b.count < a.count && Array(a.suffix(b.count)) == b { return (a, .same, .row(nb)) }
        if a.count < b.count && Array(b.suffix(a.count)) == a { return (b, .row(na), .same) }
        if a.count == b.count && a.dropLast() == b.dropLast() {
            if b.last == 1 { return (a, .same, .column(a.last!)) }
            if a.last == 1 { return (b, .column(b.last!), .same) }
        }
        fatalError("\(op): shapes \(a) and \(b) cannot be broadcast (allowed: equal, scalar, trailing suffix, [...,1] vs [...,n])")
    }
}

/// The binary ops, with value and local derivatives, switched outside the hot loop.
enum BinaryOp: String {
    case add, sub, mul, div, maximum, minimum

    @inline(__always) func apply(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        case .maximum: return x >= y ? x : y
        case .minimum: return x <= y ? x : y
        }
    }

    /// ∂(x op y)/∂x and ∂/∂y at (x, y).
    @inline(__always) func partials(_ x: Float, _ y: Float) -> (Float, Float) {
        switch self {
        case .add: return (1, 1)
        case .sub: return (1, -1)
        case .mul: return (y, x)
        case .div: return (1 / y, -x / (y * y))
        case .maximum: return x >= y ? (1, 0) : (0, 1)
        case .minimum: return x <= y ? (1, 0) : (0, 1)
        }
    }
}

func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let (shape, ma, mb) = Broadcast.resolve(op.rawValue, a.shape, b.shape)
    let out = Tensor(uninitialized: shape)
    let n = out.count
    let pa = a.pointer, pb = b.pointer, po = out.pointer
    // Element-wise, so split across cores with the same bits (a residual add on one core left the
    // other idle: `perf record -a` of a PPO iteration, 2026-12-06).
    let same: Bool
    if case .same = ma, case .same = mb { same = true } else { same = false }
    Parallel.forRange(n, cost: 2) { r in
        if same && op == .add {
            (po + r.lowerBound).update(from: pa + r.lowerBound, count: r.count)
            addInPlace(po + r.lowerBound, pb + r.lowerBound, r.count)
        } else {
            for i in r { po[i] = op.apply(pa[ma.index(i)], pb[mb.index(i)]) }
        }
    }
    if Tensor.needsGrad(a, b) {
        out.record(op.rawValue, [a, b]) { g in
            let pg = g.pointer
            let ga = a.requiresGrad ? a.gradBuffer().pointer : nil
            let gb = b.requiresGrad ? b.gradBuffer().pointer : nil
            guard same else {
                // A broadcast operand's gradient entries gather from many outputs: one core.
                for i in 0..<n {
                    let ia = ma.index(i), ib = mb.index(i)
                    let (da, db) = op.partials(pa[ia], pb[ib])
                    ga?[ia] += pg[i] * da
                    gb?[ib] += pg[i] * db
                }
                return
            }
            Parallel.forRange(n, cost: 2) { r in
                let lo = r.lowerBound
                if op == .add || op == .sub {
                    if let ga { addInPlace(ga + lo, pg + lo, r.count) }
                    if let gb { if op == .add { addInPlace(gb + lo, pg + lo, r.count) } else { axpy(-1, pg + lo, gb + lo, r.count) } }
                    return
                }
                for i in r {
                    let (da, db) = op.partials(pa[i], pb[i])
                    ga?[i] += pg[i] * da
                    gb?[i] += pg[i] * db
                }
            }
        }
    }
    return out
}

public func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
/// Element-wise larger of the two (gradient to the larger; to `a` on ties).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.maximum, a, b) }
/// Element-wise smaller of the two (gradient to the smaller; to `a` on ties).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.minimum, a, b) }

/// The unary ops, each with its derivative written from the input and output values.
enum UnaryOp {
    case scale(Float), shift(Float), exp, log, sigmoid, logSigmoid, clamp(Float, Float), square, sqrt, tanh, abs

    var name: String {
        switch self {
        case .scale: return "scale"
        case .shift: return "shift"
        case .exp: return "exp"
        case .log: return "log"
        case .sigmoid: return "sigmoid"
        case .logSigmoid: return "logSigmoid"
        case .clamp: return "clamp"
        case .square: return "square"
        case .sqrt: return "sqrt"
        case .tanh: return "tanh"
        case .abs: return "abs"
        }
    }

    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .scale(let c): return x * c
        case .shift(let c): return x + c
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sigmoid: return x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        // log σ(x) = min(x, 0) − log(1 + e^−|x|): no overflow for large |x|.
        case .logSigmoid: return Swift.min(x, 0) - Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        case .clamp(let lo, let hi): return Swift.min(Swift.max(x, lo), hi)
        case .square: return x * x
        case .sqrt: return x.squareRoot()
        case .tanh: return Foundation.tanh(x)
        case .abs: return Swift.abs(x)
        }
    }

    /// d out / d x from input x and output y.
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .scale(let c): return c
        case .shift: return 1
        case .exp: return y
        case .log: return 1 / x
        case .sigmoid: return y * (1 - y)
        case .logSigmoid: return 1 - Foundation.exp(y)  // 1 − σ(x), and σ(x) = e^y
        // PyTorch's convention: the gradient passes at the boundaries themselves.
        case .clamp(let lo, let hi): return (x >= lo && x <= hi) ? 1 : 0
        case .square: return 2 * x
        case .sqrt: return 0.5 / y
        case .tanh: return 1 - y * y
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        }
    }
}

func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let n = x.count, px = x.pointer, po = out.pointer
    for i in 0..<n { po[i] = op.apply(px[i]) }
    if Tensor.needsGrad(x) {
        let ys = out.storage
        out.record(op.name, [x]) { g in
            let gx = x.gradBuffer().pointer, pg = g.pointer, py = ys.pointer
            for i in 0..<n { gx[i] += pg[i] * op.derivative(px[i], py[i]) }
        }
    }
    return out
}

public prefix func - (x: Tensor) -> Tensor { unary(.scale(-1), x) }
public func * (x: Tensor, c: Float) -> Tensor { unary(.scale(c), x) }
public func * (c: Float, x: Tensor) -> Tensor { unary(.scale(c), x) }
public func / (x: Tensor, c: Float) -> Tensor { unary(.scale(1 / c), x) }
public func + (x: Tensor, c: Float) -> Tensor { unary(.shift(c), x) }
public func + (c: Float, x: Tensor) -> Tensor { unary(.shift(c), x) }
public func - (x: Tensor, c: Float) -> Tensor { unary(.shift(-c), x) }
public func - (c: Float, x: Tensor) -> Tensor { unary(.shift(c), unary(.scale(-1), x)) }

public func exp(_ x: Tensor) -> Tensor { unary(.exp, x) }
public func log(_ x: Tensor) -> Tensor { unary(.log, x) }
public func sigmoid(_ x: Tensor) -> Tensor { unary(.sigmoid, x) }
/// log σ(x), computed without overflow (DPO's loss).
public func logSigmoid(_ x: Tensor) -> Tensor { unary(.logSigmoid, x) }
/// Limits every element to [lo, hi] (PPO's ratio and value clipping).
public func clamp(_ x: Tensor, _ lo: Float, _ hi: Float) -> Tensor {
    precondition(lo <= hi, "clamp: lower bound \(lo) above upper bound \(hi)")
    return unary(.clamp(lo, hi), x)
}
public func square(_ x: Tensor) -> Tensor { unary(.square, x) }
public func sqrt(_ x: Tensor) -> Tensor { unary(.sqrt, x) }
public func tanh(_ x: Tensor) -> Tensor { unary(.tanh, x) }
public func abs(_ x: Tensor) -> Tensor { unary(.abs, x) }

/// Picks `a` where `condition` is non-zero and `b` elsewhere; gradients follow the pick.
/// `condition` is a 0/1 tensor of the output's shape and carries no gradient.
public func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    guard condition.shape == a.shape, a.shape == b.shape else {
        fatalError("where: shapes condition \(condition.shape), a \(a.shape), b \(b.shape) must be equal")
    }
    let n = a.count
    let out = Tensor(uninitialized: a.shape)
    let pc = condition.pointer, pa = a.pointer, pb = b.pointer, po = out.pointer
    for i in 0..<n { po[i] = pc[i] != 0 ? pa[i] : pb[i] }
    if Tensor.needsGrad(a, b) {
        out.record("where", [a, b]) { [condition] g in
            withExtendedLifetime(condition) {}
            let pg = g.pointer
            if a.requiresGrad { let ga = a.gradBuffer().pointer; for i in 0..<n where pc[i] != 0 { ga[i] += pg[i] } }
            if b.requiresGrad { let gb = b.gradBuffer().pointer; for i in 0..<n where pc[i] == 0 { gb[i] += pg[i] } }
        }
    }
    return out
}
