/// A dense, contiguous, row-major Float32 tensor that can take part in reverse-mode differentiation.
///
/// Tensors are reference types: a parameter is one object whose storage an optimiser updates in
/// place and whose `grad` accumulates. Every operation returns a new tensor; when gradient recording
/// is on (`GradMode`) and an input requires a gradient, the result carries a `GradNode`.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let storage: TensorStorage
    /// Leaf flag: `backward()` accumulates this tensor's gradient into `grad`.
    public var requiresGrad: Bool
    /// Accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor?
    /// How this tensor was computed, when it depends on a tensor that requires a gradient.
    public internal(set) var gradNode: GradNode?

    public init(storage: TensorStorage, shape: [Int], requiresGrad: Bool = false) {
        let n = Tensor.elementCount(of: shape)
        precondition(n == storage.count, "shape \(shape) needs \(n) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Zero-filled tensor.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(storage: TensorStorage(count: Tensor.elementCount(of: shape)), shape: shape, requiresGrad: requiresGrad)
    }

    /// Tensor whose every element is written by the caller before it is read.
    public convenience init(uninitialized shape: [Int]) {
        self.init(storage: TensorStorage(uninitializedCount: Tensor.elementCount(of: shape)), shape: shape)
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(
            values.count == Tensor.elementCount(of: shape),
            "\(values.count) values do not fill shape \(shape)")
        let storage = TensorStorage(uninitializedCount: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: values.count) }
        }
        self.init(storage: storage, shape: shape, requiresGrad: requiresGrad)
    }

    public convenience init(scalar value: Float) {
        self.init([value], shape: [])
    }

    public convenience init(filled value: Float, shape: [Int]) {
        let t = TensorStorage(uninitializedCount: Tensor.elementCount(of: shape))
        t.pointer.update(repeating: value, count: t.count)
        self.init(storage: t, shape: shape)
    }

    /// The number of elements of `shape`; a negative dimension or a product beyond `Int.max` is a
    /// programming error caught here, with the shape in the message, before any allocation.
    public static func elementCount(of shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "negative dimension in shape \(shape)")
            let (product, overflow) = n.multipliedReportingOverflow(by: d)
            precondition(!overflow, "shape \(shape) has more elements than Int.max")
            n = product
        }
        return n
    }

    // MARK: Facts

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    /// True when backward() would reach a leaf through this tensor.
    public var needsGrad: Bool { requiresGrad || (gradNode?.isLive ?? false) }

    /// Dimension `i`, negative indices counting from the end.
    public func dim(_ i: Int) -> Int { shape[normalizedAxis(i)] }

    public func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < max(rank, 1), "axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Row-major strides of `shape`.
    public static func strides(of shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// A copy of the elements.
    public var scalars: [Float] { Array(storage.buffer) }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs a one-element tensor, shape is \(shape)")
        return storage.pointer[0]
    }

    /// A new leaf tensor sharing this tensor's values but with no gradient history.
    public func detached() -> Tensor { Tensor(storage: storage, shape: shape) }

    /// A deep copy without gradient history.
    public func copy() -> Tensor {
        let out = Tensor(uninitialized: shape)
        out.pointer.update(from: pointer, count: count)
        return out
    }

    /// Overwrites the values in place (shapes must hold the same number of elements).
    public func assign(from other: Tensor) {
        precondition(other.shape == shape, "assign: shape \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.5g", Double($0)) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(count > 8 ? ", ..." : "")])"
    }
}

import Foundation
