// MaskJSONLWriter: the `rle` output format, DIR/masks.jsonl, one `FrameRecord` line per frame.
//
// Crash safety. Lines go to DIR/masks.jsonl.partial, one write(2) per frame (no user-space
// buffering, so a finished frame is in the kernel when `append` returns; with `fsyncEachFrame` it is
// on disk). `finish()` syncs the file and renames it to DIR/masks.jsonl, so the final name only
// ever holds a complete file whose every line ends in "\n". A crash leaves the partial file, whose
// last line may be cut short.
//
// Resuming. `MaskJSONLWriter.resume(directory:continuingAt:)` reopens the partial file, drops an
// incomplete last line (no trailing "\n", or a last line that is not valid JSON), drops every line
// of frame >= the given frame (they will be tracked again, e.g. from a state saved before them),
// truncates the file there and appends after it. Every kept line must start with
// `{"frame": N` (N strictly increasing), otherwise the file is reported as malformed.

import FileIO
import Foundation
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes DIR/masks.jsonl frame by frame (see the file comment for crash safety and resuming).
/// Frames must be appended in strictly increasing order. Not thread-safe.
public final class MaskJSONLWriter {
    /// How the writer syncs and creates its directory.
    public struct Options: Sendable, Equatable {
        /// Create DIR (and its parents) when missing.
        public var createDirectory: Bool
        /// `fsync` after every frame (durable against power loss; costs a disk flush per frame).
        public var fsyncEachFrame: Bool

        public init(createDirectory: Bool = true, fsyncEachFrame: Bool = false) {
            self.createDirectory = createDirectory
            self.fsyncEachFrame = fsyncEachFrame
        }
    }


    /// DIR.
    public let directory: String
    /// DIR/masks.jsonl, present after `finish()`.
    public let path: String
    /// DIR/masks.jsonl.partial, the file being appended to.
    public let partialPath: String
    public let options: Options
    /// Frame of the last line in the file (appended or kept by `resume`), nil when empty.
    public private(set) var lastFrame: Int?
    /// Lines in the file.
    public private(set) var lineCount = 0
    /// Bytes `resume` cut off the end of the partial file (incomplete or re-tracked lines).
    public private(set) var discardedBytes = 0

    private let handle: DirectoryHandle
    private var fd: Int32 = -1
    private var size: off_t = 0
    private var finished = false

    /// Starts a new output: creates (or empties) DIR/masks.jsonl.partial. An existing
    /// DIR/masks.jsonl stays untouched until `finish()` replaces it.
    public convenience init(directory: String, options: Options = Options()) throws {
        try self.init(directory: directory, options: options, truncate: true)
    }

    /// Continues an interrupted output (see the file comment): the next appended frame must be
    /// greater than `lastFrame`, which is below `frame`.
    /// - Throws: `ExportError.nothingToResume` when DIR/masks.jsonl.partial does not exist;
    ///   `.malformedFile` when a kept line is not a masks.jsonl line; `FileError.symbolicLink` when
    ///   the partial file is a link (outputs are never written through links).
    public static func resume(directory: String, continuingAt frame: Int,
                              options: Options = Options()) throws -> MaskJSONLWriter {
        let writer = try MaskJSONLWriter(directory: directory, options: options, truncate: false)
        try writer.recover(continuingAt: frame)
        return writer
    }

    private init(directory: String, options: Options, truncate: Bool) throws {
        self.directory = directory
        self.options = options
        path = OutputLayout.masksJSONL(in: directory)
        partialPath = path + OutputLayout.partialSuffix
        let partialName = OutputLayout.masksJSONLName + OutputLayout.partialSuffix
        if truncate {
            handle = try DirectoryHandle.open(directory, create: options.createDirectory)
            fd = try handle.openFile(partialName, flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
        } else {
            handle = try DirectoryHandle.open(directory, create: false)
            guard handle.contains(partialName) else { throw ExportError.nothingToResume(path: partialPath) }
            fd = try handle.openFile(partialName, flags: O_RDWR | O_APPEND)
        }
    }

    /// Closes the descriptor. Without `finish()` the partial file stays for `resume`.
    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Appends one frame's line and hands it to the kernel (and the disk with `fsyncEachFrame`).
    /// If the write fails the file is cut back to the previous line and the error is thrown.
    public func append(_ record: FrameRecord) throws {
        guard !finished, fd >= 0 else {
            throw ExportError.invalidArgument("masks.jsonl writer for '\(directory)' is already finished")
        }
        if let lastFrame, record.frame <= lastFrame {
            throw ExportError.invalidArgument("frame \(record.frame) appended after frame \(lastFrame): frames must increase")
        }
        var line = record.jsonLine
        line += "\n"
        do {
            try line.withUTF8 { try writeFully(fd, UnsafeRawBufferPointer($0), path: partialPath) }
            if options.fsyncEachFrame, fsync(fd) != 0 {
                throw FileError.writeFailed(path: partialPath, reason: systemErrorText(errno), code: errno)
            }
        } catch {
            _ = ftruncate(fd, size)
            throw error
        }
        size += off_t(line.utf8.count)
        lastFrame = record.frame
        lineCount += 1
    }

    /// Encodes the objects' masks (in parallel over objects) and appends the frame.
    public func append(frame: Int, pts: Double?, objects: [ObjectMask]) throws {
        try append(FrameRecord(frame: frame, pts: pts, objects: Self.records(objects)))
    }

    /// Syncs the partial file to disk and renames it to DIR/masks.jsonl (replacing any older one).
    public func finish() throws {
        guard !finished else { return }
        guard fd >= 0 else { throw FileError.writeFailed(path: partialPath, reason: "the file is not open", code: EBADF) }
        if fsync(fd) != 0 {
            throw FileError.writeFailed(path: partialPath, reason: systemErrorText(errno), code: errno)
        }
        let closed = close(fd)
        fd = -1
        if closed != 0 { throw FileError.writeFailed(path: partialPath, reason: systemErrorText(errno), code: errno) }
        try handle.rename(OutputLayout.masksJSONLName + OutputLayout.partialSuffix, to: OutputLayout.masksJSONLName)
        handle.sync()
        finished = true
    }

    /// `MaskRecord`s of `objects`, RLE-encoded in parallel, in the given order.
    public static func records(_ objects: [ObjectMask]) -> [MaskRecord] {
        guard objects.count > 1 else { return objects.map(MaskRecord.init) }
        var results = [MaskRecord?](repeating: nil, count: objects.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let slots = buffer.baseAddress!
            Parallel.forEachObject(objects.count) { i in slots[i] = MaskRecord(objects[i]) }
        }
        return results.map { $0! }
    }

    // MARK: - Resume

    private func recover(continuingAt frame: Int) throws {
        let content = try readFully(fd, path: partialPath)
        var keptEnd = 0
        var lines: [(start: Int, end: Int, frame: Int)] = []
        try content.withUnsafeBufferPointer { bytes in
            var start = 0
            while start < bytes.count {
                guard let newline = bytes[start...].firstIndex(of: 0x0A) else { break }  // incomplete tail
                guard let lineFrame = Self.leadingFrame(bytes, from: start, to: newline) else {
                    // A cut-off line followed by nothing but garbage is a crash artefact only at the end.
                    if bytes[(newline + 1)...].contains(0x0A) {
                        throw ExportError.malformedFile(path: partialPath,
                                                        reason: "line \(lines.count + 1) does not start with {\"frame\": N")
                    }
                    break
                }
                if let previous = lines.last, lineFrame <= previous.frame {
                    throw ExportError.malformedFile(path: partialPath,
                                                    reason: "line \(lines.count + 1) has frame \(lineFrame) after frame \(previous.frame)")
                }
                if lineFrame >= frame { break }
                lines.append((start, newline + 1, lineFrame))
                start = newline + 1
            }
        }
        // The last kept line must be complete JSON; a crash can leave garbage that ends in "\n".
        if let last = lines.last {
            let text = String(decoding: content[last.start..<(last.end - 1)], as: UTF8.self)
            if (try? FrameRecord(jsonLine: text)) == nil { lines.removeLast() }
        }
        keptEnd = lines.last?.end ?? 0
        if ftruncate(fd, off_t(keptEnd)) != 0 {
            throw FileError.writeFailed(path: partialPath, reason: systemErrorText(errno), code: errno)
        }
        size = off_t(keptEnd)
        discardedBytes = content.count - keptEnd
        lineCount = lines.count
        lastFrame = lines.last?.frame
    }

    /// N from a line starting with `{"frame": N` (then `,` or `}`), else nil.
    private static func leadingFrame(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int? {
        let prefix = Array("{\"frame\": ".utf8)
        guard end - start > prefix.count, Array(bytes[start..<(start + prefix.count)]) == prefix else { return nil }
        var i = start + prefix.count
        var value = 0
        var digits = 0
        while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39, digits < 18 {
            value = value * 10 + Int(bytes[i] - 0x30)
            digits += 1
            i += 1
        }
        guard digits > 0, i < end, bytes[i] == 0x2C || bytes[i] == 0x7D else { return nil }
        return value
    }
}

extension Parallel {
    /// Runs `body(i)` for every i in 0..<count, one item per task (for few, large items).
    static func forEachObject(_ count: Int, _ body: (Int) -> Void) {
        forEach(count, grain: 1) { range in
            for i in range { body(i) }
        }
    }
}
