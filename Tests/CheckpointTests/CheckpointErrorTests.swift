// CheckpointErrorTests: damaged, truncated, foreign and unsupported files each give the
// CheckpointError that says what is wrong, naming the file (and the tensor where one is at
// fault), and never crash.

import XCTest
import Tensor
@testable import Checkpoint

final class CheckpointErrorTests: XCTestCase {
    // MARK: Not a readable file

    func testNonexistentPath() {
        let path = "/nonexistent/samtrack/missing.pt"
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case .cannotOpen? = error else { return XCTFail("got \(String(describing: error))") }
    }

    func testDirectoryPath() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.url.path
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .cannotOpen(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("directory"), reason)
    }

    func testZeroByteFile() throws {
        let scratch = try ScratchDirectory()
        let path = try scratch.write("empty.pt", [])
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .corrupt(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("empty"), reason)
        // The zip reader alone says the same kind of thing.
        expectCheckpointError(naming: path) { _ = try TorchCheckpointReader.load(path: path) }
    }

    func testGarbageBytes() throws {
        let scratch = try ScratchDirectory()
        let path = try scratch.write("garbage.pt", Array("this is not a checkpoint at all\n".utf8))
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case .unrecognizedFormat? = error else { return XCTFail("got \(String(describing: error))") }
    }

    func testGarbageAfterZipMagic() throws {
        let scratch = try ScratchDirectory()
        for length in [4, 30, 1000] {
            // deterministic pseudo-random bytes (multiplicative hash of the index)
            let noise = (0..<length).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
            let bytes: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + noise
            let path = try scratch.write("random-\(length).pt", bytes)
            let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
            guard case .corrupt? = error else { return XCTFail("got \(String(describing: error))") }
        }
    }

    func testLegacyTorchSerializationAsksForResave() {
        let path = checkpointFixture("legacy.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .unrecognizedFormat(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("torch >= 1.6"), reason)
    }

    // MARK: Truncation

    func testTruncatedTorchCheckpoints() throws {
        let scratch = try ScratchDirectory()
        let bytes = try fileBytes(checkpointFixture("official.pt"))
        let lengths = [1, 2, 3, 4, 10, 29, 30, 100, 1000, bytes.count / 2, bytes.count - 200,
                       bytes.count - 22, bytes.count - 2, bytes.count - 1]
        for length in lengths {
            let path = try scratch.write("official-\(length).pt", Array(bytes.prefix(length)))
            let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
            guard case .corrupt? = error else { return XCTFail("\(length) bytes: got \(String(describing: error))") }
        }
    }

    func testTruncatedSafetensors() throws {
        let scratch = try ScratchDirectory()
        let bytes = try fileBytes(checkpointFixture("official.safetensors"))
        for length in [9, 20, 100, bytes.count / 2, bytes.count - 4, bytes.count - 1] {
            let path = try scratch.write("official-\(length).safetensors", Array(bytes.prefix(length)))
            let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
            switch error {
            case .corrupt?, .truncatedTensor?: continue
            default: XCTFail("\(length) bytes: got \(String(describing: error))")
            }
        }
    }

    // MARK: Damaged archives

    func testMissingStorageEntryNamesTheTensor() {
        let path = checkpointFixture("missing_storage.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .corrupt(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("'image_encoder.trunk.patch_embed.proj.bias'"), reason)
        XCTAssertTrue(reason.contains("official/data/2"), reason)
    }

    func testStorageShorterThanTensor() {
        let path = checkpointFixture("short_storage.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .truncatedTensor(_, tensor, _)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(tensor, "memory_attention.layers.0.self_attn.q_proj.weight")
    }

    func testDamagedPickleFailsItsChecksum() throws {
        let scratch = try ScratchDirectory()
        let source = checkpointFixture("official.pt")
        let entry = try XCTUnwrap(ZipArchive(file: MappedFile(path: source)).entry(named: "official/data.pkl"))
        var bytes = try fileBytes(source)
        bytes[entry.dataOffset + entry.compressedSize / 2] ^= 0x20
        let path = try scratch.write("flipped.pt", bytes)
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .checksumMismatch(_, entryName, tensors, expected, actual)? = error else {
            return XCTFail("got \(String(describing: error))")
        }
        XCTAssertEqual(entryName, "official/data.pkl")
        XCTAssertEqual(tensors, [])
        XCTAssertEqual(expected, entry.crc32)
        XCTAssertNotEqual(actual, expected)
        XCTAssertTrue(error!.description.contains("checksum"), error!.description)
    }

    func testCompressedEntriesAreRefused() {
        let path = checkpointFixture("deflated.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .unsupportedFeature(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("compressed"), reason)
    }

    func testBigEndianIsRefused() {
        let path = checkpointFixture("bigendian.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .unsupportedFeature(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("big-endian"), reason)
    }

    // MARK: Unsupported content

    func testInt64TensorNamesTensorAndType() {
        let path = checkpointFixture("int64.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        XCTAssertEqual(error, .unsupportedDType(path: path, tensor: "position_ids", dtype: "int64"))
    }

    func testForeignGlobalIsRefusedByName() {
        let path = checkpointFixture("foreign_object.pt")
        let error = expectCheckpointError(naming: path) { _ = try CheckpointLoader.load(path: path) }
        guard case let .unsupportedPickle(_, reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("argparse.Namespace"), reason)
    }

    func testEveryDescriptionSaysWhatToDo() {
        let errors: [CheckpointError] = [
            .corrupt(path: "a.pt", reason: "x"),
            .truncatedTensor(path: "a.pt", tensor: "w", reason: "x"),
            .unsupportedDType(path: "a.pt", tensor: "w", dtype: "int64"),
            .unsupportedFeature(path: "a.pt", reason: "x"),
        ]
        for error in errors {
            XCTAssertTrue(error.description.hasPrefix("a.pt: "), error.description)
            XCTAssertEqual(error.path, "a.pt")
        }
    }
}
