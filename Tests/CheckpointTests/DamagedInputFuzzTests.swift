// DamagedInputFuzzTests: systematic damage to valid checkpoints — every byte of a .pt file's
// zip structure inverted in turn, every byte of its pickle replaced by several values (past the
// checksum), every byte of a safetensors header inverted — must load or throw a CheckpointError.
// A crash (trap, bad access) fails the whole test run, which is the point.

import XCTest
import Tensor
@testable import Checkpoint

final class DamagedInputFuzzTests: XCTestCase {
    /// Loads `path`; true when it loaded, false when it threw a CheckpointError.
    private func loadOrCheckpointError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        do {
            let store = try CheckpointLoader.load(path: path)
            for tensor in store.tensors.values { _ = tensor.withUnsafeBufferPointer { $0.last } }
            return true
        } catch let error as CheckpointError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            return false
        } catch {
            XCTFail("not a CheckpointError: \(error)", file: file, line: line)
            return false
        }
    }

    func testEveryByteOfAZipInvertedInTurn() throws {
        let scratch = try ScratchDirectory()
        let source = checkpointFixture("official.pt")
        let original = try fileBytes(source)
        // Tensor data is skipped (not checksummed: any value loads), and so is the pickle (any
        // change fails its checksum; the next test damages it past the checksum).
        let archive = try ZipArchive(file: MappedFile(path: source))
        let tensorData = archive.entries.filter { $0.name.contains("/data/") || $0.name.hasSuffix("data.pkl") }.map(\.dataRange)
        var failures = 0
        for position in original.indices where !tensorData.contains(where: { $0.contains(position) }) {
            var bytes = original
            bytes[position] ^= 0xFF
            let path = try scratch.write("damaged.pt", bytes)
            if !loadOrCheckpointError(path) { failures += 1 }
        }
        // Padding and unused header fields are not checked, so some single flips still load; the
        // structural ones (signatures, sizes, offsets, the pickle) must not.
        XCTAssertGreaterThan(failures, 300)
    }

    func testEveryBytePositionOfThePickleMutated() throws {
        let file = try MappedFile(path: checkpointFixture("official.pt"))
        let archive = try ZipArchive(file: file)
        let entry = try XCTUnwrap(archive.entry(named: "official/data.pkl"))
        let original = Array(try archive.contents(of: entry))
        let replacements: [UInt8] = [0x00, 0x7F, 0xFF, 0x2E, 0x28, 0x52, 0x4B]
        for position in original.indices {
            for value in replacements where value != original[position] {
                var bytes = original
                bytes[position] = value
                do {
                    _ = try bytes.withUnsafeBytes {
                        try TorchCheckpointReader.load(pickle: $0, streamName: entry.name, archive: archive, prefix: "official/")
                    }
                } catch is CheckpointError {
                    continue
                } catch {
                    XCTFail("byte \(position) = \(value): not a CheckpointError: \(error)")
                }
            }
        }
        // Cut the pickle at every length as well.
        for length in 0..<original.count {
            let prefix = Array(original.prefix(length))
            XCTAssertThrowsError(try prefix.withUnsafeBytes {
                try TorchCheckpointReader.load(pickle: $0, streamName: entry.name, archive: archive, prefix: "official/")
            }, "pickle cut at \(length) bytes")
        }
    }

    func testEveryByteOfASafetensorsHeaderInverted() throws {
        let scratch = try ScratchDirectory()
        let original = try fileBytes(checkpointFixture("official.safetensors"))
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        for position in 0..<min(headerEnd, original.count) {
            var bytes = original
            bytes[position] ^= 0xFF
            let path = try scratch.write("damaged.safetensors", bytes)
            _ = loadOrCheckpointError(path)
        }
    }
}
