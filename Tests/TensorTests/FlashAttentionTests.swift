// Tests the tiling of the flash attention kernel (Sources/Tensor/FlashAttention.swift, and its packed
// fp32 tile step in FlashAttentionPacked.swift) against the naive
// twin (NaiveKernels.attention, Double accumulation over the whole score row): query and key counts
// that are not multiples of the tiles, a handful of keys, Dv != D, and scores whose running row
// maximum grows (or falls) from one key block to the next by far more than exp's range.

import XCTest
import Tensor
import TestSupport

final class FlashAttentionTests: XCTestCase {
    let tolerance = 1e-5

    /// Tilings from degenerate (one query row, one key per tile) to one tile for the whole problem,
    /// each on the three fp32 kernels: OpenBLAS's tiles, CAVX2's packed kernel (forced, whatever the
    /// size, on any CPU with AVX2 and FMA; elsewhere it is OpenBLAS again) and CAVX2's short-key
    /// kernel (where all keys fit one tile of at most 256; else as the automatic choice).
    let tilings = [
        AttentionTiling(queryRows: 1, keys: 1),
        AttentionTiling(queryRows: 5, keys: 7),
        AttentionTiling(queryRows: 16, keys: 32),
        AttentionTiling(queryRows: 64, keys: 1000),
        AttentionTiling.default,
    ].flatMap { [AttentionTiling(queryRows: $0.queryRows, keys: $0.keys, kernel: .openBLAS),
                 AttentionTiling(queryRows: $0.queryRows, keys: $0.keys, kernel: .packed),
                 AttentionTiling(queryRows: $0.queryRows, keys: $0.keys, kernel: .short)] }

    func testTilingEdgesMatchNaive() {
        var rng = SeededGenerator(seed: 11)
        // [B, N, Lq, Lk, D, Dv]: extents off the tile sizes, Dv below and above D.
        for (b, n, lq, lk, d, dv) in [(2, 3, 37, 101, 24, 40), (1, 2, 65, 33, 16, 8), (3, 1, 17, 129, 8, 8),
                                      (1, 2, 70, 300, 24, 40), (2, 1, 9, 257, 20, 17)] {
            let q = rng.normal([b, n, lq, d]), k = rng.normal([b, n, lk, d]), v = rng.normal([b, n, lk, dv])
            let expected = NaiveKernels.attention(q: q, k: k, v: v, scale: 1 / Float(d).squareRoot())
            for tiling in tilings {
                assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v, tiling: tiling), expected,
                                   relativeL2: tolerance, "Lq \(lq) Lk \(lk) D \(d) Dv \(dv) tiles \(tiling)")
            }
        }
    }

    /// The result does not depend on how many threads computed it: query blocks are cut the same
    /// way on any thread count (they were once cut per thread, and memory attention's 256 queries
    /// in one block of 256 rows or two of 128 gave other bits from OpenBLAS's products).
    func testSameBitsOnAnyThreadCount() {
        var rng = SeededGenerator(seed: 13)
        // Memory attention at 256 px (256 queries, 1786 memory tokens, values late-projected to 64),
        // a 1024 px global-attention block's shape cut down, and many small pairs (windows).
        for (b, n, lq, lk, d, dv) in [(1, 1, 256, 1786, 128, 64), (1, 2, 1000, 300, 48, 48), (16, 1, 64, 64, 48, 48)] {
            let q = rng.normal([b, n, lq, d]), k = rng.normal([b, n, lk, d]), v = rng.normal([b, n, lk, dv])
            for kernel in [AttentionTiling.Kernel.automatic, .openBLAS, .packed, .short] {
                let tiling = AttentionTiling(queryRows: 512, keys: 256, kernel: kernel)
                let one = ComputeContext(threads: 1).run { scaledDotProductAttention(query: q, key: k, value: v, tiling: tiling) }
                for threads in [2, 3, 5] {
                    let many = ComputeContext(threads: threads).run {
                        scaledDotProductAttention(query: q, key: k, value: v, tiling: tiling)
                    }
                    assertBitIdentical(many.scalars, one.scalars, "Lq \(lq) Lk \(lk) on \(threads) threads, \(tiling)")
                }
            }
        }
    }

    /// Keys and values packed by the caller (`AttentionKeyPanels`, `AttentionValuePanels`): an
    /// operand assembled from sums of packed parts and a tail that is not a whole panel gives the
    /// bits of the same keys as rows, on one thread and on three; the panels read back as the rows.
    func testCallerPackedOperandsGiveTheBitsOfRows() throws {
        guard AttentionKeyPanels.serve(keys: 300, width: 24, valueWidth: 40) else {
            XCTAssertFalse(PackedF32Kernel.enabled, "the packed route serves 300 keys where the packed kernel runs")
            throw XCTSkip("the packed kernel does not run here (\(Parallel.openBLASCoreName))")
        }
        XCTAssertFalse(AttentionKeyPanels.serve(keys: 256, width: 24, valueWidth: 40), "one tile: the short kernel")
        var rng = SeededGenerator(seed: 17)
        let (lq, d, dv) = (70, 24, 40)
        // Two runs of 128 and 144 keys, each a sum of two parts, then a tail of 28 keys.
        let parts = [128, 144].map { (rng.normal([$0, d]), rng.normal([$0, d])) }
        let tail = rng.normal([28, d])
        let rows = Tensor.concatenate(parts.map { $0.0 + $0.1 } + [tail], axis: 0)
        let lk = rows.shape[0], scale = 1 / Float(d).squareRoot()
        let q = rng.normal([1, 1, lq, d]), v = rng.normal([lk, dv])
        let keyPanels = AttentionKeyPanels(sums: parts.map { (AttentionKeyPanels(packing: $0.0), AttentionKeyPanels(packing: $0.1)) },
                                           tail: tail, scale: scale)
        let valuePanels = AttentionValuePanels(packing: v)
        XCTAssertEqual(keyPanels.keys, lk)
        assertBitIdentical(keyPanels.rows().scalars, rows.scaled(by: scale).scalars, "panels read back")
        let expected = ComputeContext(threads: 1).run {
            scaledDotProductAttention(query: q, key: rows.reshaped([1, 1, lk, d]), value: v.reshaped([1, 1, lk, dv]))
        }
        for threads in [1, 3] {
            let packed = ComputeContext(threads: threads).run {
                scaledDotProductAttention(query: q, keyPanels: keyPanels, valuePanels: valuePanels)
            }
            assertBitIdentical(packed.scalars, expected.scalars, "caller-packed operands on \(threads) threads")
        }
    }

    /// CAVX2's short-key kernel at the default model's shapes and off them: query blocks past its
    /// 96-row items and six-row tiles, exactly 256 keys, depths that are not multiples of 8 (keys
    /// packed element by element) and value widths that are not multiples of 16 (values packed).
    /// It must agree with the naive twin and give the same bits on any thread count.
    func testShortKernelShapes() throws {
        try XCTSkipUnless(PackedF32Kernel.supported, "the short-key kernel needs AVX2 and FMA")
        var rng = SeededGenerator(seed: 15)
        let short = AttentionTiling(queryRows: 512, keys: 256, kernel: .short)
        for (b, n, lq, lk, d, dv) in [(1, 4, 200, 256, 48, 48), (8, 1, 64, 64, 48, 48), (32, 1, 4, 16, 48, 48),
                                      (3, 2, 7, 5, 13, 29), (1, 8, 7, 250, 16, 16), (2, 1, 97, 17, 256, 64)] {
            let q = rng.normal([b, n, lq, d]), k = rng.normal([b, n, lk, d]), v = rng.normal([b, n, lk, dv])
            let expected = NaiveKernels.attention(q: q, k: k, v: v, scale: 1 / Float(d).squareRoot())
            let one = ComputeContext(threads: 1).run { scaledDotProductAttention(query: q, key: k, value: v, tiling: short) }
            assertTensorsClose(one, expected, relativeL2: tolerance, "Lq \(lq) Lk \(lk) D \(d) Dv \(dv)")
            let two = ComputeContext(threads: 2).run { scaledDotProductAttention(query: q, key: k, value: v, tiling: short) }
            assertBitIdentical(two.scalars, one.scalars, "Lq \(lq) Lk \(lk) D \(d) Dv \(dv) on 2 threads")
        }
    }

    /// `windowedSelfAttention` reads q, k and v straight from a qkv map: it must give the bits of the
    /// partitioned route on the same kernel (windowPartition, attention, windowUnpartition), for
    /// windows of Hiera's sizes, a global window, queries pooled 2 x 2 (a NaN in a pool must win),
    /// several heads and a batch of two; and decline (nil) windows that do not tile the map.
    func testWindowedSelfAttentionMatchesThePartitionedRoute() throws {
        try XCTSkipUnless(PackedF32Kernel.enabled, "the windowed path runs where the packed kernel replaces OpenBLAS")
        var rng = SeededGenerator(seed: 16)
        let short = AttentionTiling(queryRows: 512, keys: 256, kernel: .short)
        for (batch, h, w, window, pool, heads, d) in [
            (1, 16, 16, 8, 1, 1, 48), (2, 8, 12, 4, 1, 2, 48), (1, 16, 16, 0, 1, 4, 48), (1, 6, 9, 3, 1, 3, 8),
            (1, 4, 4, 0, 1, 2, 20), (1, 16, 16, 8, 2, 2, 48), (2, 8, 8, 4, 2, 4, 20), (1, 8, 12, 0, 2, 1, 16),
        ] {
            let c = heads * d
            var qkv = rng.normal([batch, h, w, 3 * c])
            if pool > 1 { qkv[0, 0, 1, 3] = .nan }  // q channel 3 of a pooling cell that is not its window's last
            let fused = try XCTUnwrap(windowedSelfAttention(qkv: qkv, heads: heads, window: window, pool: pool))
            let keyWindow = window > 0 ? (height: window, width: window) : (height: h, width: w)
            let queryWindow = (height: keyWindow.height / pool, width: keyWindow.width / pool)
            let parts = (0..<3).map {
                qkv.windowPartition(channels: ($0 * c)..<(($0 + 1) * c), heads: heads, window: $0 == 0 ? queryWindow : keyWindow,
                                    pool: $0 == 0 ? pool : 1)
            }
            let attended = scaledDotProductAttention(query: parts[0], key: parts[1], value: parts[2], tiling: short)
            let expected = windowUnpartition(attended, batch: batch, height: h / pool, width: w / pool, window: queryWindow)
            XCTAssertEqual(fused.shape, [batch, h / pool, w / pool, c])
            let label = "\(batch) x \(h) x \(w), window \(window), pool \(pool), \(heads) heads of \(d)"
            // The same bits, or NaN on both sides (the planted NaN's query row).
            XCTAssertTrue(zip(fused.scalars, expected.scalars).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) },
                          label)
            if pool > 1 {
                XCTAssertTrue(fused.scalars.contains { $0.isNaN }, "the NaN must win its pool: \(label)")
                continue
            }
            let naive = NaiveKernels.attention(q: parts[0], k: parts[1], v: parts[2], scale: 1 / Float(d).squareRoot())
            assertTensorsClose(attended, naive, relativeL2: tolerance, "window \(window) against the naive twin")
        }
        XCTAssertNil(windowedSelfAttention(qkv: rng.normal([1, 10, 8, 3 * 16]), heads: 1, window: 4), "10 rows in windows of 4: padding")
        XCTAssertNil(windowedSelfAttention(qkv: rng.normal([1, 32, 32, 3 * 16]), heads: 1, window: 0), "1024 keys: too long")
    }

    func testTinyKeyCounts() {
        var rng = SeededGenerator(seed: 12)
        for lk in 1...3 {
            let q = rng.normal([1, 4, 50, 12]), k = rng.normal([1, 4, lk, 12]), v = rng.normal([1, 4, lk, 20])
            let expected = NaiveKernels.attention(q: q, k: k, v: v, scale: 0.3)
            for tiling in tilings {
                assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 0.3, tiling: tiling),
                                   expected, relativeL2: tolerance, "Lk \(lk) tiles \(tiling)")
            }
        }
        // One key: every query gets exactly that key's value.
        let v = rng.normal([1, 1, 1, 6])
        let out = scaledDotProductAttention(query: rng.normal([1, 1, 9, 4]), key: rng.normal([1, 1, 1, 4]), value: v)
        for row in 0..<9 { for c in 0..<6 { XCTAssertEqual(out[0, 0, row, c], v[0, 0, 0, c], accuracy: 1e-6) } }
    }

    func testRunningMaximumAcrossKeyBlocks() {
        var rng = SeededGenerator(seed: 13)
        for lk in [150, 300] { runningMaximum(lk: lk, rng: &rng) }
    }

    func runningMaximum(lk: Int, rng: inout SeededGenerator) {
        let (lq, d, dv) = (23, 8, 12)
        let q = rng.normal([1, 1, lq, d])
        let base = rng.normal([1, 1, lk, d]), v = rng.normal([1, 1, lk, dv])
        // Key norms grow with the key index (scores up to a few hundred), shrink with it, or peak in
        // the middle: later tiles raise most rows' maxima by far more than 87 (exp underflows), the
        // reverse order never raises them, and the peak case does both. (A kernel that skips the
        // rescale of the partial output fails every profile with relative errors of 0.3 to 4.)
        let profiles: [(String, (Int) -> Float)] = [
            ("growing", { j in 1 + Float(j) * 0.5 }),
            ("shrinking", { j in 1 + Float(lk - 1 - j) * 0.5 }),
            ("peak", { j in 60 - abs(Float(j) - 75) * 0.7 }),
            // Scores within +-20 rising slowly: earlier tiles still weigh in after each rescale.
            ("gentle", { j in 0.3 + Float(j) * 0.01 }),
        ]
        for (name, norm) in profiles {
            var k = base
            for j in 0..<lk { for c in 0..<d { k[0, 0, j, c] = base[0, 0, j, c] * norm(j) } }
            let expected = NaiveKernels.attention(q: q, k: k, v: v, scale: 1)
            for tiling in tilings {
                assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 1, tiling: tiling),
                                   expected, relativeL2: tolerance, absolute: 1e-4, "\(name), \(lk) keys, tiles \(tiling)")
            }
        }
    }

    func testManySmallProblemsAndOneQuery() {
        // Windowed-attention-like (many pairs of one tile each) and a single query row over long keys.
        var rng = SeededGenerator(seed: 14)
        let wq = rng.normal([40, 2, 16, 8])
        assertTensorsClose(scaledDotProductAttention(query: wq, key: wq, value: wq),
                           NaiveKernels.attention(q: wq, k: wq, v: wq, scale: 1 / Float(8).squareRoot()),
                           relativeL2: tolerance, "windows")
        let q = rng.normal([1, 1, 1, 16]), k = rng.normal([1, 1, 700, 16]), v = rng.normal([1, 1, 700, 16])
        let expected = NaiveKernels.attention(q: q, k: k, v: v, scale: 0.25)
        for tiling in tilings {
            assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 0.25, tiling: tiling),
                               expected, relativeL2: tolerance, "one query, tiles \(tiling)")
        }
    }
}
