// WeightStoreTests: strict binding — a missing key, a wrong shape and tensors left unused all
// fail with errors naming the file and the keys; binding everything passes.

import XCTest
import Tensor
import Checkpoint

final class WeightStoreTests: XCTestCase {
    private let path = checkpointFixture("module_state_dict.pt")

    func testTakingEveryTensorWithItsShapeFinishes() throws {
        let store = try CheckpointLoader.load(path: path)
        _ = try store.take("conv.weight", shape: [4, 3, 3, 3])
        _ = try store.take("conv.bias", shape: [4])
        _ = try store.take("norm.weight", shape: [4])
        _ = try store.take("norm.bias", shape: [4])
        _ = try store.take("head.weight", shape: [2, 4])
        _ = try store.take("head.bias")
        XCTAssertNoThrow(try store.finish())
        XCTAssertEqual(store.parameterCount, 108 + 4 + 4 + 4 + 8 + 2)
    }

    func testMissingKey() throws {
        let store = try CheckpointLoader.load(path: path)
        let error = expectCheckpointError(naming: path) { _ = try store.take("conv.weights") }
        XCTAssertEqual(error, .missingTensor(path: path, key: "conv.weights"))
        XCTAssertTrue(error?.description.contains("'conv.weights'") ?? false)
    }

    func testShapeMismatchReportsBothShapes() throws {
        let store = try CheckpointLoader.load(path: path)
        let error = expectCheckpointError(naming: path) { _ = try store.take("head.weight", shape: [4, 2]) }
        XCTAssertEqual(error, .shapeMismatch(path: path, key: "head.weight", expected: [4, 2], actual: [2, 4]))
        XCTAssertTrue(error?.description.contains("[2, 4]") ?? false)
    }

    func testUnusedTensorsAreListedInFileOrder() throws {
        let store = try CheckpointLoader.load(path: path)
        _ = try store.take("conv.weight")
        _ = try store.take("head.bias")
        XCTAssertEqual(store.untakenKeys, ["conv.bias", "norm.weight", "norm.bias", "head.weight"])
        let error = expectCheckpointError(naming: path) { try store.finish() }
        XCTAssertEqual(error, .unusedTensors(path: path, keys: ["conv.bias", "norm.weight", "norm.bias", "head.weight"]))
    }
}
