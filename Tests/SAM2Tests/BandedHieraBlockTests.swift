// A windowed Hiera block over a large map runs band by band (MultiScaleBlock.callAsFunction); the
// micro parity configs' maps are too small for that, so this checks the banded path against the
// whole-map one, with and without query pooling, with a last band of partial (padded) windows.

import XCTest
import Checkpoint
import Tensor
import TestSupport
@testable import SAM2

final class BandedHieraBlockTests: XCTestCase {
    private func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    func testBandedWindowedBlockEqualsTheWholeMap() throws {
        let store = WeightStore(synthesizingWithSeed: 11)
        let block = try MultiScaleBlock(WeightLoader(store: store, prefix: "blocks.0"), dim: 8, dimOut: 8, numHeads: 2,
                                        windowSize: 4, qStride: nil)
        var generator = SeededGenerator(seed: 5)
        let x = generator.normal([1, 22, 12, 8], scale: 1)  // 22 rows: the last window row is half padding
        let whole = block(x, bandTokens: nil)
        let banded = block(x, bandTokens: 48)  // bands of 4 rows (one window row): 6 bands, the last of 2 rows
        XCTAssertEqual(banded.shape, [1, 22, 12, 8])
        XCTAssertLessThanOrEqual(maxDifference(banded, whole), 1e-5)
    }

    func testBandedPoolingBlockEqualsTheWholeMap() throws {
        let store = WeightStore(synthesizingWithSeed: 12)
        let block = try MultiScaleBlock(WeightLoader(store: store, prefix: "blocks.1"), dim: 8, dimOut: 16, numHeads: 2,
                                        windowSize: 4, qStride: 2)
        var generator = SeededGenerator(seed: 6)
        let x = generator.normal([1, 22, 12, 8], scale: 1)
        let whole = block(x, bandTokens: nil)
        let banded = block(x, bandTokens: 100)  // bands of 8 rows (two window rows): 8, 8, 6
        XCTAssertEqual(whole.shape, [1, 11, 6, 16])
        XCTAssertEqual(banded.shape, whole.shape)
        XCTAssertLessThanOrEqual(maxDifference(banded, whole), 1e-5)
    }

    func testSmallMapsAndGlobalBlocksRunWhole() throws {
        let store = WeightStore(synthesizingWithSeed: 13)
        let global = try MultiScaleBlock(WeightLoader(store: store, prefix: "blocks.2"), dim: 8, dimOut: 8, numHeads: 1,
                                         windowSize: 0, qStride: nil)
        var generator = SeededGenerator(seed: 7)
        let x = generator.normal([1, 16, 16, 8], scale: 1)
        // Global attention mixes every row with every other: a band would change the result, so it never bands.
        XCTAssertEqual(maxDifference(global(x, bandTokens: 16), global(x, bandTokens: nil)), 0)
    }
}
