// ZipArchive: the directory of a zip file as `torch.save` writes it (PyTorch >= 1.6): entries
// STORED (uncompressed) and aligned, sizes in the central directory (local headers carry zeros
// and a data descriptor), ZIP64 records when the file or an entry passes 4 GiB.
//
// Only the end-of-central-directory records, the central directory and each local header's
// fixed part are read; entry data stays in the mapping until a caller asks for it.
//
// Record layouts (all little-endian; sizes in bytes):
//   end of central directory (EOCD)   22 + comment   signature 0x06054b50, at the end of the file
//   ZIP64 EOCD locator                20             signature 0x07064b50, just before the EOCD
//   ZIP64 EOCD record                 56 + ext.      signature 0x06064b50, where the locator says
//   central directory file header     46 + n + x + c signature 0x02014b50, one per entry
//   local file header                 30 + n + x     signature 0x04034b50, just before the data
//   ZIP64 extended information        extra field 0x0001: the 8-byte values of the 32-bit fields
//                                     that hold 0xFFFFFFFF (uncompressed size, compressed size,
//                                     local header offset), in that order
//
// What is checked: signatures; the EOCD and ZIP64 records' directory location, size and entry
// count against the file; each central header's sizes and offset (ZIP64-resolved) against the file;
// each local header's signature, name (equal to the central one) and compression method; and, by
// `checksums(of:)`, every entry's stored bytes against its central CRC-32. Never read, so damage
// there is harmless: version and time/date fields, the local header's CRC and size fields (zeros
// when a data descriptor follows), extra-field contents other than ZIP64 values (torch pads with
// an "FB" field), data descriptors, file attributes, entry and archive comments.

import FileIO
import Tensor

/// The entries of a zip archive held in a `MappedFile`, with the location of each entry's data.
/// Reading entry data returns a view into the mapping; nothing is copied.
public struct ZipArchive: Sendable {
    /// One file in the archive, as described by the central directory.
    public struct Entry: Sendable, Equatable {
        /// Path inside the archive, e.g. "sam2.1_hiera_tiny/data/17".
        public let name: String
        /// Compression method (0 stored, 8 deflate).
        public let method: UInt16
        /// General-purpose flags (bit 0: encrypted).
        public let flags: UInt16
        /// CRC-32 of the uncompressed data.
        public let crc32: UInt32
        /// Size of the data as stored in the file.
        public let compressedSize: Int
        /// Size of the data once decompressed (equal to `compressedSize` for stored entries).
        public let uncompressedSize: Int
        /// Offset of the entry's local file header.
        public let localHeaderOffset: Int
        /// Offset of the entry's first data byte.
        public let dataOffset: Int

        /// Byte range of the stored data in the file (may extend past the end of a truncated file).
        public var dataRange: Range<Int> { dataOffset..<(dataOffset + compressedSize) }
        /// True when the data is stored uncompressed and unencrypted, as torch writes it.
        public var isStoredPlain: Bool { method == 0 && flags & 1 == 0 }
    }

    /// The mapped file.
    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let indexByName: [String: Int]

    /// Reads the directory of `file`. Throws `CheckpointError.corrupt` naming the file when the
    /// zip structure is missing (truncated file, not a zip) or inconsistent.
    public init(file: MappedFile) throws {
        self.file = file
        let directory = try Self.locateCentralDirectory(in: file)
        entries = try Self.readCentralDirectory(directory, in: file)
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() where index[entry.name] == nil {
            index[entry.name] = position
        }
        indexByName = index
    }

    /// The entry called `name`, or nil.
    public func entry(named name: String) -> Entry? {
        indexByName[name].map { entries[$0] }
    }

    /// The stored bytes of `entry`, borrowed from the mapping. Throws `unsupportedFeature` for a
    /// compressed or encrypted entry and `corrupt` when its data runs past the end of the file.
    public func contents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.flags & 1 == 0 else {
            throw CheckpointError.unsupportedFeature(
                path: file.path, reason: "zip entry '\(entry.name)' is encrypted")
        }
        guard entry.method == 0 else {
            let method = entry.method == 8 ? "deflate" : "method \(entry.method)"
            throw CheckpointError.unsupportedFeature(
                path: file.path,
                reason: "zip entry '\(entry.name)' is compressed (\(method)); torch.save stores entries uncompressed, so re-save the checkpoint with torch.save or re-zip it without compression (zip -0)")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw CheckpointError.corrupt(
                path: file.path,
                reason: "stored zip entry '\(entry.name)' declares \(entry.compressedSize) stored but \(entry.uncompressedSize) uncompressed bytes")
        }
        guard let bytes = file.bytes(entry.dataRange) else {
            throw CheckpointError.corrupt(
                path: file.path,
                reason: "zip entry '\(entry.name)' ends at byte \(entry.dataRange.upperBound) but the file has \(file.size) bytes (truncated?)")
        }
        return bytes
    }

    /// Contents of `entry` after checking its CRC-32 (reads every byte).
    public func verifiedContents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        let bytes = try contents(of: entry)
        let actual = CRC32.checksum(bytes)
        guard actual == entry.crc32 else {
            throw CheckpointError.checksumMismatch(path: file.path, entry: entry.name, tensors: [],
                                                   expected: entry.crc32, actual: actual)
        }
        return bytes
    }

    /// The CRC-32 of each of `entries`' stored bytes, computed straight from the mapping in pieces
    /// of at most `CRC32.pieceSize` bytes spread over the project's thread pool and joined with
    /// `CRC32.combine`. Throws like `contents(of:)` for an entry that is compressed, encrypted or
    /// runs past the end of the file.
    public func checksums(of entries: [Entry]) throws -> [UInt32] {
        let contents = try entries.map { try self.contents(of: $0) }
        var pieces: [(entry: Int, start: Int, count: Int)] = []
        for (index, bytes) in contents.enumerated() {
            var start = 0
            repeat {
                let count = min(CRC32.pieceSize, bytes.count - start)
                pieces.append((index, start, count))
                start += count
            } while start < bytes.count
        }
        var pieceCRCs = [UInt32](repeating: 0, count: pieces.count)
        pieceCRCs.withUnsafeMutableBufferPointer { out in
            let results = out.baseAddress!
            Parallel.forEach(pieces.count) { range in
                for index in range {
                    let piece = pieces[index]
                    let bytes = contents[piece.entry]
                    results[index] = piece.count == 0 ? 0
                        : CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[piece.start..<(piece.start + piece.count)]))
                }
            }
        }
        var crcs = [UInt32](repeating: 0, count: entries.count)
        var seen = Set<Int>()
        for (index, piece) in pieces.enumerated() {
            if seen.insert(piece.entry).inserted {
                crcs[piece.entry] = pieceCRCs[index]
            } else {
                crcs[piece.entry] = CRC32.combine(crcs[piece.entry], pieceCRCs[index], length: piece.count)
            }
        }
        return crcs
    }

    // MARK: - Directory records

    private struct DirectoryLocation {
        var offset: Int
        var size: Int
        var entryCount: Int
    }

    private static func corrupt(_ file: MappedFile, _ reason: String) -> CheckpointError {
        .corrupt(path: file.path, reason: reason)
    }

    /// Finds the EOCD (searching back over a possible comment) and, when present, the ZIP64 EOCD.
    private static func locateCentralDirectory(in file: MappedFile) throws -> DirectoryLocation {
        let eocdSize = 22
        guard file.size >= eocdSize else {
            throw corrupt(file, "the file is \(file.size) bytes, too short for a zip archive (truncated?)")
        }
        let searchStart = max(0, file.size - eocdSize - 0xFFFF)
        guard let tail = file.bytes(searchStart..<file.size) else {
            throw corrupt(file, "cannot read the end of the file")
        }
        var found: Int?
        var candidate = tail.count - eocdSize
        while candidate >= 0 {
            var cursor = ByteCursor(tail, position: candidate)
            if cursor.u32() == 0x0605_4B50, cursor.skip(16), let commentLength = cursor.u16(),
               candidate + eocdSize + Int(commentLength) <= tail.count {
                found = candidate
                break
            }
            candidate -= 1
        }
        guard let eocdInTail = found else {
            throw corrupt(file, "no zip end-of-central-directory record; the file is truncated or not a zip archive")
        }
        let eocd = searchStart + eocdInTail
        var cursor = ByteCursor(tail, position: eocdInTail + 4)
        guard let disk = cursor.u16(), let directoryDisk = cursor.u16(), cursor.skip(2),
              let count16 = cursor.u16(), let size32 = cursor.u32(), let offset32 = cursor.u32() else {
            throw corrupt(file, "unreadable end-of-central-directory record")
        }
        guard disk == 0 || disk == 0xFFFF, directoryDisk == 0 || directoryDisk == 0xFFFF else {
            throw CheckpointError.unsupportedFeature(path: file.path, reason: "multi-volume zip archives are not supported")
        }
        if let zip64 = try readZip64Location(in: file, eocd: eocd) {
            return zip64
        }
        guard count16 != 0xFFFF, size32 != 0xFFFF_FFFF, offset32 != 0xFFFF_FFFF else {
            throw corrupt(file, "the end-of-central-directory record defers to a ZIP64 record that is missing")
        }
        return try validated(DirectoryLocation(offset: Int(offset32), size: Int(size32), entryCount: Int(count16)), eocd: eocd, in: file)
    }

    /// The ZIP64 central-directory location, when a ZIP64 locator precedes the EOCD.
    private static func readZip64Location(in file: MappedFile, eocd: Int) throws -> DirectoryLocation? {
        guard eocd >= 20, let locatorBytes = file.bytes((eocd - 20)..<eocd) else { return nil }
        var locator = ByteCursor(locatorBytes)
        guard locator.u32() == 0x0706_4B50 else { return nil }
        guard locator.skip(4), let recordOffset64 = locator.u64(),
              let recordOffset = Int(exactly: recordOffset64), recordOffset <= eocd - 20 - 56,
              let recordBytes = file.bytes(recordOffset..<(recordOffset + 56)) else {
            throw corrupt(file, "the ZIP64 end-of-central-directory locator points outside the file")
        }
        var record = ByteCursor(recordBytes)
        guard record.u32() == 0x0606_4B50 else {
            throw corrupt(file, "no ZIP64 end-of-central-directory record where the locator points (byte \(recordOffset))")
        }
        guard record.skip(8 + 2 + 2 + 4 + 4 + 8), let count = record.u64(), let size = record.u64(),
              let offset = record.u64(), let count = Int(exactly: count), let size = Int(exactly: size),
              let offset = Int(exactly: offset) else {
            throw corrupt(file, "unreadable ZIP64 end-of-central-directory record")
        }
        return try validated(DirectoryLocation(offset: offset, size: size, entryCount: count), eocd: recordOffset, in: file)
    }

    private static func validated(_ location: DirectoryLocation, eocd: Int, in file: MappedFile) throws -> DirectoryLocation {
        guard location.offset <= eocd, location.size <= eocd - location.offset else {
            throw corrupt(file, "the central directory (\(location.size) bytes at \(location.offset)) does not fit before its end record at \(eocd)")
        }
        guard location.entryCount <= location.size / 46 else {
            throw corrupt(file, "the central directory claims \(location.entryCount) entries but has room for \(location.size / 46)")
        }
        return location
    }

    /// Parses every central-directory header and the fixed part of each local header.
    private static func readCentralDirectory(_ location: DirectoryLocation, in file: MappedFile) throws -> [Entry] {
        guard let directory = file.bytes(location.offset..<(location.offset + location.size)) else {
            throw corrupt(file, "the central directory lies outside the file")
        }
        var cursor = ByteCursor(directory)
        var entries: [Entry] = []
        entries.reserveCapacity(location.entryCount)
        for number in 0..<location.entryCount {
            guard cursor.u32() == 0x0201_4B50 else {
                throw corrupt(file, "central directory header \(number) has a bad signature")
            }
            guard cursor.skip(4), let flags = cursor.u16(), let method = cursor.u16(), cursor.skip(4),
                  let crc = cursor.u32(), let compressed32 = cursor.u32(), let uncompressed32 = cursor.u32(),
                  let nameLength = cursor.u16(), let extraLength = cursor.u16(), let commentLength = cursor.u16(),
                  cursor.skip(8), let offset32 = cursor.u32(),
                  let nameBytes = cursor.bytes(Int(nameLength)), let extra = cursor.bytes(Int(extraLength)),
                  cursor.skip(Int(commentLength)) else {
                throw corrupt(file, "central directory header \(number) is cut short")
            }
            let name = nameBytes.utf8String
            var zip64 = Zip64Fields(extra: extra)
            guard let uncompressed = zip64.resolve(uncompressed32), let compressed = zip64.resolve(compressed32),
                  let localOffset = zip64.resolve(offset32) else {
                throw corrupt(file, "zip entry '\(name)' lacks the ZIP64 sizes its header refers to")
            }
            guard compressed <= file.size, uncompressed <= Int.max / 2, localOffset <= file.size else {
                throw corrupt(file, "zip entry '\(name)' has an impossible size or offset")
            }
            let dataOffset = try localDataOffset(of: nameBytes, method: method, at: localOffset, in: file)
            entries.append(Entry(name: name, method: method, flags: flags, crc32: crc,
                                 compressedSize: compressed, uncompressedSize: uncompressed,
                                 localHeaderOffset: localOffset, dataOffset: dataOffset))
        }
        return entries
    }

    /// Offset of the data that follows the local header at `offset`, after checking that the
    /// header repeats the central directory's name and compression method.
    private static func localDataOffset(of name: UnsafeRawBufferPointer, method: UInt16, at offset: Int,
                                        in file: MappedFile) throws -> Int {
        let shown = name.utf8String
        guard let header = file.bytes(offset..<(offset + 30)) else {
            throw corrupt(file, "the local header of zip entry '\(shown)' at byte \(offset) lies outside the file")
        }
        var cursor = ByteCursor(header)
        guard cursor.u32() == 0x0403_4B50 else {
            throw corrupt(file, "zip entry '\(shown)' has no local header at byte \(offset)")
        }
        guard cursor.skip(4), let localMethod = cursor.u16(), cursor.skip(16),
              let nameLength = cursor.u16(), let extraLength = cursor.u16() else {
            throw corrupt(file, "the local header of zip entry '\(shown)' is cut short")
        }
        let nameStart = offset + 30
        guard Int(nameLength) == name.count, let localName = file.bytes(nameStart..<(nameStart + name.count)),
              localName.elementsEqual(name) else {
            throw corrupt(file, "the local header of zip entry '\(shown)' at byte \(offset) names another entry")
        }
        guard localMethod == method else {
            throw corrupt(file, "zip entry '\(shown)' has compression method \(localMethod) in its local header but \(method) in the central directory")
        }
        return nameStart + Int(nameLength) + Int(extraLength)
    }
}

/// The ZIP64 extended-information extra field: 8-byte values consumed in order for each 32-bit
/// header field that holds 0xFFFFFFFF.
private struct Zip64Fields {
    private var values: ByteCursor?

    init(extra: UnsafeRawBufferPointer) {
        var cursor = ByteCursor(extra)
        while let id = cursor.u16(), let length = cursor.u16(), let body = cursor.bytes(Int(length)) {
            if id == 0x0001 {
                values = ByteCursor(body)
                return
            }
        }
    }

    /// `value32` itself, or the next ZIP64 value when it is the 0xFFFFFFFF marker; nil when that
    /// value is missing or does not fit in Int.
    mutating func resolve(_ value32: UInt32) -> Int? {
        guard value32 == 0xFFFF_FFFF else { return Int(value32) }
        guard var cursor = values, let wide = cursor.u64() else { return nil }
        values = cursor
        return Int(exactly: wide)
    }
}

