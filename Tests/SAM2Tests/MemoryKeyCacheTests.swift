// MemoryKeyCacheTests: memory attention's keys from per-memory caches (MemoryTokens.swift) equal
// the keys projected from every token with its temporal encoding, whatever slot the memory has
// moved to; attention over them gives the same output; and the size rule keeps large maps uncached.

import XCTest
import SAM2
import Tensor
import TestSupport

final class MemoryKeyCacheTests: XCTestCase {
    static let model: SAM2Model = try! SAM2Model.load(checkpoint: Fixtures.path("models/micro.pt"))

    /// Largest |a - b| over max |b|.
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let (x, y) = (a.scalars, b.scalars)
        let scale = y.map(abs).max() ?? 1
        return zip(x, y).map { abs($0 - $1) }.max()! / scale
    }

    func testCachedKeysEqualKeysProjectedFromEveryToken() throws {
        let model = Self.model
        let (c, cm, grid) = (model.config.neck.dModel, model.config.memoryEncoder.outDim, model.config.embeddingSize)
        let memoryPosition = PositionEncoding.sine2D(channels: cm, height: grid, width: grid)
            .reshaped([cm, grid * grid]).permuted([1, 0])
        var g = SeededGenerator(seed: 31)
        let features = (0..<3).map { _ in g.normal([cm, grid, grid]) }
        let pointers = (0..<2).map { _ in g.normal([c]).scalars }
        let caches = features.map { _ in MemoryKeyCache() }
        func selection(slots: [Int], caches: [MemoryKeyCache?]) -> MemorySelection {
            var s = MemorySelection()
            for i in 0..<3 { s.spatial.append(.init(features: features[i], slot: slots[i], frame: i, keyCache: caches[i])) }
            s.pointers = [.init(pointer: pointers[0], distance: 1, frame: 0), .init(pointer: pointers[1], distance: 3, frame: 2)]
            return s
        }
        let layers = 2, keyBytes = grid * grid * c * layers * 4
        // Slots as on two consecutive frames: the tracked memories move one slot down.
        for slots in [[6, 2, 5], [6, 1, 4]] {
            let plain = model.memoryTokens(selection(slots: slots, caches: [nil, nil, nil]), memoryPosition: memoryPosition, maxPointers: 16)
            XCTAssertNil(plain.keys, "no caches, no keys: the attention projects memory + position")
            let cached = model.memoryTokens(selection(slots: slots, caches: caches), memoryPosition: memoryPosition, maxPointers: 16)
            XCTAssertEqual(caches.map(\.byteCount), [keyBytes, keyBytes, keyBytes])
            let keys = try XCTUnwrap(cached.keys)
            XCTAssertEqual(keys.count, layers)
            let expected = model.memoryAttention.memoryKeys(plain.memory, position: plain.position)
            for layer in 0..<layers {
                XCTAssertLessThan(relativeError(keys[layer], expected[layer]), 1e-5, "slots \(slots) layer \(layer)")
            }
            // The same attention output through either path.
            let start = g.normal([1, grid * grid, c]), position = g.normal([1, grid * grid, c])
            let m = plain.memory.shape[0]
            let reference = model.memoryAttention.attend(
                from: start, currentPosition: position, memory: plain.memory.reshaped([1, m, cm]),
                memoryPosition: plain.position.reshaped([1, m, cm]), pointerTokens: plain.pointerTokens)
            let fromCache = model.memoryAttention.attend(
                from: start, currentPosition: position, memory: cached.memory.reshaped([1, m, cm]),
                memoryPosition: cached.position.reshaped([1, m, cm]), pointerTokens: cached.pointerTokens,
                keys: keys.map { $0.reshaped([1, m, c]) })
            XCTAssertLessThan(relativeError(fromCache, reference), 1e-5, "slots \(slots)")
        }
        caches[1].clear()
        XCTAssertEqual(caches.map(\.byteCount), [keyBytes, 0, keyBytes])
    }

    /// Keys are kept while a memory's keys (tokens x C x layers, fp32) fit 1 MiB: the micro model's
    /// 32 channels x 2 layers give 256 bytes a token, so up to 4,096 tokens (a 64 x 64 map).
    func testKeysOfLargeMapsAreNotKept() {
        let attention = Self.model.memoryAttention
        XCTAssertEqual(MemoryAttention.keyCacheBudget, 1 << 20)
        XCTAssertTrue(attention.cachesKeys(tokensPerMemory: 64))
        XCTAssertTrue(attention.cachesKeys(tokensPerMemory: 4096))
        XCTAssertFalse(attention.cachesKeys(tokensPerMemory: 4097))
    }
}
