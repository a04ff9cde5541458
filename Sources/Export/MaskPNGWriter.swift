// MaskPNGWriter: the `png` output format, one 8-bit grey PNG per object and frame,
// DIR/<id>/<frame %05d>.png, pixel 255 = object, 0 = background, at the mask's resolution.
// `MaskPNGEncoder` turns a frame's masks into PNG bytes (Media's PNGWriter, libavcodec); the
// writer puts them in files (atomically), `MaskExport` into a zip archive under the same names.

import FileIO
import Media
import Tensor

/// Encodes a frame's object masks as grey PNGs, the objects in parallel (one libavcodec encoder
/// per object slot). Not thread-safe.
public final class MaskPNGEncoder {
    /// zlib level 0...9 for the PNGs; nil = zlib's default (6).
    public let compressionLevel: Int?

    private var slots: [Slot] = []

    /// An encoder with its scratch image, used by one object at a time.
    private final class Slot {
        let encoder: PNGWriter
        var grey: [UInt8] = []
        var png: [UInt8] = []
        var failure: Error?
        init(compressionLevel: Int?) { encoder = PNGWriter(compressionLevel: compressionLevel) }
    }

    public init(compressionLevel: Int? = nil) {
        self.compressionLevel = compressionLevel
    }

    /// Refuses what the format cannot hold: a non-positive id (ids name folders) or an empty
    /// (0-pixel) mask size.
    /// - Throws: `ExportError.invalidArgument`.
    public static func check(_ objects: [ObjectMask]) throws {
        for object in objects {
            guard object.id > 0 else { throw ExportError.invalidArgument("object ids are positive, got \(object.id)") }
            guard object.mask.width > 0, object.mask.height > 0 else {
                throw ExportError.invalidArgument("mask of object \(object.id) is \(object.mask.width)x\(object.mask.height)")
            }
        }
    }

    /// The PNG bytes of each object's mask, in the order of `objects`; `names[i]` is the file or
    /// archive entry object i goes to, named in errors.
    /// - Throws: as `check`; `ExportError.encodeFailed` naming the first object that failed.
    public func encode(_ objects: [ObjectMask], names: [String]) throws -> [[UInt8]] {
        precondition(names.count == objects.count, "one name per object")
        try Self.check(objects)
        while slots.count < objects.count { slots.append(Slot(compressionLevel: compressionLevel)) }
        let slots = self.slots
        Parallel.forEach(objects.count, grain: 1) { range in
            for i in range {
                let slot = slots[i]
                slot.failure = nil
                do {
                    Self.greyImage(objects[i].mask, into: &slot.grey)
                    slot.png = try slot.encoder.encodeGray(slot.grey, width: objects[i].mask.width,
                                                           height: objects[i].mask.height)
                } catch {
                    slot.failure = ExportError.encodeFailed(path: names[i], reason: "\(error)")
                }
            }
        }
        var pngs: [[UInt8]] = []
        pngs.reserveCapacity(objects.count)
        for slot in slots.prefix(objects.count) {
            if let failure = slot.failure { throw failure }
            pngs.append(slot.png)
            slot.png = []
        }
        return pngs
    }

    /// `grey[i] = mask[i] * 255` (reusing `grey`'s storage).
    static func greyImage(_ mask: BinaryMask, into grey: inout [UInt8]) {
        let count = mask.width * mask.height
        if grey.count != count { grey = [UInt8](repeating: 0, count: count) }
        mask.withUnsafeBufferPointer { source in
            grey.withUnsafeMutableBufferPointer { target in
                for i in 0..<count { target[i] = 0 &- source[i] }  // 0 -> 0, 1 -> 255
            }
        }
    }
}

/// Writes per-object grey mask PNGs. Not thread-safe.
public final class MaskPNGWriter {
    /// DIR.
    public let directory: String
    /// Create DIR and DIR/<id> when missing (else a missing DIR is an error; DIR/<id> is always created).
    public let createDirectory: Bool
    /// zlib level 0...9 for the PNGs; nil = zlib's default (6).
    public var compressionLevel: Int? { encoder.compressionLevel }

    private let encoder: MaskPNGEncoder
    private let handle: DirectoryHandle
    private var folders: [Int: DirectoryHandle] = [:]

    public init(directory: String, createDirectory: Bool = true, compressionLevel: Int? = nil) throws {
        self.directory = directory
        self.createDirectory = createDirectory
        encoder = MaskPNGEncoder(compressionLevel: compressionLevel)
        handle = try DirectoryHandle.open(directory, create: createDirectory)
    }

    /// Writes DIR/<id>/<frame %05d>.png for every object.
    /// - Throws: `ExportError.invalidArgument` for a non-positive id or an empty (0-pixel) mask
    ///   size, `.encodeFailed` / `.writeFailed` naming the file.
    public func write(frame: Int, objects: [ObjectMask]) throws {
        try MaskPNGEncoder.check(objects)
        for object in objects where folders[object.id] == nil {
            folders[object.id] = try handle.subdirectory(OutputLayout.maskFolderName(id: object.id), create: true)
        }
        let paths = objects.map { OutputLayout.maskPNG(in: directory, id: $0.id, frame: frame) }
        let pngs = try encoder.encode(objects, names: paths)
        for (object, png) in zip(objects, pngs) {
            try AtomicFile.write(png, named: OutputLayout.framePNGName(frame), in: folders[object.id]!)
        }
    }
}
