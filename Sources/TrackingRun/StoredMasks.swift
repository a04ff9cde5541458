// StoredMasks: the masks an earlier run wrote, read back frame by frame (for `samtrack render`).
// Any output layout of `OutputLayout` is recognised:
//
//   a masks.jsonl file, or a directory holding one   COCO RLE per object (scores kept)
//   a directory of <frame>.png palette PNGs          pixel value = object id
//   a directory of <id>/<frame>.png grey PNGs         non-zero = the object
//
// A directory with masks.jsonl is read from it (a run with several formats writes it beside the
// PNGs, and it has the scores). masks.jsonl is read line by line, so memory holds one frame.
// Frames are asked for in increasing order; a frame without a record or file has no objects.

import Foundation
import Export
import Media

/// Why stored masks cannot be read or used.
public enum StoredMasksError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Nothing at the path is a mask output.
    case notMasks(path: String)
    /// A masks.jsonl line or a PNG could not be read.
    case unreadable(path: String, reason: String)
    /// The masks are of another size than the video's frames.
    case sizeMismatch(path: String, maskWidth: Int, maskHeight: Int, videoWidth: Int, videoHeight: Int)

    public var description: String {
        switch self {
        case let .notMasks(path):
            return "\(path) holds no masks: give a masks.jsonl, or a directory with masks.jsonl, palette PNGs (00000.png...) "
                + "or per-object folders of PNGs (1/00000.png...)"
        case let .unreadable(path, reason):
            return "cannot read the masks in \(path): \(reason)"
        case let .sizeMismatch(path, mw, mh, vw, vh):
            return "the masks in \(path) are \(mw)x\(mh), the video's frames \(vw)x\(vh): they belong to another video"
        }
    }
}

/// Masks of an earlier run (see the file comment). Not thread-safe.
public final class StoredMasks {
    /// Which layout was found.
    public enum Layout: Equatable, Sendable {
        case jsonl(path: String)
        case palette(directory: String)
        case objectFolders(directory: String, ids: [Int])
    }

    public let layout: Layout
    private var lines: LineReader?
    private var pending: FrameRecord?

    /// Recognises the layout at `path`.
    public init(path: String) throws(StoredMasksError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .notMasks(path: path) }
        if !isDirectory.boolValue {
            layout = .jsonl(path: path)
        } else {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            if names.contains(OutputLayout.masksJSONLName) {
                layout = .jsonl(path: OutputLayout.masksJSONL(in: path))
            } else if names.contains(where: OutputLayout.isFramePNGName) {
                layout = .palette(directory: path)
            } else {
                let ids = names.filter { OutputLayout.classify($0, isDirectory: true) == .objectFolder }.compactMap { Int($0) }.sorted()
                guard !ids.isEmpty else { throw .notMasks(path: path) }
                layout = .objectFolders(directory: path, ids: ids)
            }
        }
        if case let .jsonl(file) = layout {
            do { lines = try LineReader(path: file) } catch { throw .unreadable(path: file, reason: "\(error)") }
        }
    }

    /// The objects of `frame` at `width` x `height` (the video's frame size), sorted by id for
    /// the PNG layouts, in the file's order for masks.jsonl. Frames must increase from call to call.
    public func objects(frame: Int, width: Int, height: Int) throws(StoredMasksError) -> [ObjectMask] {
        switch layout {
        case let .jsonl(path):
            while true {
                if pending == nil {
                    do {
                        guard let line = try lines?.next() else { return [] }
                        pending = try FrameRecord(jsonLine: line)
                    } catch {
                        throw .unreadable(path: path, reason: "line \(lines?.lineNumber ?? 0): \(error)")
                    }
                }
                guard let record = pending, record.frame <= frame else { return [] }
                pending = nil
                guard record.frame == frame else { continue }
                return try record.objects.map { (object) throws(StoredMasksError) -> ObjectMask in
                    guard object.rle.width == width, object.rle.height == height else {
                        throw .sizeMismatch(path: path, maskWidth: object.rle.width, maskHeight: object.rle.height,
                                            videoWidth: width, videoHeight: height)
                    }
                    return ObjectMask(id: object.id, score: object.score, mask: object.rle.decoded())
                }
            }
        case let .palette(directory):
            let file = OutputLayout.palettePNG(in: directory, frame: frame)
            guard let image = try Self.image(file, width: width, height: height) else { return [] }
            guard case .indexed = image.pixels else { throw .unreadable(path: file, reason: "not a palette PNG") }
            let objects: [(id: Int, mask: BinaryMask)]
            do { objects = try MaskImagePrompts.objects(in: image, path: file) } catch { return [] }
            return objects.map { ObjectMask(id: $0.id, score: 0, mask: $0.mask) }
        case let .objectFolders(directory, ids):
            var objects: [ObjectMask] = []
            for id in ids {
                let file = OutputLayout.maskPNG(in: directory, id: id, frame: frame)
                guard let image = try Self.image(file, width: width, height: height) else { continue }
                do {
                    objects.append(ObjectMask(id: id, score: 0, mask: try MaskImagePrompts.singleObject(in: image, path: file)))
                } catch {
                    throw .unreadable(path: file, reason: error.description)
                }
            }
            return objects
        }
    }

    /// The PNG at `file` (nil when there is none), checked against the video's size.
    private static func image(_ file: String, width: Int, height: Int) throws(StoredMasksError) -> StillImage? {
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let image: StillImage
        do { image = try StillImage.load(file) } catch { throw .unreadable(path: file, reason: "\(error)") }
        guard image.width == width, image.height == height else {
            throw .sizeMismatch(path: file, maskWidth: image.width, maskHeight: image.height, videoWidth: width, videoHeight: height)
        }
        return image
    }
}

/// Lines of a text file, read in 64 KiB blocks (memory holds one line and one block). A last
/// line without "\n" is returned too.
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// Lines returned so far.
    private(set) var lineNumber = 0

    init(path: String) throws {
        handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    }

    deinit { try? handle.close() }

    func next() throws -> String? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                lineNumber += 1
                if line.isEmpty { continue }
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                lineNumber += 1
                return line
            }
            buffer.removeFirst(start)
            start = 0
            let block = try handle.read(upToCount: 1 << 16) ?? Data()
            if block.isEmpty { atEnd = true } else { buffer += block }
        }
    }
}
