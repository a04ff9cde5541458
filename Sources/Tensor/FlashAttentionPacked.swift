// FlashAttentionPacked: the fp32 key tile of `scaledDotProductAttention` on CAVX2's packed kernel
// (`st_f32_gemm_bias`), where `PackedF32Kernel` replaces OpenBLAS (AVX2 cores) and the problem has
// 256 keys or more. A small model's attention products are small (memory attention at 256 px: 128
// query rows x 256 keys x 128) and OpenBLAS packs both operands and zeroes C on every call; here
// each (batch x head) pair's K^T (scaled) and V are packed once per call, Q and the probabilities
// are read where they lie. Each element of a product is one sum in order, so results do not depend
// on how the queries are cut into blocks. (Hiera's 64-key windows ran slower packed: OpenBLAS.)

import CAVX2
import Foundation

/// Attention's keys and values packed for `st_f32_gemm_bias`, per (batch x head) pair: K^T scaled
/// by the softmax scale (D x Lk, 16-key panels), and V (Lk x Dv) packed tile by tile of
/// `blockKeys` keys (a tile's panels have that depth), so key tile t reads its own panels.
struct F32AttentionOperands {
    let key: UnsafeMutablePointer<Float>, value: UnsafeMutablePointer<Float>
    let keyCount: Int, valueCount: Int, valuePanels: Int

    /// Whether attention of this size packs its operands: at least 256 keys (memory attention at
    /// 256 px, a global Hiera block) and at most 8 MiB of copies (panels padded to 16 columns).
    /// Hiera's windows (64 keys) ran slower packed (the encoder 35.7 -> 36.2 ms a frame); larger
    /// problems stay on OpenBLAS, where its per-call packing is a small share and the copies would
    /// add to the peak memory. Which kernel runs depends on the sizes only (not on the thread
    /// count), so a tracker's bits do not depend on its cores.
    static func packs(pairs: Int, lk: Int, d: Int, dv: Int) -> Bool {
        PackedF32Kernel.enabled && lk >= 256
            && pairs * (st_f32_packed_count(d, lk) + lk * 16 * st_f32_panel_count(dv)) <= 1 << 21
    }

    /// `blockKeys` must be a multiple of 16 (key tiles start at panel boundaries).
    init(k: Tensor, v: Tensor, alpha: Float, blockKeys: Int) {
        precondition(blockKeys % 16 == 0, "packed attention: key tiles of \(blockKeys)")
        let (pairs, lk, d) = (k.shape[0] * k.shape[1], k.shape[2], k.shape[3])
        let dv = v.shape[3]
        valuePanels = st_f32_panel_count(dv)
        keyCount = st_f32_packed_count(d, lk)
        valueCount = lk * 16 * valuePanels
        key = .allocate(capacity: max(1, pairs * keyCount))
        value = .allocate(capacity: max(1, pairs * valueCount))
        let (key, value, keyCount, valueCount) = (self.key, self.value, self.keyCount, self.valueCount)
        k.withUnsafePointer { pk in
            v.withUnsafePointer { pv in
                Parallel.forEach(pairs, grain: max(1, 8192 / max(1, lk * (d + dv)))) { range in
                    for pair in range {
                        let packedKeys = key + pair * keyCount
                        st_f32_pack_b(pk + pair * lk * d, 1, d, d, lk, 0, st_f32_panel_count(lk), packedKeys)
                        for i in 0..<keyCount { packedKeys[i] *= alpha }
                        var start = 0
                        while start < lk {
                            let keys = min(blockKeys, lk - start)
                            st_f32_pack_b(pv + (pair * lk + start) * dv, dv, 1, keys, dv, 0, valuePanels,
                                          value + pair * valueCount + start * 16 * valuePanels)
                            start += keys
                        }
                    }
                }
            }
        }
    }

    func deallocate() {
        key.deallocate()
        value.deallocate()
    }
}

extension FlashAttentionProblem {
    /// One key tile in fp32 on the packed kernel: S = Q (scale K)^T, the online softmax,
    /// O = P V on the first tile, else O += P V (through the scratch's product rows).
    func packedTile(_ tile: KeyTile, query qBlock: UnsafePointer<Float>, operands packed: F32AttentionOperands,
                    scratch: FlashAttentionScratch, out o: UnsafeMutablePointer<Float>) {
        let (rows, keys, keyStart, pair) = (tile.rows, tile.keys, tile.keyStart, tile.pair)
        let keyPanels = packed.key + pair * packed.keyCount + (keyStart / 16) * d * 16
        st_f32_gemm_bias(rows, keys, d, qBlock, d, keyPanels, 0, st_f32_panel_count(keys), nil, scratch.scores, keys)
        onlineSoftmax(scores: scratch.scores, rows: rows, keys: keys, first: tile.first,
                      maxima: scratch.maxima, sums: scratch.sums, out: o)
        let valuePanels = packed.value + pair * packed.valueCount + keyStart * 16 * packed.valuePanels
        if tile.first {
            st_f32_gemm_bias(rows, dv, keys, scratch.scores, keys, valuePanels, 0, packed.valuePanels, nil, o, dv)
        } else {
            let product = scratch.product!
            st_f32_gemm_bias(rows, dv, keys, scratch.scores, keys, valuePanels, 0, packed.valuePanels, nil, product, dv)
            binaryContiguous(o, product, o, rows * dv, .add)
        }
    }
}
