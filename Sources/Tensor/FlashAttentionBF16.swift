// FlashAttentionBF16: the bf16 side of `scaledDotProductAttention` (FlashAttention.swift): in a
// bf16 `Precision` scope on a CPU with AVX-512 BF16, Q, K and V are rounded to bfloat16 once per
// call (K and V packed per batch x head pair for `st_bf16_gemm`), and each key tile runs
//   S = scale * Q K^T (bf16 operands, fp32 sums) -> online softmax (AVX-512 tile) -> P rounded
//   to bf16 -> O (+)= P V (bf16 operands, fp32 sums).

import CAVX512

extension FlashAttentionProblem {
    /// One key tile in bf16 (the tile's keys start at an even index: see `scaledDotProductAttention`).
    func bf16Tile(_ tile: KeyTile, operands bf16: BF16AttentionOperands, scratch: FlashAttentionScratch,
                  out o: UnsafeMutablePointer<Float>) {
        let (rows, keys, keyStart, pair) = (tile.rows, tile.keys, tile.keyStart, tile.pair)
        let scores = scratch.scores
        st_bf16_gemm(rows, keys, d, alpha, bf16.queryRows(pair: pair, start: tile.queryStart), bf16.queryStride,
                     bf16.keys(pair: pair) + 2 * keyStart, bf16.keyWidth, 0, scores, keys)
        let stride = keys + keys % 2  // an odd last tile gets a zero column (the pair's other half)
        let probabilities = scratch.probabilities!
        if AVX512Kernels.enabled {
            st_softmax_tile(scores, rows, keys, tile.first ? 1 : 0, scratch.maxima, scratch.sums, o, dv, probabilities, stride)
        } else {
            onlineSoftmax(scores: scores, rows: rows, keys: keys, first: tile.first,
                          maxima: scratch.maxima, sums: scratch.sums, out: o)
            st_bf16_convert_rows(scores, keys, rows, keys, probabilities, stride)
        }
        st_bf16_gemm(rows, dv, keys, 1, probabilities, stride,
                     bf16.values(pair: pair) + keyStart * bf16.valueWidth, bf16.valueWidth,
                     tile.first ? 0 : 1, o, dv)
    }
}

/// Attention's operands rounded to bfloat16 for a bf16 scope: queries as rows [pairs * Lq, D
/// rounded up to even], and per (batch x head) pair the keys packed as K^T (D x Lk) and the
/// values as V (Lk x Dv), in `st_bf16_gemm`'s pair rows. Key tile j0 of a pair starts at
/// `keys(pair:) + 2 * j0`; value tile j0 (even) at `values(pair:) + j0 * valueWidth`.
struct BF16AttentionOperands {
    let query: UnsafeMutablePointer<UInt16>, key: UnsafeMutablePointer<UInt16>, value: UnsafeMutablePointer<UInt16>
    let lq: Int, queryStride: Int
    let keyWidth: Int, keyCount: Int, valueWidth: Int, valueCount: Int

    init(q: Tensor, k: Tensor, v: Tensor) {
        let (pairs, lq, d) = (q.shape[0] * q.shape[1], q.shape[2], q.shape[3])
        let (lk, dv) = (k.shape[2], v.shape[3])
        self.lq = lq
        queryStride = d + d % 2
        keyWidth = st_bf16_packed_width(lk)
        keyCount = st_bf16_packed_count(d, lk)
        valueWidth = st_bf16_packed_width(dv)
        valueCount = st_bf16_packed_count(lk, dv)
        query = .allocate(capacity: max(1, pairs * lq * queryStride))
        key = .allocate(capacity: max(1, pairs * keyCount))
        value = .allocate(capacity: max(1, pairs * valueCount))
        let (query, key, value, queryStride) = (self.query, self.key, self.value, self.queryStride)
        let (keyCount, valueCount) = (self.keyCount, self.valueCount)
        q.withUnsafePointer { pq in
            Parallel.forEach(pairs * lq, grain: max(1, 16384 / max(d, 1))) { rows in
                st_bf16_convert_rows(pq + rows.lowerBound * d, d, rows.count, d,
                                     query + rows.lowerBound * queryStride, queryStride)
            }
        }
        // Packing splits over pairs, or over a single pair's pair rows when there are few pairs.
        let keyPairRows = (d + 1) / 2, valuePairRows = (lk + 1) / 2
        k.withUnsafePointer { pk in
            v.withUnsafePointer { pv in
                if pairs >= Parallel.threadCount {
                    Parallel.forEach(pairs) { range in
                        for pair in range {
                            st_bf16_pack_b(pk + pair * lk * d, 1, d, d, lk, 0, keyPairRows, key + pair * keyCount)
                            st_bf16_pack_b(pv + pair * lk * dv, dv, 1, lk, dv, 0, valuePairRows,
                                           value + pair * valueCount)
                        }
                    }
                } else {
                    for pair in 0..<pairs {
                        Parallel.forEach(keyPairRows) { r in
                            st_bf16_pack_b(pk + pair * lk * d, 1, d, d, lk, r.lowerBound, r.upperBound,
                                           key + pair * keyCount)
                        }
                        Parallel.forEach(valuePairRows, grain: 256) { r in
                            st_bf16_pack_b(pv + pair * lk * dv, dv, 1, lk, dv, r.lowerBound, r.upperBound,
                                           value + pair * valueCount)
                        }
                    }
                }
            }
        }
    }

    func queryRows(pair: Int, start: Int) -> UnsafePointer<UInt16> {
        UnsafePointer(query + (pair * lq + start) * queryStride)
    }
    func keys(pair: Int) -> UnsafePointer<UInt16> { UnsafePointer(key + pair * keyCount) }
    func values(pair: Int) -> UnsafePointer<UInt16> { UnsafePointer(value + pair * valueCount) }

    func deallocate() {
        query.deallocate()
        key.deallocate()
        value.deallocate()
    }
}
