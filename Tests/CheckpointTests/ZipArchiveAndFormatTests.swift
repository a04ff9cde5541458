// ZipArchiveAndFormatTests: the zip directory of torch.save files (plain and ZIP64), format
// detection by content, and the safetensors files of the same tensors.

import XCTest
import Tensor
@testable import Checkpoint

final class ZipArchiveAndFormatTests: XCTestCase {
    func testTorchArchiveDirectory() throws {
        let archive = try ZipArchive(file: MappedFile(path: checkpointFixture("official.pt")))
        let names = archive.entries.map(\.name)
        XCTAssertEqual(names.first, "official/data.pkl")
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("official/") }, "\(names)")
        let byteorder = try XCTUnwrap(archive.entry(named: "official/byteorder"))
        XCTAssertEqual(try archive.verifiedContents(of: byteorder).utf8String, "little")
        // torch aligns storage data to 64 bytes, which makes borrowing Float pointers possible
        for entry in archive.entries where entry.name.contains("/data/") {
            XCTAssertEqual(entry.dataOffset % 64, 0, entry.name)
            XCTAssertTrue(entry.isStoredPlain)
            XCTAssertNoThrow(try archive.verifiedContents(of: entry), entry.name)
        }
        XCTAssertEqual(try TorchCheckpointReader.findPickle(in: archive).name, "official/data.pkl")
    }

    func testZip64ArchiveHasTheSameEntries() throws {
        let plain = try ZipArchive(file: MappedFile(path: checkpointFixture("official.pt")))
        let zip64 = try ZipArchive(file: MappedFile(path: checkpointFixture("zip64_unaligned.pt")))
        XCTAssertEqual(zip64.entries.map(\.name), plain.entries.map(\.name))
        for entry in plain.entries {
            let other = try XCTUnwrap(zip64.entry(named: entry.name))
            XCTAssertEqual(other.uncompressedSize, entry.uncompressedSize, entry.name)
            XCTAssertEqual(Array(try zip64.verifiedContents(of: other)), Array(try plain.contents(of: entry)), entry.name)
            if other.uncompressedSize > 0 { XCTAssertEqual(other.dataOffset % 4, 2, entry.name) }
        }
    }

    func testDeflatedEntryIsListedButNotRead() throws {
        let archive = try ZipArchive(file: MappedFile(path: checkpointFixture("deflated.pt")))
        let entry = try XCTUnwrap(archive.entry(named: "official/data.pkl"))
        XCTAssertEqual(entry.method, 8)
        XCTAssertThrowsError(try archive.contents(of: entry)) { error in
            guard case .unsupportedFeature? = error as? CheckpointError else { return XCTFail("got \(error)") }
        }
    }

    func testFormatDetectionByContent() throws {
        XCTAssertEqual(try CheckpointLoader.detectFormat(of: MappedFile(path: checkpointFixture("official.pt"))), .pytorch)
        XCTAssertEqual(try CheckpointLoader.detectFormat(of: MappedFile(path: checkpointFixture("official.safetensors"))), .safetensors)
    }

    func testSafetensorsOfTheSameTensors() throws {
        let store = try CheckpointLoader.load(path: checkpointFixture("official.safetensors"))
        let expected = try expectedTensors("official")
        // safetensors lists tensors by data offset; the empty tensor shares an offset with the
        // next one, so compare as sets of keys and then values.
        XCTAssertEqual(Set(store.orderedKeys), Set(expected.orderedKeys))
        for key in expected.orderedKeys {
            assertBitwiseEqual(try XCTUnwrap(store.tensors[key]), try XCTUnwrap(expected.tensors[key]), key)
        }
    }

    func testHalfPrecisionSafetensors() throws {
        let store = try CheckpointLoader.load(path: checkpointFixture("halfprecision.safetensors"))
        let expected = try expectedTensors("halfprecision")
        XCTAssertEqual(Set(store.orderedKeys), Set(expected.orderedKeys))
        for key in expected.orderedKeys {
            assertBitwiseEqual(try XCTUnwrap(store.tensors[key]), try XCTUnwrap(expected.tensors[key]), key)
        }
    }
}
