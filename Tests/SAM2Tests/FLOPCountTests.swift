// FLOPCount (Sources/SAM2/FLOPCount.swift): the analytic counts agree with what PyTorch's FLOP
// counter reports for the official tiny model at 1024 px (image encoder ~291 GFLOP; memory
// attention ~606 GFLOP with 7 memories and 16 object pointers), and its Hiera schedule is the one
// the model builds.

import XCTest
import Foundation
import Checkpoint
import SAM2
import TestSupport

final class FLOPCountTests: XCTestCase {
    func testTinyMatchesTorchFLOPCounter() {
        let count = FLOPCount(.preset(.tiny))
        // torch.utils.flop_counter on image_encoder (trunk + neck): 290.8 GFLOP.
        XCTAssertEqual((count.trunk + count.neck) / 1e9, 290.78, accuracy: 0.01)
        XCTAssertEqual(count.highResProjections / 1e9, 1.61, accuracy: 0.01)
        // Memory attention over 7 x 4096 spatial tokens and 16 pointers x 4 tokens: 605.7 GFLOP.
        XCTAssertEqual(count.memoryAttention(memoryTokens: 7 * 4096 + 64) / 1e9, 605.7, accuracy: 0.1)
        XCTAssertEqual(count.memoryEncoder / 1e9, 11.61, accuracy: 0.01)
        XCTAssertEqual(count.maskDecoder() / 1e9, 3.64, accuracy: 0.01)
    }

    func testMemoryAttentionIsAffineInTheTokens() {
        let config = SAM2Config.preset(.tiny)
        let count = FLOPCount(config)
        let a = config.memoryAttention
        let l = Double(config.embeddingSize * config.embeddingSize), c = Double(a.dModel)
        // Each memory token: k and v projections from kv_in_dim, and one QK^T column and PV row per query.
        let perToken = 2 * Double(a.numLayers) * (2 * Double(a.kvInDim) * c + 2 * l * c)
        XCTAssertEqual(count.memoryAttention(memoryTokens: 1000) - count.memoryAttention(memoryTokens: 0),
                       1000 * perToken, accuracy: 1)
    }

    func testHieraScheduleMatchesTheBuiltTrunk() throws {
        for name in ["micro", "micro2"] {
            let config = try SAM2Config.load(json: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/\(name).json"))))
            let store = try CheckpointLoader.load(path: Fixtures.path("models/\(name).pt"))
            let encoder = try ImageEncoder(config: config, loader: WeightLoader(store: store))
            let counted = FLOPCount(config).hieraBlocks
            XCTAssertEqual(counted.count, encoder.trunk.blocks.count, name)
            for (i, (shape, block)) in zip(counted, encoder.trunk.blocks).enumerated() {
                XCTAssertEqual(shape.dim, block.dim, "\(name) block \(i)")
                XCTAssertEqual(shape.dimOut, block.dimOut, "\(name) block \(i)")
                XCTAssertEqual(shape.heads, block.numHeads, "\(name) block \(i)")
                XCTAssertEqual(shape.window, block.windowSize, "\(name) block \(i)")
                XCTAssertEqual(shape.qStride, block.qStride ?? 1, "\(name) block \(i)")
            }
        }
    }
}
