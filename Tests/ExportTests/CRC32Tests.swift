// FileIO's CRC-32 (the zip checksum shared by Checkpoint's readers and Export's ZipWriter): known
// values, slicing-by-8 and the four-lane loop against the bit-by-bit definition at every start
// alignment and around the lane sizes, and `combine` / `update` against one pass. FileIO has no
// test target of its own; its tests live here with AtomicFileTests. The parallel form
// (`CRC32.parallelChecksum`, Checkpoint's) is tested in Tests/CheckpointTests/ChecksumTests.swift.

import XCTest
import FileIO
import TestSupport

final class CRC32Tests: XCTestCase {
    /// CRC-32 one bit at a time, straight from the definition (the test oracle).
    private func naiveCRC(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    func testKnownValuesAndTheBitwiseDefinition() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
        XCTAssertEqual([UInt8]().withUnsafeBytes { CRC32.checksum($0) }, 0)
        // zlib.crc32(b"The quick brown fox jumps over the lazy dog") in Python.
        XCTAssertEqual(Array("The quick brown fox jumps over the lazy dog".utf8).withUnsafeBytes { CRC32.checksum($0) },
                       0x414F_A339)
        var generator = SeededGenerator(seed: 3)
        let bytes = (0..<12_400).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        // Every start alignment, lengths around the 8-byte steps and around the 4 KiB where the
        // four-lane loop takes over (lanes of 1024 bytes, then the rest serially).
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4095, 4096, 4097, 4127, 4128, 4129, 12_345 - start] {
                let slice = Array(bytes[start..<(start + length)])
                XCTAssertEqual(slice.withUnsafeBytes { CRC32.checksum($0) }, naiveCRC(slice), "start \(start) length \(length)")
            }
        }
    }

    func testCombineAndUpdateEqualOnePass() {
        let count = 3 * 4096 + 1234
        var state: UInt32 = 4
        let bytes = (0..<count).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223  // a plain LCG: fast enough in debug builds
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let whole = bytes.withUnsafeBytes { CRC32.checksum($0) }
        XCTAssertEqual(whole, naiveCRC(bytes))
        for split in [0, 1, 8, 1000, count / 2, count - 1, count] {
            let a = bytes[..<split].withUnsafeBytes { CRC32.checksum($0) }
            let b = bytes[split...].withUnsafeBytes { CRC32.checksum($0) }
            XCTAssertEqual(CRC32.combine(a, b, length: count - split), whole, "split at \(split)")
            XCTAssertEqual(bytes[split...].withUnsafeBytes { CRC32.update(a, $0) }, whole, "update at \(split)")
        }
    }
}
