// Tensor: a dense, contiguous, row-major Float32 array with a shape.
//
// Legend used in doc comments across this module:
//   B batch, C channels, H height, W width, L sequence length, D feature width,
//   N heads. Shapes are written [B, C, H, W]; the last axis is contiguous.

import Foundation

/// Owns (or borrows) the memory behind one or more `Tensor` values.
///
/// Storage is either allocated here (and freed on deinit) or borrowed from another object,
/// such as a memory-mapped checkpoint file, which `owner` keeps alive. Borrowed storage is
/// read-only: a mutation of a tensor that borrows first copies it.
public final class TensorStorage: @unchecked Sendable {  // written only while uniquely referenced (copy on write)
    /// First element.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of Float elements reachable from `pointer`.
    public let count: Int
    /// Object that owns borrowed memory (nil when this storage allocated it).
    public let owner: AnyObject?

    /// Allocates `count` elements, zero-filled.
    public init(zeroed count: Int) {
        let n = max(count, 1)
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        pointer.initialize(repeating: 0, count: n)
        self.count = count
        owner = nil
    }

    /// Allocates `count` elements without initialising them (callers overwrite every element).
    public init(uninitialized count: Int) {
        let n = max(count, 1)
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        self.count = count
        owner = nil
    }

    /// Borrows `count` elements at `pointer`, kept alive by `owner`.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    /// True when the memory belongs to another object and must not be written.
    public var isBorrowed: Bool { owner != nil }

    deinit {
        if owner == nil { pointer.deallocate() }
    }
}

/// A dense Float32 tensor: contiguous, row-major, value semantics (copy on write).
public struct Tensor: @unchecked Sendable {  // value semantics over copy-on-write storage
    /// Extent of each axis, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline internal var storage: TensorStorage

    /// Number of elements (product of `shape`; 1 for a scalar with shape []).
    public var count: Int { shape.reduce(1, *) }
    /// Number of axes.
    public var rank: Int { shape.count }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        storage = TensorStorage(zeroed: shape.reduce(1, *))
    }

    /// A tensor whose every element the caller will overwrite (no zero fill).
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        storage = TensorStorage(uninitialized: shape.reduce(1, *))
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A tensor holding `values` (row-major) with `shape`; the counts must agree.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { src in
            storage.pointer.update(from: src.baseAddress!, count: values.count)
        }
    }

    /// Wraps existing storage (e.g. a memory-mapped checkpoint tensor) without copying.
    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) <= storage.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// All elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Read access to the contiguous elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Read access to the first element; valid only inside `body`.
    @inlinable
    public func withUnsafePointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafePointer(storage.pointer))
    }

    /// Write access to the contiguous elements; copies first if the storage is shared or borrowed.
    @inlinable
    public mutating func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        makeUnique()
        return try body(storage.pointer)
    }

    /// Ensures this value is the only owner of writable storage.
    @inlinable
    public mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) || storage.isBorrowed {
            let copy = TensorStorage(uninitialized: count)
            copy.pointer.update(from: storage.pointer, count: count)
            storage = copy
        }
    }

    /// The same elements viewed with another shape of equal element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var result = self
        result.shape = resolved
        return result
    }

    /// Element at a multi-index (slow; for tests and diagnostics).
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[flatIndex(index)] }
        set {
            let i = flatIndex(index)
            makeUnique()
            storage.pointer[i] = newValue
        }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, extent) in zip(index, shape) {
            precondition(i >= 0 && i < extent, "index \(index) out of range for shape \(shape)")
            flat = flat * extent + i
        }
        return flat
    }

    /// Row-major strides (in elements) of a contiguous tensor with `shape`.
    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = withUnsafeBufferPointer { Array($0.prefix(6)) }
        return "Tensor(shape: \(shape), first: \(preview))"
    }
}
