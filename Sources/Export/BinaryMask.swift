// BinaryMask: one object's mask at source resolution, as bytes.
//
// Legend: H height, W width (source pixels). A mask is [H, W], row-major (x fastest), one byte
// per pixel, 1 = object, 0 = background. Logit tensors are [H, W] (or [1, H, W], [1, 1, H, W]).
// A pixel belongs to the object when its logit is > 0 (DESIGN §2); NaN counts as background.

import Tensor

/// A tight axis-aligned box in COCO's convention: `x`, `y` of the top-left pixel, `width` and
/// `height` in pixels (a single pixel is [x, y, 1, 1]); an empty mask has [0, 0, 0, 0].
public struct BoundingBox: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The box of an empty mask.
    public static let empty = BoundingBox(x: 0, y: 0, width: 0, height: 0)

    /// [x, y, w, h], as written to masks.jsonl.
    public var array: [Int] { [x, y, width, height] }

    public var description: String { "[\(x), \(y), \(width), \(height)]" }
}

/// A binary mask [H, W], row-major, one byte per pixel (0 or 1).
public struct BinaryMask: Equatable, Sendable {
    /// Width W in pixels.
    public let width: Int
    /// Height H in pixels.
    public let height: Int
    /// The pixels, row-major [H, W]: index `y * width + x`, values 0 or 1.
    public private(set) var pixels: [UInt8]

    /// An empty (all background) mask.
    public init(width: Int, height: Int) {
        precondition(width >= 0 && height >= 0, "mask size \(width)x\(height) is negative")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height)
    }

    /// A mask from row-major bytes [H, W]; any non-zero byte is part of the object.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "mask \(width)x\(height) needs \(width * height) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.pixels.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = buffer[i] == 0 ? 0 : 1 }
        }
    }

    /// A mask whose pixel (x, y) is `isSet(x, y)`.
    public init(width: Int, height: Int, isSet: (_ x: Int, _ y: Int) -> Bool) {
        self.init(width: width, height: height)
        pixels.withUnsafeMutableBufferPointer { buffer in
            for y in 0..<height {
                for x in 0..<width where isSet(x, y) { buffer[y * width + x] = 1 }
            }
        }
    }

    /// `logits > threshold` for a logit map already at the mask's resolution.
    /// - Parameter logits: [H, W], or with leading axes of extent 1 ([1, H, W], [1, 1, H, W]).
    /// - Throws: `ExportError.invalidArgument` for any other shape.
    public init(logits: Tensor, threshold: Float = 0) throws {
        let (height, width) = try Self.planeSize(of: logits)
        self.init(width: width, height: height)
        logits.withUnsafePointer { source in
            Self.threshold(source, into: &pixels, count: width * height, rowLength: width, threshold: threshold)
        }
    }

    /// Low-resolution logits (e.g. the decoder's [1, 1, S/4, S/4]) upsampled bilinearly
    /// (align_corners = false, no antialias, as the official predictor does) to `height` x `width`,
    /// then `> threshold`.
    public init(logits: Tensor, upsampledToHeight height: Int, width: Int, threshold: Float = 0) throws {
        let (h, w) = try Self.planeSize(of: logits)
        guard height > 0, width > 0 else {
            throw ExportError.invalidArgument("mask size \(width)x\(height) must be positive")
        }
        if h == height, w == width {
            try self.init(logits: logits, threshold: threshold)
            return
        }
        let resized = logits.reshaped([1, 1, h, w]).interpolate(height: height, width: width,
                                                                 mode: .bilinear(antialias: false))
        try self.init(logits: resized, threshold: threshold)
    }

    /// Whether pixel (x, y) belongs to the object.
    public subscript(x: Int, y: Int) -> Bool {
        get { pixels[y * width + x] != 0 }
        set { pixels[y * width + x] = newValue ? 1 : 0 }
    }

    /// Number of object pixels.
    public var area: Int {
        pixels.withUnsafeBufferPointer { buffer in
            var total = 0
            var start = 0
            // Byte sums in 32-bit lanes vectorise; 1 << 20 bytes cannot overflow them.
            while start < buffer.count {
                let end = min(buffer.count, start + (1 << 20))
                var partial: UInt32 = 0
                for i in start..<end { partial &+= UInt32(buffer[i]) }
                total += Int(partial)
                start = end
            }
            return total
        }
    }

    /// True when no pixel is set.
    public var isEmpty: Bool {
        pixels.withUnsafeBufferPointer { $0.isEmpty || firstNonZero($0.baseAddress!, $0.count) == nil }
    }

    /// The tight box around the object pixels (COCO [x, y, w, h]); `.empty` for an empty mask.
    public var boundingBox: BoundingBox {
        guard width > 0, height > 0 else { return .empty }
        return pixels.withUnsafeBufferPointer { buffer in
            var minX = width, maxX = -1, minY = -1, maxY = -1
            for y in 0..<height {
                let row = buffer.baseAddress! + y * width
                guard let first = firstNonZero(row, width) else { continue }
                if minY < 0 { minY = y }
                maxY = y
                minX = min(minX, first)
                if maxX < width - 1 { maxX = max(maxX, lastNonZero(row, width)!) }
            }
            guard minY >= 0 else { return .empty }
            return BoundingBox(x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1)
        }
    }

    /// Read access to the row-major bytes.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try pixels.withUnsafeBufferPointer(body)
    }

    /// Write access to the row-major bytes (callers store only 0 or 1).
    public mutating func withMutablePixels<R>(_ body: (UnsafeMutableBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try pixels.withUnsafeMutableBufferPointer { try body($0) }
    }

    // MARK: - Internals

    /// (H, W) of a logit tensor [..., H, W] whose leading axes are all 1.
    static func planeSize(of logits: Tensor) throws -> (Int, Int) {
        let shape = logits.shape
        guard shape.count >= 2, shape.dropLast(2).allSatisfy({ $0 == 1 }) else {
            throw ExportError.invalidArgument("mask logits must be [H, W] (or [1, 1, H, W]), got \(shape)")
        }
        return (shape[shape.count - 2], shape[shape.count - 1])
    }

    /// `out[i] = source[i] > threshold ? 1 : 0`, rows split over the cores.
    static func threshold(_ source: UnsafePointer<Float>, into out: inout [UInt8], count: Int, rowLength: Int,
                          threshold: Float) {
        guard count > 0 else { return }
        let rows = count / max(rowLength, 1)
        out.withUnsafeMutableBufferPointer { destination in
            let output = destination.baseAddress!
            Parallel.forEach(rows, grain: max(1, 65_536 / max(rowLength, 1))) { range in
                let start = range.lowerBound * rowLength, end = range.upperBound * rowLength
                for i in start..<end { output[i] = source[i] > threshold ? 1 : 0 }
            }
        }
    }
}

/// Index of the first non-zero byte among `count` bytes at `p`, or nil. Skips zero words.
@inline(__always)
func firstNonZero(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int? {
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= count, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0 { i += 8 }
    while i < count {
        if p[i] != 0 { return i }
        i += 1
    }
    return nil
}

/// Index of the first zero byte among `count` bytes (0 or 1 each) at `p`, or `count`.
/// Skips words of ones.
@inline(__always)
func firstZero(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= count, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0x0101_0101_0101_0101 { i += 8 }
    while i < count, p[i] != 0 { i += 1 }
    return i
}

/// Index of the last non-zero byte among `count` bytes at `p`, or nil. Skips zero words.
@inline(__always)
func lastNonZero(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int? {
    var end = count
    let raw = UnsafeRawPointer(p)
    while end >= 8, raw.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
    while end > 0 {
        if p[end - 1] != 0 { return end - 1 }
        end -= 1
    }
    return nil
}
