// Checksums (issue 23, finding 3): CRC-32 in parallel pieces (CRC-32 itself is FileIO's, tested in
// Tests/ExportTests/CRC32Tests.swift), and the default model with single bytes
// damaged at 72 deterministic offsets spread over every part of its zip file: each damaged copy
// either fails with an error naming the file (and, for tensor data, the tensor's checkpoint key),
// or loads bit-identical weights, and the latter only for bytes the reader provably never reads
// (the fields listed in ZipArchive.swift). Before every entry's CRC was checked, damaged tensor
// data loaded as different weights.

import Foundation
import XCTest
import FileIO
import Tensor
import TestSupport
@testable import Checkpoint

final class ChecksumTests: XCTestCase {
    func testParallelPiecesEqualOnePass() {
        let count = 3 * 4096 + 1234
        var state: UInt32 = 4
        let bytes = (0..<count).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223  // a plain LCG: fast enough in debug builds
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let whole = bytes.withUnsafeBytes { CRC32.checksum($0) }
        for pieceSize in [1, 7, 4096, count - 1, count, count + 1] {
            XCTAssertEqual(bytes.withUnsafeBytes { CRC32.parallelChecksum($0, pieceSize: pieceSize) }, whole, "pieces of \(pieceSize)")
        }
    }

    func testEveryEntryOfTheDefaultModelIsVerified() throws {
        let file = try MappedFile(path: Fixtures.path("models/synth.pt"))
        let archive = try ZipArchive(file: file)
        let crcs = try archive.checksums(of: archive.entries)
        XCTAssertEqual(crcs, archive.entries.map(\.crc32))
        XCTAssertGreaterThan(archive.entries.count, 400)
    }

    // MARK: - Damaged copies of the default model

    /// Byte ranges of `synth.pt`, by what they hold.
    private struct Layout {
        /// Tensor storage data, with the checkpoint keys stored in each.
        var tensorData: [(range: Range<Int>, keys: [String])] = []
        var pickle: [Range<Int>] = []
        /// Data of the other small entries (byteorder, version, serialization id...).
        var otherData: [Range<Int>] = []
        var localHeaders: [Range<Int>] = []
        var localExtras: [Range<Int>] = []
        var dataDescriptors: [Range<Int>] = []
        var centralHeaders: [Range<Int>] = []
        var endRecords: [Range<Int>] = []
        /// Bytes the reader never reads (ZipArchive.swift lists them).
        var ignorable = IndexSet()
    }

    private func layout(of path: String) throws -> Layout {
        let file = try MappedFile(path: path)
        let archive = try ZipArchive(file: file)
        let bytes = try XCTUnwrap(file.bytes(0..<file.size))
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var keysByEntry: [String: [String]] = [:]
        let pickleEntry = try TorchCheckpointReader.findPickle(in: archive)
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        let root = try Unpickler.load(try archive.contents(of: pickleEntry), path: path, streamName: pickleEntry.name)
        for (key, reference) in try TorchCheckpointReader.collectTensors(root, path: path) {
            keysByEntry[prefix + "data/" + reference.storage.key, default: []].append(key)
        }
        var layout = Layout()
        for entry in archive.entries {
            let local = entry.localHeaderOffset
            let nameLength = u16(local + 26), extraLength = u16(local + 28)
            layout.localHeaders.append(local..<(local + 30 + nameLength))
            layout.localExtras.append((local + 30 + nameLength)..<entry.dataOffset)
            if let keys = keysByEntry[entry.name] {
                layout.tensorData.append((entry.dataRange, keys))
            } else if entry.name == pickleEntry.name {
                layout.pickle.append(entry.dataRange)
            } else {
                layout.otherData.append(entry.dataRange)
            }
            XCTAssertEqual(entry.flags & 8, 8, "torch writes data descriptors")
            XCTAssertEqual(u32(entry.dataRange.upperBound), 0x0807_4B50)
            layout.dataDescriptors.append(entry.dataRange.upperBound..<(entry.dataRange.upperBound + 16))
            // Local header: version, flags, time, date, CRC and sizes are never read.
            layout.ignorable.insert(integersIn: (local + 4)..<(local + 8))
            layout.ignorable.insert(integersIn: (local + 10)..<(local + 26))
            layout.ignorable.insert(integersIn: (local + 30 + nameLength)..<(local + 30 + nameLength + extraLength))
            layout.ignorable.insert(integersIn: entry.dataRange.upperBound..<(entry.dataRange.upperBound + 16))
        }
        // The central directory follows the last data descriptor; walk it.
        var offset = try XCTUnwrap(archive.entries.map { $0.dataRange.upperBound + 16 }.max())
        XCTAssertEqual(u32(offset), 0x0201_4B50)
        while u32(offset) == 0x0201_4B50 {
            let size = 46 + u16(offset + 28) + u16(offset + 30) + u16(offset + 32)
            layout.centralHeaders.append(offset..<(offset + size))
            // Versions, flags, time, date, disk start, attributes, comment: never read.
            layout.ignorable.insert(integersIn: (offset + 4)..<(offset + 10))
            layout.ignorable.insert(integersIn: (offset + 12)..<(offset + 16))
            layout.ignorable.insert(integersIn: (offset + 34)..<(offset + 42))
            layout.ignorable.insert(integersIn: (offset + 46 + u16(offset + 28) + u16(offset + 30))..<(offset + size))
            offset += size
        }
        // ZIP64 end record, its locator and the end record.
        layout.endRecords.append(offset..<file.size)
        if u32(offset) == 0x0606_4B50 {
            layout.ignorable.insert(integersIn: (offset + 4)..<(offset + 32))  // record size, versions, disks, entries on disk
            let locator = offset + 56
            XCTAssertEqual(u32(locator), 0x0706_4B50)
            layout.ignorable.insert(integersIn: (locator + 4)..<(locator + 8))
            layout.ignorable.insert(integersIn: (locator + 16)..<(locator + 20))
            let end = locator + 20
            XCTAssertEqual(u32(end), 0x0605_4B50)
            // With ZIP64 records present, the 16/32-bit copies in the end record are not used.
            layout.ignorable.insert(integersIn: (end + 8)..<(end + 20))
            layout.ignorable.insert(integersIn: (end + 20)..<file.size)  // comment length (0) and comment
        }
        return layout
    }

    func testDamagedBytesAcrossTheDefaultModelAreNeverSilent() throws {
        let source = Fixtures.path("models/synth.pt")
        let original = try fileBytes(source)
        let reference = try CheckpointLoader.load(path: source)
        let layout = try layout(of: source)
        var generator = SeededGenerator(seed: 2023)
        func pick(_ ranges: [Range<Int>], _ count: Int) -> [Int] {
            let total = ranges.reduce(0) { $0 + $1.count }
            return (0..<count).map { _ in
                var index = Int(generator.next() % UInt64(total))
                for range in ranges {
                    if index < range.count { return range.lowerBound + index }
                    index -= range.count
                }
                return ranges[0].lowerBound
            }
        }
        // 72 offsets: a third in tensor data (where almost all bytes are), the rest over every
        // structural part of the archive.
        var offsets = pick(layout.tensorData.map(\.range), 24)
        offsets += pick(layout.pickle, 6) + pick(layout.otherData, 4)
        offsets += pick(layout.localHeaders, 10) + pick(layout.localExtras, 4) + pick(layout.dataDescriptors, 4)
        offsets += pick(layout.centralHeaders, 12) + pick(layout.endRecords, 8)
        XCTAssertEqual(offsets.count, 72)

        let scratch = try ScratchDirectory()
        var errors = 0, identical = 0
        for offset in offsets {
            var bytes = original
            bytes[offset] ^= UInt8(1 + generator.next() % 255)
            let path = try scratch.write("synth-damaged.pt", bytes)
            let keys = layout.tensorData.first(where: { $0.range.contains(offset) })?.keys
            do {
                let store = try CheckpointLoader.load(path: path)
                XCTAssertEqual(store.orderedKeys, reference.orderedKeys, "byte \(offset): keys differ")
                for key in reference.orderedKeys {
                    guard let a = store.tensors[key], let b = reference.tensors[key] else { continue }
                    XCTAssertEqual(a.shape, b.shape, "byte \(offset): \(key)")
                    let same = a.withUnsafeBufferPointer { x in
                        b.withUnsafeBufferPointer { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count * 4) == 0) }
                    }
                    XCTAssertTrue(same, "byte \(offset): tensor \(key) loaded with different values")
                }
                XCTAssertTrue(layout.ignorable.contains(offset), "byte \(offset) was damaged but the file loaded; it is not a field the reader ignores")
                identical += 1
            } catch let error as CheckpointError {
                errors += 1
                XCTAssertEqual(error.path, path, "byte \(offset)")
                XCTAssertTrue(error.description.contains(path), "byte \(offset): \(error)")
                if let keys {
                    XCTAssertTrue(keys.contains(error.tensor ?? ""), "byte \(offset) in the data of \(keys): \(error)")
                    XCTAssertTrue(error.description.contains(keys[0]), "byte \(offset): \(error)")
                    guard case .checksumMismatch = error else { XCTFail("byte \(offset): \(error)"); continue }
                }
            } catch {
                XCTFail("byte \(offset): not a CheckpointError: \(error)")
            }
        }
        print("ChecksumTests: 72 damaged copies of synth.pt: \(errors) errors, \(identical) identical loads")
        XCTAssertGreaterThanOrEqual(errors, 50, "\(errors) errors, \(identical) identical loads")
    }
}
