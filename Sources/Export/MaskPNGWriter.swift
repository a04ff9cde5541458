// MaskPNGWriter: the `png` output format, one 8-bit grey PNG per object and frame,
// DIR/<id>/<frame %05d>.png, pixel 255 = object, 0 = background, at the mask's resolution.
// Encoding goes through Media's PNGWriter (libavcodec); files are written atomically.

import FileIO
import Media
import Tensor

/// Writes per-object grey mask PNGs. Objects of one frame are encoded in parallel (one
/// libavcodec encoder per object slot). Not thread-safe.
public final class MaskPNGWriter {
    /// DIR.
    public let directory: String
    /// Create DIR and DIR/<id> when missing (else a missing DIR is an error; DIR/<id> is always created).
    public let createDirectory: Bool
    /// zlib level 0...9 for the PNGs; nil = zlib's default (6).
    public let compressionLevel: Int?

    private var slots: [Slot] = []
    private let handle: DirectoryHandle
    private var folders: [Int: DirectoryHandle] = [:]

    /// An encoder with its scratch image, used by one object at a time.
    private final class Slot {
        let encoder: PNGWriter
        var grey: [UInt8] = []
        var png: [UInt8] = []
        var failure: Error?
        init(compressionLevel: Int?) { encoder = PNGWriter(compressionLevel: compressionLevel) }
    }

    public init(directory: String, createDirectory: Bool = true, compressionLevel: Int? = nil) throws {
        self.directory = directory
        self.createDirectory = createDirectory
        self.compressionLevel = compressionLevel
        handle = try DirectoryHandle.open(directory, create: createDirectory)
    }

    /// Writes DIR/<id>/<frame %05d>.png for every object.
    /// - Throws: `ExportError.invalidArgument` for a non-positive id or an empty (0-pixel) mask
    ///   size, `.encodeFailed` / `.writeFailed` naming the file.
    public func write(frame: Int, objects: [ObjectMask]) throws {
        for object in objects {
            guard object.id > 0 else { throw ExportError.invalidArgument("object ids are positive, got \(object.id)") }
            guard object.mask.width > 0, object.mask.height > 0 else {
                throw ExportError.invalidArgument("mask of object \(object.id) is \(object.mask.width)x\(object.mask.height)")
            }
            if folders[object.id] == nil {
                folders[object.id] = try handle.subdirectory(OutputLayout.maskFolderName(id: object.id), create: true)
            }
        }
        while slots.count < objects.count { slots.append(Slot(compressionLevel: compressionLevel)) }
        let paths = objects.map { OutputLayout.maskPNG(in: directory, id: $0.id, frame: frame) }
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
                    slot.failure = ExportError.encodeFailed(path: paths[i], reason: "\(error)")
                }
            }
        }
        for i in objects.indices {
            if let failure = slots[i].failure { throw failure }
            try AtomicFile.write(slots[i].png, named: OutputLayout.framePNGName(frame), in: folders[objects[i].id]!)
        }
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
