// TorchCheckpointReaderTests: every loadable fixture written by torch.save
// (Tools/reference/make_checkpoint_fixtures.py) reads back bit for bit equal to the values torch
// computed, and contiguous float32 tensors borrow the file mapping instead of being copied.

import XCTest
import Tensor
@testable import Checkpoint

final class TorchCheckpointReaderTests: XCTestCase {
    // MARK: Values

    func testOfficialLayoutMatchesTorch() throws {
        let store = try CheckpointLoader.load(path: checkpointFixture("official.pt"))
        try assertMatchesExpected(store, expectedTensors("official"))
        XCTAssertEqual(store.shape(of: "test.scalar"), [])
        XCTAssertEqual(store.shape(of: "test.empty"), [0, 4])
        XCTAssertEqual(store.shape(of: "image_encoder.trunk.pos_embed"), [1, 8, 3, 3])
        XCTAssertEqual(store.tensors["test.scalar"]?.scalars, [0.75])
        XCTAssertEqual(store.path, checkpointFixture("official.pt"))
    }

    func testProtocol4PickleMatchesTorch() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("protocol4.pt"))
        try assertMatchesExpected(store, expectedTensors("official"))
    }

    func testZip64RecordsAndMisalignedDataMatchTorch() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("zip64_unaligned.pt"))
        try assertMatchesExpected(store, expectedTensors("official"))
        // Data 2 bytes off alignment cannot be viewed as Float: every tensor is a copy.
        for (key, tensor) in store.tensors {
            XCTAssertFalse(tensor.isBorrowingFileMemory, key)
        }
    }

    func testNonContiguousViewsAreGathered() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("noncontiguous.pt"))
        try assertMatchesExpected(store, expectedTensors("noncontiguous"))
        XCTAssertEqual(store.shape(of: "permuted"), [2, 4, 5, 3])
        XCTAssertEqual(store.shape(of: "expanded"), [3, 4])
    }

    func testSharedStorageViewsBothRead() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("noncontiguous.pt"))
        // shared_a = s[0:12] as [3, 4], shared_b = s[10:28] as [2, 9]: they overlap at s[10], s[11].
        let a = try XCTUnwrap(store.tensors["shared_a"]).scalars
        let b = try XCTUnwrap(store.tensors["shared_b"]).scalars
        XCTAssertEqual(a[10].bitPattern, b[0].bitPattern)
        XCTAssertEqual(a[11].bitPattern, b[1].bitPattern)
    }

    func testHalfAndBFloat16ConvertExactly() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("halfprecision.pt"))
        try assertMatchesExpected(store, expectedTensors("halfprecision"))
        for (key, tensor) in store.tensors {
            XCTAssertFalse(tensor.isBorrowingFileMemory, "\(key) was converted, so it owns its storage")
        }
    }

    func testModuleStateDictWithMetadata() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("module_state_dict.pt"))
        try assertMatchesExpected(store, expectedTensors("module_state_dict"))
        XCTAssertEqual(store.orderedKeys, ["conv.weight", "conv.bias", "norm.weight", "norm.bias", "head.weight", "head.bias"])
        XCTAssertEqual(store.shape(of: "conv.weight"), [4, 3, 3, 3])
    }

    func testNestedContainersFlattenWithDots() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("nested.pt"))
        try assertMatchesExpected(store, expectedTensors("nested"))
    }

    func testParametersAndTensorsWithPythonState() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("parameters.pt"))
        try assertMatchesExpected(store, expectedTensors("parameters"))
    }

    // MARK: Borrowing

    func testContiguousFloat32BorrowsTheMapping() throws {
        let file = try MappedFile(path: checkpointFixture("official.pt"))
        let store = try TorchCheckpointReader.load(file: file)
        let base = try XCTUnwrap(file.base)
        let mapped = UnsafeRawPointer(base)..<UnsafeRawPointer(base + file.size)
        for key in store.orderedKeys {
            let tensor = try XCTUnwrap(store.tensors[key])
            if tensor.count == 0 { continue }
            XCTAssertTrue(tensor.isBorrowingFileMemory, "\(key) was copied")
            tensor.withUnsafePointer { pointer in
                XCTAssertTrue(mapped.contains(UnsafeRawPointer(pointer)), "\(key) does not point into the file")
            }
        }
    }

    func testContiguousViewsWithOffsetBorrowAndStridedViewsCopy() throws {
        let store = try TorchCheckpointReader.load(path: checkpointFixture("noncontiguous.pt"))
        let borrowed = Set(store.orderedKeys.filter { store.tensors[$0]?.isBorrowingFileMemory == true })
        XCTAssertEqual(borrowed, ["shared_a", "shared_b", "contiguous_offset"])
    }

    func testBorrowedTensorOutlivesStoreAndCopiesOnWrite() throws {
        let path = checkpointFixture("official.pt")
        let key = "memory_attention.layers.0.self_attn.q_proj.weight"
        var tensor = try TorchCheckpointReader.load(path: path).take(key)
        let original = tensor.scalars
        tensor[0, 0] = 42
        XCTAssertFalse(tensor.isBorrowingFileMemory)
        XCTAssertEqual(tensor[0, 0], 42)
        XCTAssertEqual(Array(tensor.scalars.dropFirst()), Array(original.dropFirst()))
        let reloaded = try TorchCheckpointReader.load(path: path).take(key)
        XCTAssertEqual(reloaded.scalars, original, "writing the copy must not touch the file")
    }

    // MARK: Layout helpers

    func testContiguityIgnoresUnitAxes() {
        XCTAssertTrue(TorchTensorMaterializer.isContiguous(shape: [2, 3], strides: [3, 1]))
        XCTAssertTrue(TorchTensorMaterializer.isContiguous(shape: [2, 1, 3], strides: [3, 99, 1]))
        XCTAssertTrue(TorchTensorMaterializer.isContiguous(shape: [], strides: []))
        XCTAssertFalse(TorchTensorMaterializer.isContiguous(shape: [2, 3], strides: [1, 2]))
        XCTAssertFalse(TorchTensorMaterializer.isContiguous(shape: [3, 4], strides: [1, 0]))
    }

    func testHostileStridesAndOffsetsAreRefusedOrHarmless() throws {
        let archive = try ZipArchive(file: MappedFile(path: checkpointFixture("official.pt")))
        let materializer = TorchTensorMaterializer(archive: archive, storagePrefix: "official/data/")
        // storage 0 is image_encoder.trunk.pos_embed: 72 float32 values
        let storage = TorchStorageReference(key: "0", elementType: .init(name: "float32", size: 4), elementCount: 72, location: "cpu")
        func make(_ shape: [Int], _ strides: [Int], offset: Int = 0) throws -> Tensor {
            try materializer.tensor(TorchTensorReference(storage: storage, elementType: storage.elementType,
                                                         storageOffset: offset, shape: shape, strides: strides), name: "t")
        }
        let all = try make([72], [1]).scalars
        // an axis of extent 1 with an absurd stride is harmless
        let gathered = try make([2, 1, 3], [1, Int.max, 2])
        XCTAssertEqual(gathered.scalars, [all[0], all[2], all[4], all[1], all[3], all[5]])
        XCTAssertEqual(try make([3, 1], [2, Int.max], offset: 1).scalars, [all[1], all[3], all[5]])
        // extents past the storage, overflowing extents and negative values are errors
        for (shape, strides, offset) in [([73], [1], 0), ([2], [1], 71), ([2, 2], [Int.max, 1], 0),
                                         ([Int.max, 2], [1, 1], 0), ([2], [-1], 0), ([-2], [1], 0), ([1], [1], -1)] {
            XCTAssertThrowsError(try make(shape, strides, offset: offset), "\(shape) \(strides) \(offset)") { error in
                switch error as? CheckpointError {
                case .truncatedTensor?, .corrupt?: break
                default: XCTFail("got \(error)")
                }
            }
        }
        // a broadcast within the expansion limit is fine; past it, corrupt
        XCTAssertEqual(try make([4, 3], [0, 1]).count, 12)
        XCTAssertThrowsError(try make([1 << 29, 2], [0, 1]))
    }

    func testLastIndexAndProductDetectOverflow() {
        XCTAssertEqual(TorchTensorMaterializer.lastIndex(offset: 5, shape: [2, 3], strides: [1, 2]), 10)
        XCTAssertNil(TorchTensorMaterializer.lastIndex(offset: 0, shape: [Int.max / 2], strides: [4]))
        XCTAssertNil(TorchTensorMaterializer.product([Int.max / 2, 3]))
        XCTAssertEqual(TorchTensorMaterializer.product([]), 1)
    }
}
