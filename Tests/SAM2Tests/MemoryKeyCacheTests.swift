// MemoryKeyCacheTests: memory attention's keys from per-memory caches (MemoryTokens.swift) equal
// the keys projected from every token with its temporal encoding, whatever slot the memory has
// moved to; attention over them gives the same output; and the size rule keeps large maps uncached.

import XCTest
import Checkpoint
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
            // 3 memories of 64 tokens and 4 pointer tokens: one key tile, so the keys are rows.
            guard case .rows(let keys)? = cached.keys else { return XCTFail("keys of \(cached.memory.shape[0]) tokens: rows") }
            XCTAssertEqual(keys.count, layers)
            // Projected from memory + position (with tpos) token by token, then rotated as the
            // attention rotates keys: spatial tokens only, the table repeating per memory.
            let m = plain.memory.shape[0]
            for (layer, projected) in model.memoryAttention.memoryKeys(plain.memory, position: plain.position).enumerated() {
                var expected = projected.reshaped([1, 1, m, c])
                model.memoryAttention.rope.apply(to: &expected, rotatedTokens: m - plain.pointerTokens)
                XCTAssertLessThan(relativeError(keys[layer], expected.reshaped([m, c])), 1e-5, "slots \(slots) layer \(layer)")
            }
            // The same attention output through either path.
            let start = g.normal([1, grid * grid, c]), position = g.normal([1, grid * grid, c])
            let reference = model.memoryAttention.attend(
                from: start, currentPosition: position, memory: plain.memory.reshaped([1, m, cm]),
                memoryPosition: plain.position.reshaped([1, m, cm]), pointerTokens: plain.pointerTokens)
            let fromCache = model.memoryAttention.attend(
                from: start, currentPosition: position, memory: cached.memory.reshaped([1, m, cm]),
                memoryPosition: cached.position.reshaped([1, m, cm]), pointerTokens: cached.pointerTokens,
                keys: cached.keys)
            XCTAssertLessThan(relativeError(fromCache, reference), 1e-5, "slots \(slots)")
        }
        caches[1].clear()
        XCTAssertEqual(caches.map(\.byteCount), [keyBytes, 0, keyBytes])
    }

    /// More keys than one tile (6 memories of 64 tokens and pointer tokens) where the packed kernel
    /// runs: the caches hold packed keys and a frame's keys reach the attention packed
    /// (`MemoryKeys.panels`), the same keys as the rows, and the same bits out of the attention.
    func testPackedKeysGiveTheBitsOfRows() throws {
        let model = Self.model
        guard model.memoryAttention.readsPackedKeys else {
            XCTAssertFalse(PackedF32Kernel.enabled && model.slotKeyPanels.count == model.config.numMaskmem)
            throw XCTSkip("the packed kernel does not run on this CPU (\(Parallel.openBLASCoreName))")
        }
        let (c, cm, grid) = (model.config.neck.dModel, model.config.memoryEncoder.outDim, model.config.embeddingSize)
        let memoryPosition = PositionEncoding.sine2D(channels: cm, height: grid, width: grid)
            .reshaped([cm, grid * grid]).permuted([1, 0])
        var g = SeededGenerator(seed: 32)
        let slots = [6, 5, 4, 3, 2, 1]
        let features = slots.map { _ in g.normal([cm, grid, grid]) }
        let caches = slots.map { _ in MemoryKeyCache() }
        var selection = MemorySelection()
        for (i, slot) in slots.enumerated() {
            selection.spatial.append(.init(features: features[i], slot: slot, frame: i, keyCache: caches[i]))
        }
        selection.pointers = (0..<3).map { .init(pointer: g.normal([c]).scalars, distance: $0 + 1, frame: $0) }
        let tokens = model.memoryTokens(selection, memoryPosition: memoryPosition, maxPointers: 16)
        guard case .panels(let panels, let values)? = tokens.keys else { return XCTFail("\(tokens.memory.shape[0]) keys: packed") }
        XCTAssertEqual(caches.map(\.byteCount), caches.map { _ in grid * grid * c * panels.count * 4 })
        XCTAssertEqual(values.keys, tokens.memory.shape[0])
        // The rows the unpacked route would build: each memory's rotated keys plus its slot's
        // table (the same float adds), then the pointer tokens' keys.
        let m = tokens.memory.shape[0], spatial = m - tokens.pointerTokens
        let pointerKeys = model.memoryAttention.memoryKeys(tokens.memory.slice(axis: 0, spatial..<m),
                                                          position: tokens.position.slice(axis: 0, spatial..<m))
        let memoryKeys = features.map {
            model.memoryAttention.rotatedMemoryKeys($0.reshaped([cm, -1]).permuted([1, 0]), position: memoryPosition)
        }
        let rows = (0..<panels.count).map { layer in
            Tensor.concatenate(zip(slots, memoryKeys).map { $1[layer] + model.slotKeys[$0][layer] } + [pointerKeys[layer]], axis: 0)
        }
        let scale = 1 / Float(c).squareRoot()
        for layer in 0..<panels.count {
            XCTAssertLessThan(relativeError(panels[layer].rows(), rows[layer].scaled(by: scale)), 1e-6, "layer \(layer)")
        }
        let start = g.normal([1, grid * grid, c]), position = g.normal([1, grid * grid, c])
        func attend(_ keys: MemoryKeys) -> Tensor {
            model.memoryAttention.attend(from: start, currentPosition: position, memory: tokens.memory.reshaped([1, m, cm]),
                                         memoryPosition: tokens.position.reshaped([1, m, cm]), pointerTokens: tokens.pointerTokens,
                                         keys: keys)
        }
        let (packed, unpacked) = (attend(tokens.keys!).scalars, attend(.rows(rows)).scalars)
        XCTAssertEqual(zip(packed, unpacked).filter { $0.bitPattern != $1.bitPattern }.count, 0, "packed keys: the bits of rows")
    }

    /// Keys are kept while a memory's keys (tokens x C x layers, fp32) fit 1 MiB: SAM 2.1 tiny's
    /// 256 channels x 4 layers give 4 KiB a token, so a 256 px input (16 x 16 tokens) is cached
    /// and 288 px (18 x 18) is not; a token count other than the RoPE grid's never is.
    func testKeysOfLargeMapsAreNotKept() throws {
        XCTAssertEqual(MemoryAttention.keyCacheBudget, 1 << 20)
        let micro = Self.model
        XCTAssertTrue(micro.memoryAttention.cachesKeys(tokensPerMemory: 64))
        XCTAssertFalse(micro.memoryAttention.cachesKeys(tokensPerMemory: 63))
        XCTAssertEqual(micro.slotKeys.count, micro.config.numMaskmem)
        for (size, kept) in [(256, true), (288, false)] {
            let tiny = try SAM2Model(config: .preset(.tiny, imageSize: size), store: WeightStore(synthesizingWithSeed: 1))
            let tokens = (size / 16) * (size / 16)
            XCTAssertEqual(tiny.memoryAttention.cachesKeys(tokensPerMemory: tokens), kept, "\(size) px")
            XCTAssertEqual(tiny.slotKeys.isEmpty, !kept, "\(size) px")
        }
    }
}
