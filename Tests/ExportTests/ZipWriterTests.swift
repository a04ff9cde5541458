// ZipWriter: archives read back by Python's zipfile and `unzip -t` (Tools/interop/check_exports.py:
// names in order, stored, UTF-8 flag, DOS date, CRC-32 by testzip, bytes equal), including ZIP64
// (forced on small archives by lowering the thresholds, and for real with 65,536 entries; a real
// archive past 4 GiB with SAMTRACK_ZIP64_BIG=1); the header fields a reader does not check
// (versions, attributes, sizes in local headers) against the APPNOTE by a walk here; DOS dates;
// refused names and misuse.

import Foundation
import XCTest
@testable import FileIO
import TestSupport
@testable import Export

/// 2024-05-17 13:45:31 UTC, written as 13:45:30 (DOS time counts 2-second steps).
let fixedZipDate = Date(timeIntervalSince1970: 1_715_953_531)
let fixedZipDateTime = [2024, 5, 17, 13, 45, 30]
let utc = TimeZone(identifier: "UTC")!

/// Runs Tools/interop/check_exports.py on `dir` (which holds expected.json); skips without python3.
func runExportChecker(_ dir: TemporaryDirectory, expected: [String: Any], file: StaticString = #filePath,
                      line: UInt = #line) throws -> (status: Int32, output: String) {
    guard let python = executableOnPath("python3") else {
        throw XCTSkip("python3 is not installed: the zipfile / pycocotools / Pillow checks cannot run")
    }
    try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: dir.file("expected.json")))
    let script = Fixtures.repositoryRoot.appendingPathComponent("Tools/interop/check_exports.py").path
    let (status, output) = try runProcess(python, [script, dir.path], timeout: 1800)
    print(output.split(separator: "\n").last.map(String.init) ?? "")
    return (status, output)
}

/// The (name, data) of every entry of a zip of stored entries, by walking its local headers
/// front to back (an independent reader: it trusts no central directory).
func walkLocalHeaders(_ bytes: [UInt8]) throws -> [(name: String, data: [UInt8], versionNeeded: Int, flags: Int, start: Int)] {
    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    var entries: [(String, [UInt8], Int, Int, Int)] = []
    var offset = 0
    while offset + 4 <= bytes.count, u32(offset) == 0x0403_4B50 {
        let nameLength = u16(offset + 26), extraLength = u16(offset + 28)
        let name = String(decoding: bytes[(offset + 30)..<(offset + 30 + nameLength)], as: UTF8.self)
        var size = u32(offset + 22)
        if size == 0xFFFF_FFFF {
            let extra = offset + 30 + nameLength
            XCTAssertEqual(u16(extra), 1, "ZIP64 extra field of \(name)")
            size = u32(extra + 4) | u32(extra + 8) << 32
        }
        XCTAssertEqual(u32(offset + 18), u32(offset + 22), "compressed == uncompressed size for stored \(name)")
        let start = offset + 30 + nameLength + extraLength
        entries.append((name, Array(bytes[start..<(start + size)]), u16(offset + 4), u16(offset + 6), start))
        offset = start + size
    }
    XCTAssertEqual(u32(offset), 0x0201_4B50, "the central directory follows the last entry")
    return entries.map { (name: $0.0, data: $0.1, versionNeeded: $0.2, flags: $0.3, start: $0.4) }
}

final class ZipWriterTests: XCTestCase {
    private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    private func options(zip64Threshold: UInt64 = 0xFFFF_FFFF, entryThreshold: UInt64 = 0xFFFF,
                         alignment: Int = 1) -> ZipWriter.Options {
        var options = ZipWriter.Options(modified: fixedZipDate, timeZone: utc, alignment: alignment)
        options.zip64Threshold = zip64Threshold
        options.zip64EntryThreshold = entryThreshold
        return options
    }

    private func describe(_ entries: [(name: String, contents: [UInt8])]) -> [[String: Any]] {
        entries.map { ["name": $0.name, "data": Data($0.contents).base64EncodedString()] }
    }

    func testPythonAndUnzipReadTheArchives() throws {
        let dir = try TemporaryDirectory("zip")
        let entries: [(name: String, contents: [UInt8])] = [
            ("empty.bin", []),
            ("1/00000.png", randomBytes(1, seed: 1)),
            ("1/00001.png", randomBytes(4095, seed: 2)),
            ("12/100000.png", randomBytes(70_001, seed: 3)),   // larger than FileSink's 64 KiB buffer
            ("noms/été/ß-日本.txt", Array("UTF-8 names".utf8)),
            ("a.png", randomBytes(300, seed: 4)),
        ]
        var zips: [[String: Any]] = []
        func record(_ file: String, _ entries: [(name: String, contents: [UInt8])], zip64: Bool) {
            zips.append(["file": file, "date_time": fixedZipDateTime, "zip64": zip64, "entries": describe(entries)])
        }
        // In memory.
        try Data(ZipWriter.archive(entries, options: options())).write(to: URL(fileURLWithPath: dir.file("memory.zip")))
        record("memory.zip", entries, zip64: false)
        // Through an atomic file's sink.
        try AtomicFile.write(to: dir.file("sink.zip")) { sink in
            let writer = ZipWriter(sink: sink, options: options())
            for entry in entries { try writer.add(entry.name, contents: entry.contents) }
            try writer.finish()
            XCTAssertEqual(writer.bytesWritten, UInt64(sink.bytesWritten))
        }
        record("sink.zip", entries, zip64: false)
        // To a descriptor.
        let fd = open(dir.file("fd.zip"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let writer = ZipWriter(descriptor: fd, path: dir.file("fd.zip"), options: options())
        for entry in entries { try writer.add(entry.name, contents: entry.contents) }
        try writer.finish()
        close(fd)
        record("fd.zip", entries, zip64: false)
        // Empty archive.
        try Data(ZipWriter.archive([], options: options())).write(to: URL(fileURLWithPath: dir.file("none.zip")))
        XCTAssertEqual(try readFile(dir.file("none.zip")).count, 22)
        record("none.zip", [], zip64: false)
        // ZIP64 everywhere it can be: every size >= 1 and every offset >= 1 as 0xFFFFFFFF plus
        // the 8-byte value, and the ZIP64 end record from 2 entries on.
        try Data(ZipWriter.archive(entries, options: options(zip64Threshold: 1, entryThreshold: 2)))
            .write(to: URL(fileURLWithPath: dir.file("zip64-forced.zip")))
        record("zip64-forced.zip", entries, zip64: true)
        // ZIP64 offsets only (sizes stay 32-bit): entries past byte 5000 and the directory.
        try Data(ZipWriter.archive(entries, options: options(zip64Threshold: 5000)))
            .write(to: URL(fileURLWithPath: dir.file("zip64-offsets.zip")))
        record("zip64-offsets.zip", entries, zip64: true)
        // Data aligned to 64 bytes (PyTorch's checkpoints), alone and with forced ZIP64 fields.
        try Data(ZipWriter.archive(entries, options: options(alignment: 64))).write(to: URL(fileURLWithPath: dir.file("aligned.zip")))
        record("aligned.zip", entries, zip64: false)
        try Data(ZipWriter.archive(entries, options: options(zip64Threshold: 1, entryThreshold: 2, alignment: 64)))
            .write(to: URL(fileURLWithPath: dir.file("aligned-zip64.zip")))
        record("aligned-zip64.zip", entries, zip64: true)
        // The real entry limit: 65,536 entries need the ZIP64 end record.
        let many = (0..<65_536).map { i in (name: "m/\(i).bin", contents: [UInt8(truncatingIfNeeded: i)]) }
        let manyBytes = try ZipWriter.archive(many, options: options())
        try Data(manyBytes).write(to: URL(fileURLWithPath: dir.file("many.zip")))
        record("many.zip", many, zip64: true)
        // One entry fewer than the 16-bit count's 0xFFFF: a plain zip (names only, not re-read).
        let fewer = try ZipWriter.archive(Array(many.prefix(65_534)), options: options())
        try Data(fewer).write(to: URL(fileURLWithPath: dir.file("fewer.zip")))
        zips.append(["file": "fewer.zip", "date_time": fixedZipDateTime, "zip64": false,
                     "entries": many.prefix(65_534).map { ["name": $0.name] }])

        let (status, output) = try runExportChecker(dir, expected: ["zips": zips])
        XCTAssertEqual(status, 0, "check_exports.py failed:\n\(output.suffix(4000))")
        XCTAssertTrue(output.contains("checks passed"), output)
    }

    /// Every entry's data starts on the alignment, whatever the name lengths (each gap of 0 to 63
    /// bytes, gaps under 4 bytes included), and the padding is PyTorch's "FB" record of 'Z's.
    func testAlignedEntriesStartOnTheAlignment() throws {
        for alignment in [2, 8, 64, 4096] {
            for zip64 in [false, true] {
                let entries = (0..<70).map { i in (name: String(repeating: "n", count: 1 + i), contents: randomBytes(1 + i * 7, seed: UInt64(i))) }
                let bytes = try ZipWriter.archive(entries, options: options(zip64Threshold: zip64 ? 1 : 0xFFFF_FFFF, alignment: alignment))
                let walked = try walkLocalHeaders(bytes)
                XCTAssertEqual(walked.map(\.name), entries.map(\.name))
                XCTAssertEqual(walked.map(\.data), entries.map(\.contents))
                for entry in walked {
                    XCTAssertEqual(entry.start % alignment, 0, "\(entry.name.count)-byte name, alignment \(alignment), zip64 \(zip64)")
                }
                let first = walked[0], nameEnd = 30 + first.name.utf8.count + (zip64 ? 20 : 0)
                if first.start > nameEnd {
                    XCTAssertEqual(Array(bytes[nameEnd..<(nameEnd + 2)]), [0x46, 0x42], "the padding record's id")
                    XCTAssertTrue(bytes[(nameEnd + 4)..<first.start].allSatisfy { $0 == UInt8(ascii: "Z") })
                }
            }
        }
    }

    func testHeaderFieldsFollowTheAppnote() throws {
        let entries: [(name: String, contents: [UInt8])] = [("x/ä.bin", randomBytes(1000, seed: 9)), ("y", [])]
        let bytes = try ZipWriter.archive(entries, options: options())
        let walked = try walkLocalHeaders(bytes)
        XCTAssertEqual(walked.map(\.name), ["x/ä.bin", "y"])
        XCTAssertEqual(walked.map(\.data), entries.map(\.contents))
        XCTAssertEqual(walked.map(\.versionNeeded), [10, 10])
        XCTAssertEqual(walked.map(\.flags), [0x800, 0x800])
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        // Local header of the first entry: method 0, DOS time and date, CRC-32.
        XCTAssertEqual(u16(8), 0)
        XCTAssertEqual(u16(10), 13 << 11 | 45 << 5 | 15)
        XCTAssertEqual(u16(12), (2024 - 1980) << 9 | 5 << 5 | 17)
        XCTAssertEqual(UInt32(u32(14)), entries[0].contents.withUnsafeBytes { CRC32.checksum($0) })
        // End record: 2 entries, the directory's size and offset, no comment.
        let end = bytes.count - 22
        XCTAssertEqual(u32(end), 0x0605_4B50)
        XCTAssertEqual([u16(end + 8), u16(end + 10)], [2, 2])
        let directory = u32(end + 16), size = u32(end + 12)
        XCTAssertEqual(directory + size, end)
        XCTAssertEqual(u32(directory), 0x0201_4B50)
        XCTAssertEqual(u16(directory + 4), 3 << 8 | 45, "made by UNIX, APPNOTE 4.5")
        XCTAssertEqual(u32(directory + 38), 0o100644 << 16, "a regular file, mode 0644")
        XCTAssertEqual(u32(directory + 42), 0, "first local header at 0")
    }

    func testForcedZip64FieldsAreWhereTheAppnoteSays() throws {
        let bytes = try ZipWriter.archive([("a", [1, 2, 3]), ("b", [4])], options: options(zip64Threshold: 1, entryThreshold: 1))
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int { u32(at) | u32(at + 4) << 32 }
        // Local header of "a": version 4.5, both sizes 0xFFFFFFFF, extra 0x0001 with 3 and 3.
        XCTAssertEqual(u16(4), 45)
        XCTAssertEqual([u32(18), u32(22)], [0xFFFF_FFFF, 0xFFFF_FFFF])
        XCTAssertEqual(u16(28), 20)
        XCTAssertEqual([u16(31), u16(33), u64(35), u64(43)], [1, 16, 3, 3])
        // End: ZIP64 record (entries, directory size and offset), locator, then 0xFFFF counts.
        let end = bytes.count - 22, locator = end - 20, record = locator - 56
        XCTAssertEqual(u32(record), 0x0606_4B50)
        XCTAssertEqual(u64(record + 4), 44)
        XCTAssertEqual([u64(record + 24), u64(record + 32)], [2, 2])
        XCTAssertEqual(u64(record + 48) + u64(record + 40), record, "directory ends where the ZIP64 record starts")
        XCTAssertEqual(u32(locator), 0x0706_4B50)
        XCTAssertEqual(u64(locator + 8), record)
        XCTAssertEqual(u32(locator + 16), 1)
        XCTAssertEqual([u16(end + 8), u16(end + 10)], [0xFFFF, 0xFFFF])
        XCTAssertEqual([u32(end + 12), u32(end + 16)], [0xFFFF_FFFF, 0xFFFF_FFFF])
        // Central header of "b" (local header at 30 + 1 + 20 + 3 = 54): sizes and offset in its extra.
        let directory = u64(record + 48)
        let second = directory + 46 + 1 + u16(directory + 30)
        XCTAssertEqual(u32(second + 42), 0xFFFF_FFFF)
        XCTAssertEqual([u16(second + 46 + 1), u16(second + 46 + 3)], [1, 24])
        XCTAssertEqual([u64(second + 51), u64(second + 59), u64(second + 67)], [1, 1, 30 + 1 + 20 + 3])
    }

    func testDOSDatesAndTheirClamps() {
        XCTAssertEqual(ZipWriter.dosDateTime(fixedZipDate, in: utc).time, 13 << 11 | 45 << 5 | 15)
        XCTAssertEqual(ZipWriter.dosDateTime(fixedZipDate, in: TimeZone(secondsFromGMT: 7200)!).time, 15 << 11 | 45 << 5 | 15)
        let before = ZipWriter.dosDateTime(Date(timeIntervalSince1970: 0), in: utc)
        XCTAssertEqual([before.time, before.date], [0, 1 << 5 | 1], "1970 is written as 1980-01-01 00:00")
        let after = ZipWriter.dosDateTime(Date(timeIntervalSince1970: 8_000_000_000), in: utc)  // 2223
        XCTAssertEqual([after.time, after.date], [23 << 11 | 59 << 5 | 29, 127 << 9 | 12 << 5 | 31])
    }

    func testRefusedNamesAndMisuse() throws {
        let writer = ZipWriter(options: options()) { _ in }
        for name in ["", "/abs.png", "a//b", "a/", "./a", "a/../b", "..", "a\\b", "a\u{0}b", String(repeating: "x", count: 65_536)] {
            XCTAssertThrowsError(try writer.add(name, contents: [1]), "'\(name.prefix(20))'") { error in
                XCTAssertTrue(error is ZipWriterError, "\(error)")
            }
        }
        try writer.add("a", contents: [1])
        XCTAssertThrowsError(try writer.add("a", contents: [2])) { error in
            XCTAssertTrue("\(error)".contains("already in the archive"), "\(error)")
        }
        try writer.finish()
        try writer.finish()  // idempotent
        XCTAssertThrowsError(try writer.add("b", contents: [1]))
        XCTAssertEqual(writer.entryCount, 1)

        // An output that fails: the error comes through, and the archive refuses to go on.
        struct Full: Error {}
        var calls = 0
        let failing = ZipWriter(options: options()) { _ in
            calls += 1
            if calls == 2 { throw Full() }
        }
        XCTAssertThrowsError(try failing.add("a", contents: [1, 2])) { XCTAssertTrue($0 is Full) }
        XCTAssertThrowsError(try failing.add("b", contents: [1])) { error in
            XCTAssertTrue("\(error)".contains("earlier write failed"), "\(error)")
        }
        XCTAssertThrowsError(try failing.finish())
    }

    /// A real ZIP64 archive: an entry of 4 GiB + 1 MiB (sizes in ZIP64 fields in its local and
    /// central headers) followed by one whose local header starts past 4 GiB, about 4.3 GB on
    /// disk in the temporary directory; Python's zipfile reads and CRC-checks all of it.
    func testArchivePastFourGiB() throws {
        guard ProcessInfo.processInfo.environment["SAMTRACK_ZIP64_BIG"] == "1" else {
            throw XCTSkip("set SAMTRACK_ZIP64_BIG=1 to write a 4.3 GB archive")
        }
        let dir = try TemporaryDirectory("zip64-big")
        let size = (4 << 30) + (1 << 20)
        // Untouched anonymous memory reads as zeros without being allocated.
        let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        XCTAssertNotEqual(mapping, MAP_FAILED)
        defer { munmap(mapping, size) }
        let big = UnsafeRawBufferPointer(start: mapping, count: size)
        let small = randomBytes(1000, seed: 7)
        try AtomicFile.write(to: dir.file("big.zip")) { sink in
            let writer = ZipWriter(sink: sink, options: options())
            try writer.add("big.bin", contents: big)
            try writer.add("after.png", contents: small)
            try writer.finish()
        }
        let zips: [[String: Any]] = [[
            "file": "big.zip", "date_time": fixedZipDateTime, "zip64": true,
            "entries": [["name": "big.bin", "size": size, "crc32": Int(CRC32.checksum(big))],
                        ["name": "after.png", "data": Data(small).base64EncodedString()]],
        ]]
        let (status, output) = try runExportChecker(dir, expected: ["zips": zips])
        XCTAssertEqual(status, 0, output)
    }
}
