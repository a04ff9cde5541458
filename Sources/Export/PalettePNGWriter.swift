// PalettePNGWriter: the `palette` output format, one 8-bit palette-indexed PNG per frame,
// DIR/<frame %05d>.png, pixel value = object id (0 = background), DAVIS palette (the layout of
// DAVIS 2017 annotations, which its evaluation tools and most VOS code read directly).
//
// Overlaps: a pixel claimed by several objects gets the id of the object with the highest score;
// between equal scores the one later in the list wins (`ObjectMask.paintingOrder`).
// `PalettePNGEncoder` turns a frame's masks into PNG bytes (Media's PNGWriter, libavcodec); the
// writer puts them in files (atomically), `MaskExport` into a zip archive under the same names.

import FileIO
import Media
import Tensor

/// Encodes all objects of a frame as one palette-indexed PNG. Not thread-safe.
public final class PalettePNGEncoder {
    /// 256 RGB triples (768 bytes) at most; the DAVIS palette by default.
    public let palette: [UInt8]

    private let encoder: PNGWriter
    private var indices: [UInt8] = []

    /// - Parameter compressionLevel: zlib level 0...9; nil = zlib's default (6).
    /// - Throws: `ExportError.invalidArgument` for a palette that is not up to 256 RGB triples.
    public init(palette: [UInt8] = DAVISPalette.bytes, compressionLevel: Int? = nil) throws {
        guard palette.count % 3 == 0, palette.count <= 768 else {
            throw ExportError.invalidArgument("a palette holds up to 256 RGB triples, got \(palette.count) bytes")
        }
        self.palette = palette
        encoder = PNGWriter(compressionLevel: compressionLevel)
    }

    /// The PNG of a `width` x `height` frame (the source size; every mask must have it); all
    /// background with no objects. `name` is the file or archive entry it goes to, named in errors.
    /// - Throws: `ExportError.invalidArgument` for ids outside 1...255 or masks of another size,
    ///   `.encodeFailed` naming `name`.
    public func encode(width: Int, height: Int, objects: [ObjectMask], name: String) throws -> [UInt8] {
        try Self.indexImage(width: width, height: height, objects: objects, into: &indices)
        do {
            return try encoder.encodeIndexed(indices, width: width, height: height, palette: palette)
        } catch {
            throw ExportError.encodeFailed(path: name, reason: "\(error)")
        }
    }

    /// The index image [H, W]: 0 for background, else the id of the object the pixel shows
    /// (overlap rule above).
    public static func indexImage(width: Int, height: Int, objects: [ObjectMask]) throws -> [UInt8] {
        var indices: [UInt8] = []
        try indexImage(width: width, height: height, objects: objects, into: &indices)
        return indices
    }

    /// Refuses what the format cannot hold: a size that is not positive, ids outside 1...255,
    /// masks of another size than the frame's.
    /// - Throws: `ExportError.invalidArgument`.
    public static func check(width: Int, height: Int, objects: [ObjectMask]) throws {
        guard width > 0, height > 0 else {
            throw ExportError.invalidArgument("palette image size \(width)x\(height) must be positive")
        }
        for object in objects {
            guard (1...255).contains(object.id) else {
                throw ExportError.invalidArgument("palette PNGs hold object ids 1...255, got \(object.id)")
            }
            guard object.mask.width == width, object.mask.height == height else {
                throw ExportError.invalidArgument(
                    "mask of object \(object.id) is \(object.mask.width)x\(object.mask.height), the frame is \(width)x\(height)")
            }
        }
    }

    static func indexImage(width: Int, height: Int, objects: [ObjectMask], into indices: inout [UInt8]) throws {
        try check(width: width, height: height, objects: objects)
        let count = width * height
        if indices.count != count {
            indices = [UInt8](repeating: 0, count: count)
        } else {
            indices.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        let order = ObjectMask.paintingOrder(objects)
        indices.withUnsafeMutableBufferPointer { target in
            let out = target.baseAddress!
            for index in order {
                let object = objects[index]
                let box = object.mask.boundingBox
                guard box.width > 0 else { continue }
                let id = UInt8(object.id)
                object.mask.withUnsafeBufferPointer { mask in
                    let source = mask.baseAddress!
                    Parallel.forEach(box.height, grain: max(1, 65_536 / box.width)) { rows in
                        for y in (box.y + rows.lowerBound)..<(box.y + rows.upperBound) {
                            let start = y * width + box.x
                            for i in start..<(start + box.width) where source[i] != 0 { out[i] = id }
                        }
                    }
                }
            }
        }
    }
}

/// Writes palette-indexed PNGs of all objects of a frame. Not thread-safe.
public final class PalettePNGWriter {
    /// DIR.
    public let directory: String
    /// 256 RGB triples (768 bytes); the DAVIS palette by default.
    public var palette: [UInt8] { encoder.palette }

    private let encoder: PalettePNGEncoder
    private let handle: DirectoryHandle

    /// - Parameters:
    ///   - createDirectory: create DIR when missing (else a missing DIR is an error).
    ///   - compressionLevel: zlib level 0...9; nil = zlib's default (6).
    public init(directory: String, createDirectory: Bool = true, palette: [UInt8] = DAVISPalette.bytes,
                compressionLevel: Int? = nil) throws {
        self.directory = directory
        encoder = try PalettePNGEncoder(palette: palette, compressionLevel: compressionLevel)
        handle = try DirectoryHandle.open(directory, create: createDirectory)
    }

    /// Writes DIR/<frame %05d>.png of size `width` x `height` (the source size; every mask must
    /// have it). With no objects the image is all background.
    /// - Throws: `ExportError.invalidArgument` for ids outside 1...255 or masks of another size.
    public func write(frame: Int, width: Int, height: Int, objects: [ObjectMask]) throws {
        let png = try encoder.encode(width: width, height: height, objects: objects,
                                     name: OutputLayout.palettePNG(in: directory, frame: frame))
        try AtomicFile.write(png, named: OutputLayout.framePNGName(frame), in: handle)
    }
}
