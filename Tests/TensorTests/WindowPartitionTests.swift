// Tests `windowPartition` / `windowUnpartition` (Sources/Tensor/WindowPartition.swift) against naive
// twins written in this file, which follow the reference (sam2/modeling/backbones/utils.py and
// hieradet.py) step by step on the padded map with per-element subscripts: pad, partition into
// windows, max-pool each window's q (as the reference does, per window), split heads.
//
// Tolerance: none. Both sides only copy and take maxima, so results must match bit for bit.

import XCTest
import Tensor
import TestSupport

final class WindowPartitionTests: XCTestCase {
    /// The reference's route for one of q/k/v: x [B, H, W, Ctot] -> channel range -> pad with `pad`
    /// to whole windows -> windows [B*nW, ws, ws, C] -> per-window k x k max-pool -> heads
    /// [B*nW, N, (ws/k)^2, D].
    static func naivePartition(_ x: Tensor, channels: Range<Int>, heads: Int, window ws: Int, pool k: Int,
                               pad: [Float]) -> Tensor {
        let (batch, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let c = channels.count, d = c / heads
        let (hp, wp) = ((h + ws - 1) / ws * ws, (w + ws - 1) / ws * ws)
        let (gh, gw) = (hp / ws, wp / ws)
        let wq = ws / k
        var out = Tensor(zeros: [batch * gh * gw, heads, wq * wq, d])
        func padded(_ b: Int, _ y: Int, _ xx: Int, _ ch: Int) -> Float {
            y < h && xx < w ? x[b, y, xx, channels.lowerBound + ch] : pad[ch]
        }
        for b in 0..<batch { for i in 0..<gh { for j in 0..<gw {
            let win = (b * gh + i) * gw + j
            for a in 0..<wq { for e in 0..<wq { for ch in 0..<c {
                var best = -Float.infinity
                for dy in 0..<k { for dx in 0..<k {
                    let v = padded(b, i * ws + a * k + dy, j * ws + e * k + dx, ch)
                    if v > best || v.isNaN { best = v }  // torch's max-pool: NaN wins
                } }
                out[win, ch / d, a * wq + e, ch % d] = best
            } } }
        } } }
        return out
    }

    /// The reference's unpartition: heads merged, windows laid back on the padded grid, cropped.
    static func naiveUnpartition(_ windows: Tensor, batch: Int, height: Int, width: Int, window ws: Int) -> Tensor {
        let (heads, d) = (windows.shape[1], windows.shape[3])
        let gw = (width + ws - 1) / ws, gh = (height + ws - 1) / ws
        var out = Tensor(zeros: [batch, height, width, heads * d])
        for b in 0..<batch { for y in 0..<height { for x in 0..<width { for ch in 0..<(heads * d) {
            let win = (b * gh + y / ws) * gw + x / ws
            out[b, y, x, ch] = windows[win, ch / d, (y % ws) * ws + x % ws, ch % d]
        } } } }
        return out
    }

    func testPartitionMatchesReferenceSteps() {
        var rng = SeededGenerator(seed: 7)
        // (B, H, W, window, pool, heads): exact fit, padding, pooling with and without padding,
        // one window larger than the map, several heads.
        let cases: [(Int, Int, Int, Int, Int, Int)] = [
            (1, 8, 8, 4, 1, 1), (2, 7, 5, 3, 1, 2), (1, 8, 8, 6, 1, 2), (1, 12, 12, 10, 2, 2),
            (2, 16, 16, 8, 2, 1), (1, 6, 6, 8, 1, 3), (1, 8, 8, 8, 2, 4),
        ]
        for (batch, h, w, ws, pool, heads) in cases {
            let c = 4 * heads
            let x = rng.normal([batch, h, w, 3 * c])
            let bias = rng.normal([3 * c])
            for part in 0..<3 {
                let range = (part * c)..<((part + 1) * c)
                let padding = bias.slice(axis: 0, range)
                let fast = x.windowPartition(channels: range, heads: heads, window: (ws / pool, ws / pool),
                                             pool: pool, padding: padding)
                let naive = Self.naivePartition(x, channels: range, heads: heads, window: ws, pool: pool,
                                                pad: padding.scalars)
                let label = "B\(batch) \(h)x\(w) ws\(ws) pool\(pool) heads\(heads) part\(part)"
                XCTAssertEqual(fast.shape, naive.shape, label)
                // Rows of the pooled map past (H/k, W/k) are padding in the fast kernel and mixed
                // or pure padding in the reference; the encoder crops them. Compare the rest.
                let (hq, wq) = (h / pool, w / pool)
                let gw = (w + ws - 1) / ws, gh = (h + ws - 1) / ws, wn = ws / pool
                var mismatches = 0
                for win in 0..<fast.shape[0] { for n in 0..<heads { for t in 0..<(wn * wn) {
                    let y = (win / gw) % gh * wn + t / wn, xx = win % gw * wn + t % wn
                    if pool > 1 && (y >= hq || xx >= wq) { continue }
                    for j in 0..<fast.shape[3] where fast[win, n, t, j] != naive[win, n, t, j] { mismatches += 1 }
                } } }
                XCTAssertEqual(mismatches, 0, label)
            }
        }
    }

    func testGlobalWindowIsHeadSplit() {
        var rng = SeededGenerator(seed: 8)
        let x = rng.normal([2, 5, 6, 12])
        let fast = x.windowPartition(channels: 0..<12, heads: 3, window: (5, 6))
        let expected = x.reshaped([2, 30, 3, 4]).permuted([0, 2, 1, 3])
        XCTAssertEqual(fast.shape, [2, 3, 30, 4])
        XCTAssertEqual(fast.scalars, expected.scalars)
        let pooled = x.windowPartition(channels: 0..<12, heads: 3, window: (2, 3), pool: 2)
        let expectedPooled = x.maxPool2dChannelsLast(kernel: 2).reshaped([2, 6, 3, 4]).permuted([0, 2, 1, 3])
        XCTAssertEqual(pooled.scalars, expectedPooled.scalars)
    }

    func testUnpartitionInvertsPartition() {
        var rng = SeededGenerator(seed: 9)
        for (batch, h, w, ws, heads) in [(1, 8, 8, 4, 1), (2, 7, 5, 3, 2), (1, 6, 6, 10, 3), (1, 9, 4, 2, 2)] {
            let x = rng.normal([batch, h, w, 2 * heads])
            let windows = x.windowPartition(channels: 0..<(2 * heads), heads: heads, window: (ws, ws))
            let back = windowUnpartition(windows, batch: batch, height: h, width: w, window: (ws, ws))
            XCTAssertEqual(back.scalars, x.scalars, "round trip \(h)x\(w) ws\(ws)")
            let noisy = rng.normal(windows.shape)
            let fast = windowUnpartition(noisy, batch: batch, height: h, width: w, window: (ws, ws))
            let naive = Self.naiveUnpartition(noisy, batch: batch, height: h, width: w, window: ws)
            XCTAssertEqual(fast.scalars, naive.scalars, "unpartition \(h)x\(w) ws\(ws)")
        }
    }

    /// Heads of 48 and 20 channels: the 16-channel vector moves and pooled maxima (48: three vectors;
    /// 20: a vector and a four-channel tail), with a NaN in a vector lane that must win its pool.
    func testWideHeadsTakeTheVectorPaths() {
        var rng = SeededGenerator(seed: 10)
        for d in [48, 20] {
            let c = 2 * d
            var x = rng.normal([1, 8, 12, 3 * c])
            x[0, 2, 5, 17] = .nan  // pooled cell (1, 2) of q's channel 17, not the last cell of its 2 x 2 pool
            let bias = rng.normal([3 * c])
            for (ws, pool) in [(4, 1), (4, 2), (8, 2)] {
                for part in 0..<3 {
                    let range = (part * c)..<((part + 1) * c)
                    let padding = bias.slice(axis: 0, range)
                    let fast = x.windowPartition(channels: range, heads: 2, window: (ws / pool, ws / pool), pool: pool,
                                                 padding: padding)
                    let naive = Self.naivePartition(x, channels: range, heads: 2, window: ws, pool: pool, pad: padding.scalars)
                    XCTAssertEqual(fast.shape, naive.shape)
                    let same = zip(fast.scalars, naive.scalars).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
                    XCTAssertTrue(same, "D \(d) ws \(ws) pool \(pool) part \(part)")
                    if part == 0 && pool == 2 { XCTAssertTrue(fast.scalars.contains { $0.isNaN }, "the NaN must survive pooling") }
                }
            }
            let windows = x.windowPartition(channels: 0..<c, heads: 2, window: (4, 4))
            XCTAssertEqual(windowUnpartition(windows, batch: 1, height: 8, width: 12, window: (4, 4)).scalars.count, 8 * 12 * c)
            let noisy = rng.normal(windows.shape)
            XCTAssertEqual(windowUnpartition(noisy, batch: 1, height: 8, width: 12, window: (4, 4)).scalars,
                           Self.naiveUnpartition(noisy, batch: 1, height: 8, width: 12, window: 4).scalars, "unpartition D \(d)")
        }
    }

    func testNaNPropagatesThroughPooling() {
        var x = Tensor(zeros: [1, 4, 4, 2])
        x[0, 0, 1, 0] = .nan  // not the last cell of its pooling window: later cells must not replace it
        let pooled = x.windowPartition(channels: 0..<2, heads: 1, window: (2, 2), pool: 2)
        XCTAssertTrue(pooled[0, 0, 0, 0].isNaN)
        XCTAssertEqual(pooled[0, 0, 0, 1], 0)
    }
}
