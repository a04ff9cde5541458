// ZipWriter: a ZIP archive of stored (uncompressed) entries, written front to back to any byte
// output: a `FileSink` (an atomic file), a file descriptor, or a closure that collects chunks (the
// daemon's streamed response bodies through Export's `MaskExport`; the bytes of a PyTorch
// checkpoint, Checkpoint's `TorchCheckpointWriter`). PNGs are compressed already, so entries are
// stored (method 0), which lets each local header carry the final CRC-32 and sizes: no data
// descriptors, nothing is ever sought back to, and every reader (`unzip`, Python's `zipfile`,
// streaming unzippers that read local headers only) sees complete headers.
//
// Layout (PKWARE APPNOTE 6.3, sections 4.3 and 4.5), all integers little-endian:
//
//   per entry   local file header (30 bytes + name [+ ZIP64 extra of 20 bytes]), then the bytes
//   at the end  central directory: one header per entry (46 bytes + name [+ ZIP64 extra])
//               [ZIP64 end of central directory record (56 bytes) and its locator (20 bytes)]
//               end of central directory record (22 bytes, no comment)
//
// Alignment (`Options.alignment`, for PyTorch's zip checkpoints, whose readers map tensor data in
// place): each entry's data starts at a multiple of the alignment, padded by an extra field of
// PyTorch's kind in the local header (id 0x4246 "FB", the padding bytes 'Z'); the central header
// does not repeat it.
//
// Fields: version needed 1.0 (4.5 for an entry with ZIP64 fields), general purpose flag bit 11
// (names are UTF-8), method 0, DOS time and date of `Options.modified` in `Options.timeZone`
// (1980-01-01 00:00 before 1980, 2107-12-31 23:59:58 after 2107; seconds rounded down to even),
// CRC-32 (FileIO's), version made by 4.5 on UNIX (3) with external attributes of a regular file,
// mode 0644.
//
// ZIP64, only where a field would overflow: an entry of 0xFFFFFFFF bytes or more gets 0xFFFFFFFF
// in both size fields and a ZIP64 extra field (0x0001) with both 8-byte sizes, in its local and
// central header; an entry whose local header starts at offset 0xFFFFFFFF or later gets
// 0xFFFFFFFF as its central offset and the 8-byte offset in the central extra field; an archive of
// 0xFFFF entries or more, or whose central directory is that large or starts that late, gets the
// ZIP64 end record and locator, with 0xFFFF / 0xFFFFFFFF in the end record's fields that overflow.
// An archive under all these limits is a plain zip any reader opens.
//
// Memory: one central directory header per entry is kept until `finish()` (46 bytes + the name
// + up to 28 bytes of ZIP64 fields): about 60 bytes an entry for `<id>/<frame>.png` names.

import Foundation

/// A ZipWriter call that cannot be honoured: a bad entry name, a finished or failed archive.
public struct ZipWriterError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a ZIP archive of stored entries, front to back, to a byte output (see the file comment).
/// Not thread-safe.
public final class ZipWriter {
    /// How entries are stamped.
    public struct Options: Sendable {
        /// Modification time of every entry (DOS time has a 2-second resolution and no time zone).
        public var modified: Date
        /// The zone `modified` is written in (zip readers show DOS times as local times).
        public var timeZone: TimeZone
        /// Values from this one up are written as 0xFFFFFFFF plus a ZIP64 field; the format's
        /// limit by default. Tests lower it to exercise ZIP64 on small archives.
        var zip64Threshold: UInt64 = 0xFFFF_FFFF
        /// Entry counts from this one up get the ZIP64 end record; 0xFFFF by default.
        var zip64EntryThreshold: UInt64 = 0xFFFF
        /// Each entry's data starts at a multiple of this many bytes (1: packed; PyTorch uses 64).
        public var alignment: Int

        public init(modified: Date = Date(), timeZone: TimeZone = .current, alignment: Int = 1) {
            precondition(alignment >= 1 && alignment <= 0x8000, "zip alignment must be 1...32768")
            self.modified = modified
            self.timeZone = timeZone
            self.alignment = alignment
        }
    }

    /// Receives the archive's bytes in order; may throw to stop the archive.
    public typealias Output = (UnsafeRawBufferPointer) throws -> Void

    public let options: Options
    /// Entries added so far.
    public private(set) var entryCount = 0
    /// Bytes handed to the output so far.
    public private(set) var bytesWritten: UInt64 = 0
    /// True after `finish()`.
    public private(set) var isFinished = false

    private let output: Output
    private let dosTime: UInt16
    private let dosDate: UInt16
    private var central: [UInt8] = []
    private var names = Set<String>()
    private var failed = false
    private var scratch: [UInt8] = []

    /// An archive written through `output`.
    public init(options: Options = Options(), output: @escaping Output) {
        self.options = options
        self.output = output
        (dosTime, dosDate) = Self.dosDateTime(options.modified, in: options.timeZone)
    }

    /// An archive written into `sink` (e.g. the sink `AtomicFile.write(to:_:)` hands out).
    public convenience init(sink: FileSink, options: Options = Options()) {
        self.init(options: options) { try sink.write($0) }
    }

    /// An archive written to the open file descriptor `descriptor` (short writes and EINTR are
    /// retried; errors name `path`). The descriptor stays open.
    public convenience init(descriptor: Int32, path: String, options: Options = Options()) {
        self.init(options: options) { try writeFully(descriptor, $0, path: path) }
    }

    /// The bytes of an archive holding `entries`, in order.
    public static func archive(_ entries: [(name: String, contents: [UInt8])], options: Options = Options()) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let writer = ZipWriter(options: options) { bytes.append(contentsOf: $0) }
        for entry in entries { try writer.add(entry.name, contents: entry.contents) }
        try writer.finish()
        return bytes
    }

    // MARK: - Entries

    /// Appends the entry `name` holding `contents`.
    /// - Throws: `ZipWriterError` for a name that is empty, longer than 65,535 UTF-8
    ///   bytes, absolute, has an empty, `.` or `..` component, a backslash or a NUL, or repeats an
    ///   earlier entry's; after `finish()` or a failed write. Errors of the output as they are.
    public func add(_ name: String, contents: UnsafeRawBufferPointer) throws {
        try checkOpen()
        try Self.checkName(name)
        guard !names.contains(name) else { throw ZipWriterError("zip entry '\(name)' is already in the archive") }
        let nameBytes = Array(name.utf8)
        let size = UInt64(contents.count)
        let offset = bytesWritten
        let crc = CRC32.checksum(contents)
        let threshold = options.zip64Threshold
        let bigSize = size >= threshold, bigOffset = offset >= threshold
        let headerLength = 30 + nameBytes.count + (bigSize ? 20 : 0)
        let padding = options.alignment > 1 ? Self.paddingRecord(after: offset + UInt64(headerLength), alignment: options.alignment) : 0

        // Local file header.
        scratch.removeAll(keepingCapacity: true)
        scratch.reserveCapacity(headerLength + padding)
        scratch.appendLE(UInt32(0x0403_4B50))
        scratch.appendLE(UInt16(bigSize ? 45 : 10))           // version needed to extract
        scratch.appendLE(Self.utf8Flag)
        scratch.appendLE(UInt16(0))                           // method: stored
        scratch.appendLE(dosTime)
        scratch.appendLE(dosDate)
        scratch.appendLE(crc)
        scratch.appendLE(bigSize ? UInt32.max : UInt32(size))  // compressed size
        scratch.appendLE(bigSize ? UInt32.max : UInt32(size))  // uncompressed size
        scratch.appendLE(UInt16(nameBytes.count))
        scratch.appendLE(UInt16((bigSize ? 20 : 0) + padding)) // extra field length
        scratch.append(contentsOf: nameBytes)
        if bigSize {
            scratch.appendLE(UInt16(0x0001))
            scratch.appendLE(UInt16(16))
            scratch.appendLE(size)                            // original size
            scratch.appendLE(size)                            // compressed size
        }
        if padding > 0 {
            scratch.appendLE(UInt16(0x4246))                  // "FB": PyTorch's padding record
            scratch.appendLE(UInt16(padding - 4))
            scratch.append(contentsOf: repeatElement(UInt8(ascii: "Z"), count: padding - 4))
        }
        try emit(scratch)
        try emit(contents)

        // Its central directory header, kept for `finish()`.
        let extraLength = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0)
        central.appendLE(UInt32(0x0201_4B50))
        central.appendLE(Self.versionMadeBy)
        central.appendLE(UInt16(bigSize || bigOffset ? 45 : 10))
        central.appendLE(Self.utf8Flag)
        central.appendLE(UInt16(0))
        central.appendLE(dosTime)
        central.appendLE(dosDate)
        central.appendLE(crc)
        central.appendLE(bigSize ? UInt32.max : UInt32(size))
        central.appendLE(bigSize ? UInt32.max : UInt32(size))
        central.appendLE(UInt16(nameBytes.count))
        central.appendLE(UInt16(extraLength > 0 ? 4 + extraLength : 0))
        central.appendLE(UInt16(0))                           // comment length
        central.appendLE(UInt16(0))                           // disk number start
        central.appendLE(UInt16(0))                           // internal attributes: binary
        central.appendLE(Self.regularFileAttributes)
        central.appendLE(bigOffset ? UInt32.max : UInt32(offset))
        central.append(contentsOf: nameBytes)
        if extraLength > 0 {
            central.appendLE(UInt16(0x0001))
            central.appendLE(UInt16(extraLength))
            if bigSize {
                central.appendLE(size)
                central.appendLE(size)
            }
            if bigOffset { central.appendLE(offset) }
        }
        names.insert(name)
        entryCount += 1
    }

    /// Appends the entry `name` holding `contents`.
    public func add(_ name: String, contents: [UInt8]) throws {
        try contents.withUnsafeBytes { try add(name, contents: $0) }
    }

    /// Writes the central directory and the end records. The archive is complete when this
    /// returns; later calls do nothing.
    public func finish() throws {
        if isFinished { return }
        try checkOpen()
        let directoryOffset = bytesWritten
        let directorySize = UInt64(central.count)
        let count = UInt64(entryCount)
        try emit(central)
        central = []
        names = []
        let zip64 = count >= options.zip64EntryThreshold || directorySize >= options.zip64Threshold
            || directoryOffset >= options.zip64Threshold
        var end: [UInt8] = []
        if zip64 {
            let recordOffset = bytesWritten
            end.appendLE(UInt32(0x0606_4B50))                 // ZIP64 end of central directory record
            end.appendLE(UInt64(44))                          // size of the rest of the record
            end.appendLE(Self.versionMadeBy)
            end.appendLE(UInt16(45))
            end.appendLE(UInt32(0))                           // this disk
            end.appendLE(UInt32(0))                           // disk where the directory starts
            end.appendLE(count)                               // entries on this disk
            end.appendLE(count)                               // entries in total
            end.appendLE(directorySize)
            end.appendLE(directoryOffset)
            end.appendLE(UInt32(0x0706_4B50))                 // its locator
            end.appendLE(UInt32(0))                           // disk of the ZIP64 end record
            end.appendLE(recordOffset)
            end.appendLE(UInt32(1))                           // disks in total
        }
        let entries16 = count >= options.zip64EntryThreshold ? UInt16.max : UInt16(count)
        end.appendLE(UInt32(0x0605_4B50))                     // end of central directory record
        end.appendLE(UInt16(0))
        end.appendLE(UInt16(0))
        end.appendLE(entries16)
        end.appendLE(entries16)
        end.appendLE(directorySize >= options.zip64Threshold ? UInt32.max : UInt32(directorySize))
        end.appendLE(directoryOffset >= options.zip64Threshold ? UInt32.max : UInt32(directoryOffset))
        end.appendLE(UInt16(0))                               // comment length
        try emit(end)
        isFinished = true
    }

    // MARK: - Helpers

    /// General purpose flag bit 11: names are UTF-8.
    private static let utf8Flag: UInt16 = 0x0800
    /// Made by a UNIX (3) tool implementing APPNOTE 4.5.
    private static let versionMadeBy: UInt16 = 3 << 8 | 45
    /// A regular file, rw-r--r-- (the UNIX mode in the high 16 bits).
    private static let regularFileAttributes: UInt32 = 0o100644 << 16

    /// Bytes of the padding extra field (its 4-byte header included; 0 when none is needed) that
    /// make data following a local header ending at `end` start at a multiple of `alignment`.
    static func paddingRecord(after end: UInt64, alignment: Int) -> Int {
        let a = UInt64(alignment)
        var gap = Int((a - end % a) % a)
        guard gap > 0 else { return 0 }
        while gap < 4 { gap += alignment }  // a record needs 4 bytes of header
        return gap
    }

    private func checkOpen() throws {
        guard !isFinished else { throw ZipWriterError("the zip archive is already finished") }
        guard !failed else { throw ZipWriterError("the zip archive is incomplete: an earlier write failed") }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        do {
            try output(bytes)
        } catch {
            failed = true
            throw error
        }
        bytesWritten += UInt64(bytes.count)
    }

    /// Refuses names that are not safe relative paths of a file (see `add`).
    static func checkName(_ name: String) throws {
        let length = name.utf8.count
        guard length > 0, length <= 0xFFFF else {
            throw ZipWriterError("zip entry names have 1 to 65,535 UTF-8 bytes, got \(length)")
        }
        guard !name.utf8.contains(0), !name.contains("\\") else {
            throw ZipWriterError("zip entry name '\(name)' contains a NUL or a backslash")
        }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw ZipWriterError("zip entry name '\(name)' is not a relative file path (empty, '.' or '..' component)")
        }
    }

    /// (time, date) in MS-DOS format: time = hour << 11 | minute << 5 | second / 2,
    /// date = (year - 1980) << 9 | month << 5 | day; clamped to 1980...2107.
    static func dosDateTime(_ date: Date, in zone: TimeZone) -> (time: UInt16, date: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = parts.year ?? 1980
        if year < 1980 { return (0, 1 << 5 | 1) }
        if year > 2107 { return (23 << 11 | 59 << 5 | 29, 127 << 9 | 12 << 5 | 31) }
        let time = (parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2
        let day = (year - 1980) << 9 | (parts.month ?? 1) << 5 | (parts.day ?? 1)
        return (UInt16(time), UInt16(day))
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order.
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { append(contentsOf: $0) }
    }
}
