// PalettePNGWriter: the `palette` output format, one 8-bit palette-indexed PNG per frame,
// DIR/<frame %05d>.png, pixel value = object id (0 = background), DAVIS palette (the layout of
// DAVIS 2017 annotations, which its evaluation tools and most VOS code read directly).
//
// Overlaps: a pixel claimed by several objects gets the id of the object with the highest score;
// between equal scores the one later in the list wins (`ObjectMask.paintingOrder`).
// Encoding goes through Media's PNGWriter (libavcodec); files are written atomically.

import FileIO
import Media
import Tensor

/// Writes palette-indexed PNGs of all objects of a frame. Not thread-safe.
public final class PalettePNGWriter {
    /// DIR.
    public let directory: String
    /// 256 RGB triples (768 bytes); the DAVIS palette by default.
    public let palette: [UInt8]

    private let encoder: PNGWriter
    private let handle: DirectoryHandle
    private var indices: [UInt8] = []

    /// - Parameters:
    ///   - createDirectory: create DIR when missing (else a missing DIR is an error).
    ///   - compressionLevel: zlib level 0...9; nil = zlib's default (6).
    public init(directory: String, createDirectory: Bool = true, palette: [UInt8] = DAVISPalette.bytes,
                compressionLevel: Int? = nil) throws {
        guard palette.count % 3 == 0, palette.count <= 768 else {
            throw ExportError.invalidArgument("a palette holds up to 256 RGB triples, got \(palette.count) bytes")
        }
        self.directory = directory
        self.palette = palette
        encoder = PNGWriter(compressionLevel: compressionLevel)
        handle = try DirectoryHandle.open(directory, create: createDirectory)
    }

    /// Writes DIR/<frame %05d>.png of size `width` x `height` (the source size; every mask must
    /// have it). With no objects the image is all background.
    /// - Throws: `ExportError.invalidArgument` for ids outside 1...255 or masks of another size.
    public func write(frame: Int, width: Int, height: Int, objects: [ObjectMask]) throws {
        let path = OutputLayout.palettePNG(in: directory, frame: frame)
        try Self.indexImage(width: width, height: height, objects: objects, into: &indices)
        let png: [UInt8]
        do {
            png = try encoder.encodeIndexed(indices, width: width, height: height, palette: palette)
        } catch {
            throw ExportError.encodeFailed(path: path, reason: "\(error)")
        }
        try AtomicFile.write(png, named: OutputLayout.framePNGName(frame), in: handle)
    }

    /// The index image [H, W]: 0 for background, else the id of the object the pixel shows
    /// (overlap rule above).
    public static func indexImage(width: Int, height: Int, objects: [ObjectMask]) throws -> [UInt8] {
        var indices: [UInt8] = []
        try indexImage(width: width, height: height, objects: objects, into: &indices)
        return indices
    }

    static func indexImage(width: Int, height: Int, objects: [ObjectMask], into indices: inout [UInt8]) throws {
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
