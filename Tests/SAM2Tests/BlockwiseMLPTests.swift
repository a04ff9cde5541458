// A two-layer MLP over many rows runs block by block (Hiera's first stage at 1024 px); the micro
// parity configs never have that many rows, so this checks the blocked path against the plain one.

import XCTest
import Checkpoint
import Tensor
import TestSupport
@testable import SAM2

final class BlockwiseMLPTests: XCTestCase {
    func testBlockedMLPEqualsTheUnblockedOne() throws {
        let store = WeightStore(synthesizingWithSeed: 7)
        let mlp = try MLP(WeightLoader(store: store, prefix: "mlp"), inputDim: 8, hiddenDim: 32, outputDim: 8,
                          numLayers: 2, activation: .gelu)
        // A row count that is not a multiple of the block: the last block is partial.
        let rows = 2 * MLP.blockRows + 123
        var generator = SeededGenerator(seed: 3)
        let x = generator.normal([1, rows, 8], scale: 2)
        let blocked = mlp(x)
        var plain = mlp.layers[0](x)
        plain.apply(.gelu)
        plain = mlp.layers[1](plain)
        XCTAssertEqual(blocked.shape, [1, rows, 8])
        let difference = zip(blocked.scalars, plain.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(difference, 1e-6)
    }
}
