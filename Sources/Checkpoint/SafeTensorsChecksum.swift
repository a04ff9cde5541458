// SafeTensorsChecksum: the CRC-32 samtrack stores inside the safetensors files it writes.
//
// The safetensors format has no checksum. samtrack's writer puts one in the header's metadata,
// `"__metadata__": {..., "samtrack.crc32": "<8 lowercase hex digits>"}`, covering every byte of
// the file: the CRC-32 (zip's) of the whole file as written, with the eight digits of the value
// itself read as "00000000". The writer serialises the header with the placeholder, checksums the
// file and overwrites the placeholder (same length, so no offset moves); the reader finds the one
// occurrence of `"samtrack.crc32":"` + digits + `"` in the header bytes and recomputes.
//
// CRC-32 detects every burst of up to 32 damaged bits and all but 1 in 2^32 other damage; it is
// a guard against torn writes, bad disks and stray edits, not against someone forging a file
// (whoever can write the file can also recompute the checksum).

import FileIO

/// The CRC-32 of samtrack's safetensors files (see the file comment for the exact definition).
public enum SafeTensorsChecksum {
    /// The metadata key holding the checksum.
    public static let metadataKey = "samtrack.crc32"
    /// The value written before the checksum is known.
    static let placeholder = "00000000"

    /// The bytes `"samtrack.crc32":"` that precede the digits in a compact JSON header.
    private static let prefix = Array("\"\(metadataKey)\":\"".utf8)

    /// Offsets in `header` of the first digit of every `"samtrack.crc32":"XXXXXXXX"` occurrence.
    static func digitOffsets(in header: UnsafeRawBufferPointer) -> [Int] {
        var found: [Int] = []
        let length = prefix.count + 8 + 1
        guard header.count >= length else { return [] }
        for start in 0...(header.count - length) where header[start] == prefix[0] {
            var matches = true
            for (i, byte) in prefix.enumerated() where header[start + i] != byte {
                matches = false
                break
            }
            if matches, header[start + prefix.count + 8] == UInt8(ascii: "\"") {
                found.append(start + prefix.count)
            }
        }
        return found
    }

    /// The CRC-32 of `file` with the 8 bytes at `digits` (absolute offset) read as "00000000".
    static func crc(of file: UnsafeRawBufferPointer, digitsAt digits: Int) -> UInt32 {
        let zeros = Array(placeholder.utf8)
        var crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: file[0..<digits]))
        crc = zeros.withUnsafeBytes { CRC32.update(crc, $0) }
        let tail = UnsafeRawBufferPointer(rebasing: file[(digits + 8)...])
        return CRC32.combine(crc, CRC32.parallelChecksum(tail), length: tail.count)
    }

    /// Checks `file` (its header bytes given) against the `recorded` checksum value. Throws
    /// `CheckpointError.corrupt` when the value or its place in the header is malformed and
    /// `.fileChecksumMismatch` when the bytes differ from what was written.
    static func verify(file: MappedFile, header: UnsafeRawBufferPointer, recorded: String) throws {
        guard recorded.utf8.count == 8, let expected = UInt32(recorded, radix: 16),
              recorded.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw CheckpointError.corrupt(path: file.path, reason: "its checksum '\(recorded)' is not 8 lowercase hex digits")
        }
        let offsets = digitOffsets(in: header)
        guard offsets.count == 1, let bytes = file.bytes(0..<file.size) else {
            throw CheckpointError.corrupt(
                path: file.path,
                reason: "its header holds \(offsets.count) compact \"\(metadataKey)\" fields, expected exactly 1")
        }
        let digits = 8 + offsets[0]
        guard Array(UnsafeRawBufferPointer(rebasing: bytes[digits..<(digits + 8)])) == Array(recorded.utf8) else {
            throw CheckpointError.corrupt(path: file.path, reason: "its \"\(metadataKey)\" field does not hold the checksum the header declares")
        }
        let actual = crc(of: bytes, digitsAt: digits)
        guard actual == expected else {
            throw CheckpointError.fileChecksumMismatch(path: file.path, expected: expected, actual: actual)
        }
    }

    /// Replaces the placeholder digits in `encoded` (a whole file as the writer built it) with
    /// the file's checksum. Returns false when the placeholder is not found exactly once.
    static func stamp(_ encoded: inout [UInt8], headerLength: Int) -> Bool {
        let offsets = encoded.withUnsafeBytes { digitOffsets(in: UnsafeRawBufferPointer(rebasing: $0[8..<(8 + headerLength)])) }
        guard offsets.count == 1 else { return false }
        let digits = 8 + offsets[0]
        let checksum = encoded.withUnsafeBytes { crc(of: $0, digitsAt: digits) }
        let text = hex8(checksum)
        for (i, byte) in text.utf8.enumerated() { encoded[digits + i] = byte }
        return true
    }
}
