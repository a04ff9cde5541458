// FrameRecord: one line of masks.jsonl (DESIGN §6) and its exact text.
//
//   {"frame": 0, "pts": 0.0, "objects": [{"id": 1, "score": 3.2, "area": 1234, "bbox": [x, y, w, h],
//    "rle": {"size": [H, W], "counts": "..."}}]}
//
// Keys always appear in this order, separated as Python's `json.dumps` does (", " and ": "), on a
// single line. Numbers: integers in decimal; `pts` (seconds) and `score` in Swift's shortest
// round-trip digits laid out as Python's repr ("0.0", "3.2", "1e-05"), so that
// `json.dumps(json.loads(line)) == line`; a missing or non-finite value is `null`. `bbox` is
// COCO's [x, y, w, h] of the tight box ([0, 0, 0, 0] when empty), `area` the pixel count, `rle`
// COCO compressed RLE (column-major), readable by `pycocotools.mask.decode`.

import Foundation

/// One object's entry in a masks.jsonl line.
public struct MaskRecord: Equatable, Sendable {
    /// Object id.
    public var id: Int
    /// Object-presence logit.
    public var score: Float
    /// Number of object pixels.
    public var area: Int
    /// Tight box, COCO [x, y, w, h].
    public var bbox: BoundingBox
    /// The mask in COCO RLE.
    public var rle: COCORLE

    /// A record whose area and box are computed from `rle`.
    public init(id: Int, score: Float, rle: COCORLE) {
        self.id = id
        self.score = score
        self.rle = rle
        area = rle.area
        bbox = rle.boundingBox
    }

    /// Encodes `object`'s mask.
    public init(_ object: ObjectMask) {
        self.init(id: object.id, score: object.score, rle: COCORLE(encoding: object.mask))
    }
}

/// One frame's line of masks.jsonl.
public struct FrameRecord: Equatable, Sendable {
    /// 0-based frame index in the source.
    public var frame: Int
    /// Presentation time in seconds; nil when the source has none (written as `null`).
    public var pts: Double?
    /// The objects on this frame, in the order given.
    public var objects: [MaskRecord]

    public init(frame: Int, pts: Double?, objects: [MaskRecord]) {
        self.frame = frame
        self.pts = pts
        self.objects = objects
    }

    /// The line's text, without the trailing newline.
    public var jsonLine: String {
        var line = "{\"frame\": \(frame), \"pts\": \(jsonNumber(pts)), \"objects\": ["
        line.reserveCapacity(64 + objects.reduce(0) { $0 + 128 + $1.rle.counts.count * 2 })
        for (i, object) in objects.enumerated() {
            if i > 0 { line += ", " }
            let box = object.bbox
            line += "{\"id\": \(object.id), \"score\": \(jsonNumber(object.score)), \"area\": \(object.area), "
            line += "\"bbox\": [\(box.x), \(box.y), \(box.width), \(box.height)], "
            line += "\"rle\": {\"size\": [\(object.rle.height), \(object.rle.width)], \"counts\": "
            appendJSONString(object.rle.compressed, to: &line)
            line += "}}"
        }
        line += "]}"
        return line
    }

    /// Parses one line of masks.jsonl (any JSON with these keys; `pts` and `score` may be null).
    public init(jsonLine: String) throws {
        do {
            self = try JSONDecoder().decode(FrameRecord.self, from: Data(jsonLine.utf8))
        } catch let error as DecodingError {
            throw ExportError.invalidArgument("not a masks.jsonl line: \(describe(error))")
        }
    }
}

extension FrameRecord: Decodable {
    private enum Keys: String, CodingKey { case frame, pts, objects }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        frame = try container.decode(Int.self, forKey: .frame)
        pts = try container.decodeIfPresent(Double.self, forKey: .pts)
        objects = try container.decode([MaskRecord].self, forKey: .objects)
    }
}

extension MaskRecord: Decodable {
    private enum Keys: String, CodingKey { case id, score, area, bbox, rle }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        id = try container.decode(Int.self, forKey: .id)
        score = try container.decodeIfPresent(Float.self, forKey: .score) ?? .nan
        area = try container.decode(Int.self, forKey: .area)
        let box = try container.decode([Int].self, forKey: .bbox)
        guard box.count == 4 else {
            throw DecodingError.dataCorruptedError(forKey: .bbox, in: container, debugDescription: "bbox must be [x, y, w, h]")
        }
        bbox = BoundingBox(x: box[0], y: box[1], width: box[2], height: box[3])
        rle = try container.decode(COCORLE.self, forKey: .rle)
    }
}

// MARK: - JSON text helpers

/// A finite number as Python's `repr` / `json.dumps` writes it, else `null`: the shortest digits
/// that round-trip (for a Float, those of the Float), in fixed notation when the decimal exponent
/// is in -4 ..< 16 ("0.0001", "3.2", "1000000000000000.0"), else as "1e-05", "1.5e+16".
func jsonNumber<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F?) -> String {
    guard let value, value.isFinite else { return "null" }
    return pythonRepr(value.description)
}

/// Rewrites Swift's shortest round-trip description ("1e-05", "3.2", "1e+16", "-0.0") in
/// Python's float `repr` layout (same digits; only where the decimal point goes differs).
func pythonRepr(_ description: String) -> String {
    var text = Substring(description)
    let negative = text.hasPrefix("-")
    if negative { text = text.dropFirst() }
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...]) ?? 0
        text = text[..<e]
    }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let integer = parts[0], fraction = parts.count > 1 ? parts[1] : ""
    // value = 0.d1 d2 ... x 10^point
    var digits = Array(integer + fraction)
    var point = integer.count + exponent
    while let first = digits.first, first == "0" {
        digits.removeFirst()
        point -= 1
    }
    while let last = digits.last, last == "0" { digits.removeLast() }
    let sign = negative ? "-" : ""
    guard !digits.isEmpty else { return sign + "0.0" }
    let d = String(digits)
    if point > -4, point <= 16 {
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + d }
        if point >= d.count { return sign + d + String(repeating: "0", count: point - d.count) + ".0" }
        return sign + String(d.prefix(point)) + "." + String(d.dropFirst(point))
    }
    let mantissa = d.count == 1 ? d : String(d.prefix(1)) + "." + String(d.dropFirst())
    let e = point - 1
    let magnitude = String(abs(e))
    return sign + mantissa + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
}

/// Appends `value` as a JSON string literal. COCO counts strings contain '\' (character 92),
/// which must be escaped.
func appendJSONString(_ value: String, to out: inout String) {
    var bytes: [UInt8] = [0x22]
    bytes.reserveCapacity(value.utf8.count + 16)
    for byte in value.utf8 {
        switch byte {
        case 0x22, 0x5C:  // " and \
            bytes.append(0x5C)
            bytes.append(byte)
        case 0..<0x20:
            bytes.append(contentsOf: String(format: "\\u%04x", UInt32(byte)).utf8)
        default:
            bytes.append(byte)
        }
    }
    bytes.append(0x22)
    out += String(decoding: bytes, as: UTF8.self)
}

/// A one-line explanation of a decoding failure.
func describe(_ error: DecodingError) -> String {
    switch error {
    case let .dataCorrupted(context), let .keyNotFound(_, context), let .typeMismatch(_, context),
         let .valueNotFound(_, context):
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}
