// Elementwise: activations and arithmetic, vectorised and spread over the cores.
//
// Binary operations broadcast as PyTorch does (shapes aligned at the last axis; an extent of 1
// repeats). Same-shape and "b repeats along the leading axes" cases take fast contiguous paths.

import CAVX512

/// Element-wise activation functions.
public enum Activation: Sendable {
    case relu
    /// GELU with the exact erf form: x * (1 + erf(x / sqrt 2)) / 2.
    case gelu
    /// GELU with the tanh approximation: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
    case geluTanh
    case sigmoid
    case identity
}

/// Minimum elements per worker in element-wise loops (smaller jobs run on one thread).
@usableFromInline let elementwiseGrain = 1 << 15

extension Activation {
    @inlinable @inline(__always)
    func apply(_ v: FloatVector) -> FloatVector {
        switch self {
        case .relu: return v.replacing(with: 0, where: v .< 0)
        case .gelu: return vectorGelu(v)
        case .geluTanh:
            let inner = 0.797_884_560_802_865_4 * (v + 0.044_715 * v * v * v)
            return 0.5 * v * (1 + vectorTanh(inner))
        case .sigmoid: return vectorSigmoid(v)
        case .identity: return v
        }
    }
}

extension Activation {
    /// Whether this activation runs in C here: exact GELU where a twin exists (`RowLoopTwins`), with
    /// the same results bit for bit as the Swift loop.
    var runsInC: Bool { self == .gelu && RowLoopTwins.available }

    /// The activation over `count` floats from `source` into `destination` (may alias); the full
    /// vectors in C when `inC` (see `runsInC`), the rest in Swift.
    func apply(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ count: Int, inC: Bool) {
        var done = 0
        if inC && self == .gelu {  // the only activation with a C twin (`runsInC`)
            let vectors = count / vectorWidth
            RowLoopTwins.gelu(source, destination, vectors: vectors)
            done = vectors * vectorWidth
        }
        if done < count { mapVectorised(source + done, destination + done, count - done) { self.apply($0) } }
    }
}

extension Tensor {
    /// The activation applied element-wise.
    public func applying(_ activation: Activation) -> Tensor {
        var out = Tensor(uninitialized: shape)
        let n = count
        let inC = activation.runsInC
        withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                Parallel.forEach(n, grain: elementwiseGrain) { range in
                    activation.apply(src + range.lowerBound, dst + range.lowerBound, range.count, inC: inC)
                }
            }
        }
        return out
    }

    /// Applies the activation in place.
    public mutating func apply(_ activation: Activation) {
        let n = count
        let inC = activation.runsInC
        withUnsafeMutablePointer { p in
            Parallel.forEach(n, grain: elementwiseGrain) { range in
                activation.apply(p + range.lowerBound, p + range.lowerBound, range.count, inC: inC)
            }
        }
    }

    /// Every element limited to `lower...upper` (as `torch.clamp`).
    public func clamped(to range: ClosedRange<Float>) -> Tensor {
        var out = Tensor(uninitialized: shape)
        let n = count
        let lower = FloatVector(repeating: range.lowerBound), upper = FloatVector(repeating: range.upperBound)
        withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                Parallel.forEach(n, grain: elementwiseGrain) { r in
                    mapVectorised(src + r.lowerBound, dst + r.lowerBound, r.count) { lanewiseMin(lanewiseMax($0, lower), upper) }
                }
            }
        }
        return out
    }

    /// Every element multiplied by `factor` and shifted by `offset`.
    public func scaled(by factor: Float, adding offset: Float = 0) -> Tensor {
        var out = Tensor(uninitialized: shape)
        let n = count
        withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                Parallel.forEach(n, grain: elementwiseGrain) { range in
                    mapVectorised(src + range.lowerBound, dst + range.lowerBound, range.count) { $0 * factor + offset }
                }
            }
        }
        return out
    }
}

/// The kind of element-wise binary operation.
public enum BinaryOperation: Sendable {
    case add, subtract, multiply, divide

    @inlinable @inline(__always)
    func apply(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        }
    }

    @inlinable @inline(__always)
    func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        }
    }
}

/// Output shape of broadcasting `a` with `b` (PyTorch rules), or nil when they do not broadcast.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// `a op b` with broadcasting.
public func elementwise(_ a: Tensor, _ b: Tensor, _ op: BinaryOperation) -> Tensor {
    guard let shape = broadcastShape(a.shape, b.shape) else {
        preconditionFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    var out = Tensor(uninitialized: shape)
    let n = out.count
    a.withUnsafePointer { pa in
        b.withUnsafePointer { pb in
            out.withUnsafeMutablePointer { po in
                if a.shape == shape && b.shape == shape {
                    Parallel.forEach(n, grain: elementwiseGrain) { r in
                        binaryContiguous(pa + r.lowerBound, pb + r.lowerBound, po + r.lowerBound, r.count, op)
                    }
                } else if a.shape == shape, isTrailingBlock(b.shape, of: shape) {
                    // b is repeated along the leading axes: apply row by row.
                    let block = b.count
                    Parallel.forEach(n / block, grain: max(1, elementwiseGrain / max(block, 1))) { rows in
                        for row in rows {
                            binaryContiguous(pa + row * block, pb, po + row * block, block, op)
                        }
                    }
                } else {
                    broadcastGeneral(pa, a.shape, pb, b.shape, po, shape, op)
                }
            }
        }
    }
    return out
}

/// True when `small`, with leading 1s dropped, equals the trailing axes of `shape`.
func isTrailingBlock(_ small: [Int], of shape: [Int]) -> Bool {
    var trimmed = small[...]
    while let first = trimmed.first, first == 1, trimmed.count > 0 { trimmed = trimmed.dropFirst() }
    return trimmed.count <= shape.count && Array(shape.suffix(trimmed.count)) == Array(trimmed)
}

@inline(__always)
func binaryContiguous(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ count: Int, _ op: BinaryOperation
) {
    var i = 0
    while i + vectorWidth <= count {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: FloatVector.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: FloatVector.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: op.apply(va, vb), as: FloatVector.self)
        i += vectorWidth
    }
    while i < count {
        out[i] = op.apply(a[i], b[i])
        i += 1
    }
}

/// General broadcast: iterates the output's rows (last axis) with per-input strides (0 = repeat).
func broadcastGeneral(
    _ pa: UnsafePointer<Float>, _ shapeA: [Int], _ pb: UnsafePointer<Float>, _ shapeB: [Int],
    _ po: UnsafeMutablePointer<Float>, _ shape: [Int], _ op: BinaryOperation
) {
    let rank = shape.count
    func broadcastStrides(_ s: [Int]) -> [Int] {
        let padded = [Int](repeating: 1, count: rank - s.count) + s
        let contiguous = Tensor.strides(of: padded)
        return (0..<rank).map { padded[$0] == 1 && shape[$0] != 1 ? 0 : contiguous[$0] }
    }
    let sa = broadcastStrides(shapeA), sb = broadcastStrides(shapeB)
    let inner = shape.last ?? 1
    let rows = shape.reduce(1, *) / max(inner, 1)
    let innerA = sa.last ?? 0, innerB = sb.last ?? 0
    Parallel.forEach(rows, grain: max(1, elementwiseGrain / max(inner, 1))) { range in
        for row in range {
            var rest = row, offA = 0, offB = 0
            for axis in stride(from: rank - 2, through: 0, by: -1) {
                let index = rest % shape[axis]
                rest /= shape[axis]
                offA += index * sa[axis]
                offB += index * sb[axis]
            }
            let o = po + row * inner
            for j in 0..<inner {
                o[j] = op.apply(pa[offA + j * innerA], pb[offB + j * innerB])
            }
        }
    }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .add) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .subtract) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .multiply) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .divide) }

    /// Adds `other` (same shape) into this tensor in place (residual connections).
    public mutating func add(_ other: Tensor) {
        precondition(other.shape == shape, "add: \(other.shape) into \(shape)")
        let n = count
        other.withUnsafePointer { src in
            withUnsafeMutablePointer { dst in
                Parallel.forEach(n, grain: elementwiseGrain) { r in
                    binaryContiguous(dst + r.lowerBound, src + r.lowerBound, dst + r.lowerBound, r.count, .add)
                }
            }
        }
    }
}
