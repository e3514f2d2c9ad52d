/// A contiguous, row-major Float32 array with an optional gradient.
///
/// Tensors are reference types: ops return new tensors and, when gradients are enabled and an
/// input requires them, record how to send gradients back (see `Autograd.swift`). Storage comes
/// from `BufferPool`, so temporaries of a repeated training step reuse the same memory.
public final class Tensor: CustomStringConvertible, @unchecked Sendable {
    public let shape: [Int]
    public let storage: Storage
    /// Leaves (parameters) set this; op outputs inherit it from their inputs.
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape; created zeroed on first use by a backward pass.
    public var grad: Tensor?
    /// A name used in error messages and checkpoints (parameters), or the op that made it.
    public var name: String?
    /// The op that produced this tensor, kept only while gradients can flow through it.
    var node: Node?

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    @inlinable public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> { storage.buffer }

    /// An uninitialised tensor (contents undefined): for ops that overwrite every element.
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        self.storage = Storage(count: Tensor.elementCount(shape))
        self.requiresGrad = false
    }

    public init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.shape = shape
        self.storage = Storage(count: Tensor.elementCount(shape), zeroed: true)
        self.requiresGrad = requiresGrad
    }

    /// Shares `storage` under another shape with the same element count.
    init(shape: [Int], sharing storage: Storage) {
        precondition(Tensor.elementCount(shape) == storage.count,
                     "view: shape \(shape) does not hold \(storage.count) elements")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = false
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        let n = Tensor.elementCount(shape)
        precondition(values.count == n,
                     "Tensor(values, shape: \(shape)): expected \(n) values, found \(values.count)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: n) }
        self.requiresGrad = requiresGrad
    }

    /// A scalar (rank-0) tensor.
    public convenience init(scalar value: Float) {
        self.init([value], shape: [])
    }

    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.pointer.update(repeating: value, count: t.count)
        return t
    }

    /// Normal(0, std²) entries drawn from `rng`, as GPT-2 initialises its weights.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.pointer[i] = rng.normal() * std }
        return t
    }

    /// Uniform entries in [low, high) drawn from `rng`.
    public static func uniform(_ shape: [Int], _ low: Float = 0, _ high: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.pointer[i] = low + (high - low) * rng.uniform() }
        return t
    }

    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "shape \(shape) has a negative dimension")
            n *= d
        }
        return n
    }

    public func toArray() -> [Float] { Array(buffer) }

    /// The value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, expected 1")
        return pointer[0]
    }

    public subscript(_ i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// A copy with its own storage and no history.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// The same values, cut from the graph: gradients do not flow through the result.
    public func detached() -> Tensor { Tensor(shape: shape, sharing: storage) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Overwrites the values with `other`'s (same element count), keeping this tensor's identity.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: shapes \(shape) and \(other.shape) differ in size")
        pointer.update(from: other.pointer, count: count)
    }

    public var description: String {
        let head = toArray().prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

import Foundation
