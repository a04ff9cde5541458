// MaskJSONLReader: the records of DIR/masks.jsonl, or of DIR/masks.jsonl.partial while a
// `MaskJSONLWriter` is still appending to it (a running job: "the frames done so far").
//
// Snapshot. The reader reads at most the file's length when it was opened, and only lines that
// end in "\n": the writer hands each frame's line to the kernel in one write(2), so a line without
// its newline is one being written (in a partial file) and is left for a later reader. In a
// finished masks.jsonl every line ends in "\n", and bytes after the last one mean damage. Lines
// are read in 64 KiB blocks: memory holds one line and one block, whatever the file's length.
// The file is opened relative to DIR's handle and never through a symbolic link (FileIO), and
// the open descriptor keeps reading the same file when the writer renames the partial into place.

import FileIO
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads masks.jsonl records one at a time (see the file comment). Not thread-safe.
public final class MaskJSONLReader {
    /// The file being read.
    public let path: String
    /// True when reading DIR/masks.jsonl.partial (the writer had not finished when opened).
    public let isPartial: Bool
    /// The file's length when opened: nothing after it is read.
    public let length: Int
    /// Records returned so far.
    public private(set) var recordCount = 0

    private var fd: Int32
    private var offset = 0
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` up to here hold no newline.
    private var scanned = 0
    private static let blockSize = 1 << 16

    /// Opens DIR/masks.jsonl, or DIR/masks.jsonl.partial when the writer has not finished.
    /// - Throws: `FileError.readFailed` (ENOENT) naming DIR/masks.jsonl when neither file
    ///   exists; `FileError.directoryNotFound`, `.symbolicLink`.
    public init(directory: String) throws {
        let handle = try DirectoryHandle.open(directory, create: false)
        let final = OutputLayout.masksJSONLName
        let partial = final + OutputLayout.partialSuffix
        // The writer may rename the partial file between two opens: try the final name again.
        var opened: (fd: Int32, partial: Bool)?
        for (name, isPartial) in [(final, false), (partial, true), (final, false)] {
            do {
                opened = (try handle.openFile(name, flags: O_RDONLY), isPartial)
                break
            } catch let error as FileError {
                guard case let .readFailed(_, _, code) = error, code == ENOENT else { throw error }
            }
        }
        guard let opened else {
            let path = OutputLayout.masksJSONL(in: directory)
            throw FileError.readFailed(path: path, reason: "neither it nor its .partial file exists (no frames were written)", code: ENOENT)
        }
        let name = opened.partial ? partial : final
        var info = stat()
        guard fstat(opened.fd, &info) == 0 else {
            let code = errno
            _ = close(opened.fd)
            throw FileError.readFailed(path: handle.child(name), reason: systemErrorText(code), code: code)
        }
        fd = opened.fd
        isPartial = opened.partial
        path = handle.child(name)
        length = Int(info.st_size)
    }

    deinit {
        if fd >= 0 { _ = close(fd) }
    }

    /// The next record, or nil after the last complete line.
    /// - Throws: `ExportError.malformedFile` naming the line for a line that is not a masks.jsonl
    ///   line (or a cut-off last line of a finished file); `FileError.readFailed`.
    public func next() throws -> FrameRecord? {
        while true {
            if let newline = buffer[max(start, scanned)...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                scanned = start
                do {
                    let record = try FrameRecord(jsonLine: line)
                    recordCount += 1
                    return record
                } catch let error as ExportError {
                    throw ExportError.malformedFile(path: path, reason: "line \(recordCount + 1): \(error)")
                }
            }
            scanned = buffer.count
            guard offset < length else {
                if !isPartial, start < buffer.count {
                    throw ExportError.malformedFile(path: path, reason: "line \(recordCount + 1) is cut short (no newline at the end of the file)")
                }
                return nil
            }
            try readBlock()
        }
    }

    /// Moves the unread bytes to the front and appends the next block (up to `length`).
    private func readBlock() throws {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
        let want = min(Self.blockSize, length - offset)
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: want))
        var got = 0
        while got < want {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + old + got, want - got, off_t(offset + got)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.readFailed(path: path, reason: systemErrorText(errno), code: errno)
            }
            if n == 0 { break }  // cut shorter since it was opened (a resumed writer): stop there
            got += n
        }
        buffer.removeSubrange((old + got)...)
        offset += got
        if got < want { offset = length }
    }
}
