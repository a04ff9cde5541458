// MaskExport: a run's or a session's masks (masks.jsonl records, `FrameRecord`) as one download,
// in the four formats of the daemon's `GET /v1/jobs/{id}/masks` and `/v1/sessions/{id}/masks`:
//
//   jsonl    masks.jsonl, the lines `MaskJSONLWriter` writes (`FrameRecord.jsonLine`)
//   coco     a COCO instances file: one image per frame, one annotation per object per frame,
//            compressed RLE (COCOExport.swift)
//   png      a zip of `<id>/<frame %05d>.png`, 8-bit grey 0/255 (`MaskPNGEncoder`)
//   palette  a zip of `<frame %05d>.png`, palette-indexed, pixel = object id (`PalettePNGEncoder`)
//
// Streaming. The export is pulled: `nextChunk()` reads records until it has produced at least
// 64 KiB (or the records end) and hands those bytes over; only the current frame's masks, the
// unsent chunk, the zip's central directory (~60 bytes an entry) and COCO's image entries (~90
// bytes a frame) are held, whatever the length of the video. A pull fits an HTTP body: the next
// frame is encoded only when the client has taken the previous bytes (back-pressure), the first
// bytes go out at once, and nothing is left on disk to clean up; `chunks(context:onError:)` wraps
// it as the `AsyncStream<[UInt8]>` the daemon's responses carry. The cost: the length is unknown
// up front (chunked transfer) and a failure after the first chunk can only cut the body short, so
// callers check records they hold in memory first (`check(_:format:width:height:)`, the same rule
// `nextChunk` applies). `write(to:)` puts the whole export in a `FileSink` (an atomic file) instead.
//
// Records must come in strictly increasing frame order (a session's frames sorted first); every
// object's RLE must have the frame size the export was made with, ids are positive (1...255 for
// palette) and unique within a frame.

import FileIO
import Foundation
import Tensor

/// The formats of a mask export (see the file comment).
public enum MaskExportFormat: String, Sendable, CaseIterable {
    case jsonl, coco, png, palette

    /// The HTTP media type of the export.
    public var mediaType: String {
        switch self {
        case .jsonl: return "application/x-ndjson"
        case .coco: return "application/json"
        case .png, .palette: return "application/zip"
        }
    }

    /// The download's file name (`OutputLayout.exportName`).
    public var fileName: String { OutputLayout.exportName(self) }
}

/// One export of masks.jsonl records, produced chunk by chunk (see the file comment). Not
/// thread-safe; `chunks(context:onError:)` serialises its own pulls.
public final class MaskExport {
    /// How zips are stamped and PNGs compressed.
    public struct Options: Sendable {
        /// Modification time and zone of every zip entry.
        public var zip: ZipWriter.Options
        /// zlib level 0...9 for the PNGs; nil = zlib's default (6), as the file writers.
        public var compressionLevel: Int?

        public init(zip: ZipWriter.Options = ZipWriter.Options(), compressionLevel: Int? = nil) {
            self.zip = zip
            self.compressionLevel = compressionLevel
        }
    }

    public let format: MaskExportFormat
    /// The frame size every mask must have.
    public let width: Int
    public let height: Int
    /// Frames read from the records so far.
    public private(set) var frameCount = 0
    /// Bytes handed out so far.
    public private(set) var bytesProduced: UInt64 = 0
    /// Frame of the last record read.
    public private(set) var lastFrame: Int?

    /// The smallest chunk `nextChunk` returns, except the last.
    static let chunkBytes = 1 << 16

    private enum State { case start, frames, done, failed }
    private var state = State.start
    private let nextRecord: () throws -> FrameRecord?
    private let pending = ChunkBuffer()
    private var archive: ZipWriter?
    private var greyEncoder: MaskPNGEncoder?
    private var paletteEncoder: PalettePNGEncoder?
    private var images: [String] = []
    private var annotationCount = 0

    /// An export of the records `nextRecord` returns, in order, until it returns nil.
    /// - Throws: `ExportError.invalidArgument` for a frame size that is not positive.
    public init(format: MaskExportFormat, width: Int, height: Int, options: Options = Options(),
                nextRecord: @escaping () throws -> FrameRecord?) throws {
        guard width > 0, height > 0 else {
            throw ExportError.invalidArgument("the frame size of an export must be positive, got \(width)x\(height)")
        }
        self.format = format
        self.width = width
        self.height = height
        self.nextRecord = nextRecord
        switch format {
        case .jsonl, .coco:
            break
        case .png:
            greyEncoder = MaskPNGEncoder(compressionLevel: options.compressionLevel)
        case .palette:
            paletteEncoder = try PalettePNGEncoder(compressionLevel: options.compressionLevel)
        }
        if format == .png || format == .palette {
            let pending = self.pending
            archive = ZipWriter(options: options.zip) { pending.bytes.append(contentsOf: $0) }
        }
    }

    /// An export of `records` (a session's frames in memory, sorted by frame).
    public convenience init<Records: Sequence>(format: MaskExportFormat, width: Int, height: Int,
                                               options: Options = Options(), records: Records) throws
    where Records.Element == FrameRecord {
        var iterator = records.makeIterator()
        try self.init(format: format, width: width, height: height, options: options) { iterator.next() }
    }

    /// An export of the records `reader` reads (a job's masks.jsonl, or its partial file while the
    /// job runs: the frames done when the reader was opened).
    public convenience init(format: MaskExportFormat, width: Int, height: Int, options: Options = Options(),
                            reader: MaskJSONLReader) throws {
        try self.init(format: format, width: width, height: height, options: options) { try reader.next() }
    }

    // MARK: - The rule

    /// Refuses a record this export cannot hold: a negative frame, an object whose RLE is not
    /// `width` x `height`, an id that is not positive (or above 255 for `palette`), an id twice
    /// on one frame. `nextChunk` applies the same check to every record.
    /// - Throws: `ExportError.invalidArgument` naming the frame and object.
    public static func check(_ record: FrameRecord, format: MaskExportFormat, width: Int, height: Int) throws {
        guard record.frame >= 0 else { throw ExportError.invalidArgument("frame \(record.frame) is negative") }
        var seen = Set<Int>()
        for object in record.objects {
            let maximum = format == .palette ? 255 : Int.max
            guard (1...maximum).contains(object.id) else {
                throw ExportError.invalidArgument(format == .palette
                    ? "palette PNGs hold object ids 1...255, frame \(record.frame) has object \(object.id)"
                    : "object ids are positive, frame \(record.frame) has object \(object.id)")
            }
            guard seen.insert(object.id).inserted else {
                throw ExportError.invalidArgument("frame \(record.frame) lists object \(object.id) twice")
            }
            guard object.rle.width == width, object.rle.height == height else {
                throw ExportError.invalidArgument(
                    "object \(object.id) on frame \(record.frame) is \(object.rle.width)x\(object.rle.height), the frames are \(width)x\(height)")
            }
        }
    }

    // MARK: - Pulling

    /// The next bytes of the export (at least 64 KiB except the last chunk), or nil when it is
    /// complete. Concatenated, the chunks are the whole file.
    /// - Throws: what reading the records throws; `check`'s errors; `ExportError.invalidArgument`
    ///   for frames out of order; `.encodeFailed` naming the archive entry. After an error the
    ///   export is over (later calls throw).
    public func nextChunk() throws -> [UInt8]? {
        switch state {
        case .done: return nil
        case .failed: throw ExportError.invalidArgument("this \(format.rawValue) export already failed")
        case .start, .frames: break
        }
        do {
            if state == .start {
                if format == .coco { pending.append(COCOText.header) }
                state = .frames
            }
            while pending.bytes.count < Self.chunkBytes {
                guard let record = try nextRecord() else {
                    try finish()
                    state = .done
                    break
                }
                try add(record)
            }
        } catch {
            state = .failed
            pending.bytes = []
            throw error
        }
        let chunk = pending.take()
        if chunk.isEmpty { return nil }
        bytesProduced += UInt64(chunk.count)
        return chunk
    }

    /// Pulls every chunk into `output`, in order.
    public func write(to output: (UnsafeRawBufferPointer) throws -> Void) throws {
        while let chunk = try nextChunk() {
            try chunk.withUnsafeBytes { try output($0) }
        }
    }

    /// Pulls every chunk into `sink` (e.g. inside `AtomicFile.write(to:_:)`, so that the file
    /// appears complete or not at all).
    public func write(to sink: FileSink) throws {
        try write { try sink.write($0) }
    }

    /// The whole export in memory (tests, small exports).
    public func collect() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try write { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The chunks as an `AsyncStream` that pulls one chunk each time its consumer asks for the
    /// next element (an HTTP response body), each pull run inside `context` when given (the
    /// PNG encoders split objects and rows with `Parallel.forEach`). A failure ends the stream
    /// early (the body is cut short) after handing the error to `onError`. The export belongs to
    /// the stream from then on: do not pull it elsewhere.
    public func chunks(context: ComputeContext? = nil,
                       onError: @escaping @Sendable (Error) -> Void = { _ in }) -> AsyncStream<[UInt8]> {
        let puller = SerialPuller(self, context: context)
        return AsyncStream(unfolding: {
            do {
                return try puller.next()
            } catch {
                onError(error)
                return nil
            }
        })
    }

    // MARK: - Frames

    private func add(_ record: FrameRecord) throws {
        if let lastFrame, record.frame <= lastFrame {
            throw ExportError.invalidArgument("frame \(record.frame) comes after frame \(lastFrame): frames must increase")
        }
        try Self.check(record, format: format, width: width, height: height)
        switch format {
        case .jsonl:
            pending.append(record.jsonLine)
            pending.append("\n")
        case .coco:
            var text = ""
            for object in record.objects {
                annotationCount += 1
                text += annotationCount == 1 ? "\n" : ",\n"
                COCOText.appendAnnotation(id: annotationCount, frame: record.frame, object: object, to: &text)
            }
            pending.append(text)
            images.append(COCOText.image(frame: record.frame, width: width, height: height))
        case .png:
            let objects = Self.decode(record.objects)
            let names = objects.map { OutputLayout.maskPNG(in: "", id: $0.id, frame: record.frame) }
            let pngs = try greyEncoder!.encode(objects, names: names)
            for (name, png) in zip(names, pngs) { try archive!.add(name, contents: png) }
        case .palette:
            let name = OutputLayout.palettePNG(in: "", frame: record.frame)
            let png = try paletteEncoder!.encode(width: width, height: height, objects: Self.decode(record.objects), name: name)
            try archive!.add(name, contents: png)
        }
        lastFrame = record.frame
        frameCount += 1
    }

    private func finish() throws {
        switch format {
        case .jsonl:
            break
        case .coco:
            pending.append(COCOText.middle)
            for (i, image) in images.enumerated() { pending.append((i == 0 ? "\n" : ",\n") + image) }
            images = []
            pending.append(COCOText.trailer)
        case .png, .palette:
            try archive!.finish()
        }
    }

    /// The records' masks, decoded in parallel over objects.
    private static func decode(_ records: [MaskRecord]) -> [ObjectMask] {
        var masks = [BinaryMask?](repeating: nil, count: records.count)
        masks.withUnsafeMutableBufferPointer { buffer in
            let slots = buffer.baseAddress!
            Parallel.forEachObject(records.count) { i in slots[i] = records[i].rle.decoded() }
        }
        return zip(records, masks).map { ObjectMask(id: $0.id, score: $0.score, mask: $1!) }
    }
}

/// The bytes produced and not yet handed out (shared with the zip writer's output closure).
private final class ChunkBuffer {
    var bytes: [UInt8] = []

    func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}

/// Pulls an export's chunks one at a time from any task (the lock orders the pulls; the export
/// is reached only through it).
private final class SerialPuller: @unchecked Sendable {
    private let lock = NSLock()
    private let export: MaskExport
    private let context: ComputeContext?

    init(_ export: MaskExport, context: ComputeContext?) {
        self.export = export
        self.context = context
    }

    func next() throws -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        if let context { return try context.run { try export.nextChunk() } }
        return try export.nextChunk()
    }
}
