// COCORLE: COCO run-length encoding of binary masks, bit-exact with pycocotools (maskApi.c).
//
// Legend: H height, W width. A mask [H, W] is read in column-major (Fortran) order, i.e. pixel
// (x, y) is at linear index x * H + y. `counts` are the lengths of alternating runs in that order,
// starting with a run of background (0 when pixel (0, 0) is set), as `rleEncode` produces; an
// H x W mask with H * W == 0 has counts [0].
//
// The compressed string (`rleToString`) writes each count as a little-endian sequence of 5-bit
// groups, 6 bits per character: bit 0x20 = "more groups follow", bit 0x10 of the last group is
// the sign; each character is the 6-bit value + 48 (so '0'...'o'). For i > 2 the value written is
// counts[i] - counts[i - 2] (the delta trick: neighbouring columns tend to repeat run lengths).

import Foundation

/// A mask in COCO RLE: size plus column-major run lengths, convertible to and from pycocotools'
/// compressed string (`{"size": [H, W], "counts": "..."}`).
public struct COCORLE: Equatable, Hashable, Sendable {
    /// Mask height H.
    public let height: Int
    /// Mask width W.
    public let width: Int
    /// Column-major run lengths, alternating background / object, starting with background.
    public let counts: [UInt32]

    /// Largest mask, in pixels (H * W), that the decoding initialisers accept unless told
    /// otherwise: 2^28 (e.g. 16384 x 16384), whose decoded mask takes 256 MiB.
    public static let defaultMaximumPixels = 1 << 28

    /// Wraps run lengths (pycocotools' uncompressed RLE). They must add up to H * W, and H * W
    /// must not exceed `maximumPixels`, which bounds what `decoded()` will allocate.
    /// - Throws: `ExportError.invalidRLE` (negative or overflowing size, counts that add up to
    ///   more or fewer pixels than H * W), `ExportError.rleTooLarge` (H * W > `maximumPixels`).
    public init(height: Int, width: Int, counts: [UInt32], maximumPixels: Int = COCORLE.defaultMaximumPixels) throws {
        let pixels = try Self.checkedPixelCount(height: height, width: width, maximumPixels: maximumPixels)
        var total = 0
        for count in counts {
            let (sum, overflow) = total.addingReportingOverflow(Int(count))
            guard !overflow, sum <= pixels else {
                throw ExportError.invalidRLE("counts add up to more than the \(pixels) pixels of size [\(height), \(width)]")
            }
            total = sum
        }
        guard total == pixels else {
            throw ExportError.invalidRLE("counts add up to \(total) pixels, size [\(height), \(width)] has \(pixels)")
        }
        self.height = height
        self.width = width
        self.counts = counts.isEmpty ? [0] : counts
    }

    /// Decodes pycocotools' compressed `counts` string for an H x W mask (see
    /// `init(height:width:counts:maximumPixels:)` for the checks and errors).
    public init(height: Int, width: Int, compressed: String, maximumPixels: Int = COCORLE.defaultMaximumPixels) throws {
        // Check the size before decoding, so that a huge size never costs the string's decoding.
        _ = try Self.checkedPixelCount(height: height, width: width, maximumPixels: maximumPixels)
        try self.init(height: height, width: width, counts: Self.decodeCounts(compressed), maximumPixels: maximumPixels)
    }

    /// H * W after checking that both are non-negative, that the product does not overflow and
    /// that it is at most `maximumPixels`.
    static func checkedPixelCount(height: Int, width: Int, maximumPixels: Int) throws -> Int {
        guard height >= 0, width >= 0 else {
            throw ExportError.invalidRLE("size [\(height), \(width)] is negative")
        }
        let (pixels, overflow) = height.multipliedReportingOverflow(by: width)
        guard !overflow, pixels <= maximumPixels else {
            throw ExportError.rleTooLarge(height: height, width: width, maximumPixels: maximumPixels)
        }
        return pixels
    }

    /// Encodes `mask` exactly as `pycocotools.mask.encode(np.asfortranarray(mask))`.
    /// Cost is proportional to the mask's bounding box (the rest is runs of zeros).
    public init(encoding mask: BinaryMask) {
        height = mask.height
        width = mask.width
        counts = Self.runLengths(of: mask)
    }

    /// The compressed `counts` string (`rleToString`).
    public var compressed: String { Self.encodeCounts(counts) }

    /// Number of object pixels (`pycocotools.mask.area`).
    public var area: Int {
        var total = 0
        var i = 1
        while i < counts.count {
            total += Int(counts[i])
            i += 2
        }
        return total
    }

    /// The tight box around the object pixels (`pycocotools.mask.toBbox`, as integers).
    public var boundingBox: BoundingBox {
        guard height > 0, width > 0, counts.count >= 2 else { return .empty }
        var minX = Int.max, maxX = -1, minY = Int.max, maxY = -1
        var position = 0
        for (i, count) in counts.enumerated() {
            let start = position
            position += Int(count)
            guard i % 2 == 1, count > 0 else { continue }
            let last = position - 1
            let (x0, y0) = (start / height, start % height)
            let (x1, y1) = (last / height, last % height)
            minX = min(minX, x0)
            maxX = max(maxX, x1)
            if x1 > x0 {
                // The run wraps from the bottom of one column to the top of the next.
                minY = 0
                maxY = height - 1
            } else {
                minY = min(minY, y0)
                maxY = max(maxY, y1)
            }
        }
        guard maxX >= 0 else { return .empty }
        return BoundingBox(x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1)
    }

    /// The mask these runs describe (`pycocotools.mask.decode`), row-major.
    public func decoded() -> BinaryMask {
        var mask = BinaryMask(width: width, height: height)
        guard height > 0, width > 0 else { return mask }
        let h = height, w = width
        mask.withMutablePixels { buffer in
            let pixels = buffer.baseAddress!
            var position = 0
            for (i, count) in counts.enumerated() {
                let start = position
                position += Int(count)
                guard i % 2 == 1 else { continue }
                var index = start
                while index < position {
                    let x = index / h, y0 = index % h
                    let y1 = min(h, y0 + (position - index))
                    var p = pixels + y0 * w + x
                    for _ in y0..<y1 {
                        p.pointee = 1
                        p += w
                    }
                    index += y1 - y0
                }
            }
        }
        return mask
    }

    // MARK: - String form (maskApi.c rleToString / rleFrString)

    /// `rleToString`: the compressed form of run lengths.
    public static func encodeCounts(_ counts: [UInt32]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(counts.count * 2 + 8)
        for i in counts.indices {
            var x = Int64(counts[i])
            if i > 2 { x -= Int64(counts[i - 2]) }
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5  // arithmetic shift, as on C's long
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                bytes.append(c + 48)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `rleFrString`: run lengths from the compressed form. Unlike the C code it rejects
    /// characters outside '0'...'o', a value cut off by the end of the string, and negative or
    /// out-of-range counts.
    public static func decodeCounts(_ string: String) throws -> [UInt32] {
        var counts = [UInt32]()
        var text = string
        try text.withUTF8 { bytes in
            counts.reserveCapacity(bytes.count)
            var p = 0
            while p < bytes.count {
                var x: Int64 = 0
                var k: Int64 = 0
                var more = true
                while more {
                    guard p < bytes.count else {
                        throw ExportError.invalidRLE("the string ends inside a value (at character \(p))")
                    }
                    let raw = bytes[p]
                    guard raw >= 48, raw < 48 + 64 else {
                        throw ExportError.invalidRLE("character '\(Character(Unicode.Scalar(raw)))' at \(p) is outside '0'...'o'")
                    }
                    guard k < 12 else { throw ExportError.invalidRLE("value at character \(p) is too long") }
                    let c = Int64(raw - 48)
                    x |= (c & 0x1f) << (5 * k)
                    more = (c & 0x20) != 0
                    p += 1
                    k += 1
                    if !more, (c & 0x10) != 0 { x |= -1 << (5 * k) }
                }
                if counts.count > 2 { x += Int64(counts[counts.count - 2]) }
                guard x >= 0, x <= Int64(UInt32.max) else {
                    throw ExportError.invalidRLE("count \(counts.count) decodes to \(x)")
                }
                counts.append(UInt32(x))
            }
        }
        return counts
    }

    // MARK: - Encoding

    /// Column-major run lengths of `mask` (`rleEncode`). Columns outside the bounding box and
    /// rows above / below it are runs of zeros added arithmetically; inside the box, blocks of
    /// columns are transposed into a small tile and scanned eight bytes at a time.
    static func runLengths(of mask: BinaryMask) -> [UInt32] {
        let h = mask.height, w = mask.width
        guard h * w > 0 else { return [0] }
        let box = mask.boundingBox
        guard box.width > 0 else { return [UInt32(h * w)] }
        var builder = RunBuilder()
        builder.append(0, box.x * h + box.y)
        let blockColumns = 32
        var tile = [UInt8](repeating: 0, count: blockColumns * box.height)
        mask.withUnsafeBufferPointer { pixels in
            tile.withUnsafeMutableBufferPointer { tileBuffer in
                let t = tileBuffer.baseAddress!
                var x0 = box.x
                while x0 < box.x + box.width {
                    let columns = min(blockColumns, box.x + box.width - x0)
                    // Transpose rows box.y ..< box.y + box.height of the block into column order.
                    for r in 0..<box.height {
                        let row = pixels.baseAddress! + (box.y + r) * w + x0
                        for c in 0..<columns { t[c * box.height + r] = row[c] }
                    }
                    for c in 0..<columns {
                        if c > 0 || x0 > box.x { builder.append(0, h - box.height) }
                        builder.scan(t + c * box.height, box.height)
                    }
                    x0 += columns
                }
            }
        }
        builder.append(0, (w - box.x - box.width) * h + (h - box.y - box.height))
        return builder.finish()
    }
}

/// Accumulates alternating runs (starting with zeros) from values and whole runs.
private struct RunBuilder {
    var counts: [UInt32] = []
    var current: UInt8 = 0
    var run = 0

    init() { counts.reserveCapacity(256) }

    /// Adds `length` pixels of `value` (0 or 1).
    @inline(__always)
    mutating func append(_ value: UInt8, _ length: Int) {
        guard length > 0 else { return }
        if value != current {
            counts.append(UInt32(run))
            run = 0
            current = value
        }
        run += length
    }

    /// Adds `count` pixels (0 or 1 each) in order, skipping eight equal bytes at a time.
    @inline(__always)
    mutating func scan(_ p: UnsafePointer<UInt8>, _ count: Int) {
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i < count {
            let pattern: UInt64 = current == 0 ? 0 : 0x0101_0101_0101_0101
            var j = i
            while j + 8 <= count, raw.loadUnaligned(fromByteOffset: j, as: UInt64.self) == pattern { j += 8 }
            run += j - i
            i = j
            let stop = min(count, i + 8)
            while i < stop {
                if p[i] != current {
                    counts.append(UInt32(run))
                    run = 0
                    current ^= 1
                }
                run += 1
                i += 1
            }
        }
    }

    mutating func finish() -> [UInt32] {
        counts.append(UInt32(run))
        return counts
    }
}

// MARK: - JSON form

extension COCORLE: Codable {
    private enum CodingKeys: String, CodingKey {
        case size, counts
    }

    /// The `CodingUserInfoKey` under which a decoder's `userInfo` may hold an `Int`: the largest
    /// H * W accepted while decoding (default `COCORLE.defaultMaximumPixels`).
    public static let maximumPixelsKey = CodingUserInfoKey(rawValue: "samtrack.COCORLE.maximumPixels")!

    /// Reads `{"size": [H, W], "counts": "..."}` (compressed) or with `counts` as a list of
    /// integers (uncompressed RLE). Invalid or too large masks throw
    /// `DecodingError.dataCorrupted` whose underlying error is the `ExportError`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let size = try container.decode([Int].self, forKey: .size)
        guard size.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: container, debugDescription: "size must be [H, W]")
        }
        let maximumPixels = decoder.userInfo[Self.maximumPixelsKey] as? Int ?? Self.defaultMaximumPixels
        do {
            if let string = try? container.decode(String.self, forKey: .counts) {
                try self.init(height: size[0], width: size[1], compressed: string, maximumPixels: maximumPixels)
            } else {
                try self.init(height: size[0], width: size[1], counts: try container.decode([UInt32].self, forKey: .counts),
                              maximumPixels: maximumPixels)
            }
        } catch let error as ExportError {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.counts],
                                                    debugDescription: error.description, underlyingError: error))
        }
    }

    /// Writes `{"size": [H, W], "counts": "<compressed>"}`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode([height, width], forKey: .size)
        try container.encode(compressed, forKey: .counts)
    }
}
