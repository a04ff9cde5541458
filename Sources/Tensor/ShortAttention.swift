// ShortAttention: attention whose keys fit one score tile (at most 256), in one pass per query
// block on CAVX2's short-attention kernel: Hiera's windows (16 and 64 keys) and its global block
// at 256 px (256), the mask decoder's attentions, memory attention's self-attention at 256 px.
// No online softmax (the whole score row is held), no per-window OpenBLAS calls.

import CAVX2

enum ShortAttention {
    /// Keys of the longest sequence the kernel takes (the default score tile's width).
    static let longestKeys = 256

    /// Query rows of one work item at most: a window's queries are one item; a longer sequence is
    /// cut into blocks of this many rows (a multiple of the kernel's six-row blocks), each item
    /// packing its pair's keys and values again (1/96 of the item's products).
    static let blockRows = 96

    /// Whether `scaledDotProductAttention` takes the short path for `lk` keys with `tiling`: fp32
    /// products (the caller rules out a bf16 scope), a CPU with AVX2 and FMA, and all keys within
    /// one of the tiling's key tiles. `.automatic` takes it where the packed kernel replaces
    /// OpenBLAS (`PackedF32Kernel.enabled`), `.short` wherever the CPU allows (tests).
    static func runs(lk: Int, tiling: AttentionTiling) -> Bool {
        guard lk > 0, lk <= min(longestKeys, tiling.keys) else { return false }
        switch tiling.kernel {
        case .automatic: return PackedF32Kernel.enabled
        case .short: return PackedF32Kernel.supported
        case .openBLAS, .packed: return false
        }
    }

    /// out [B, N, Lq, Dv] = softmax(alpha q k^T) v for every (batch, head) pair; the caller checked `runs`.
    static func attend(query q: Tensor, key k: Tensor, value v: Tensor, alpha: Float, into out: inout Tensor) {
        let (pairs, lq, d) = (q.shape[0] * q.shape[1], q.shape[2], q.shape[3])
        let (lk, dv) = (k.shape[2], v.shape[3])
        let blocks = ceilDivide(lq, blockRows)
        let items = pairs * blocks
        let scratchCount = st_f32_short_attention_scratch(lk, d, dv)
        let workers = min(Parallel.threadCount, items)
        q.withUnsafePointer { pq in
            k.withUnsafePointer { pk in
                v.withUnsafePointer { pv in
                    out.withUnsafeMutablePointer { po in
                        func run(_ item: Int, _ scratch: UnsafeMutablePointer<Float>) {
                            let (pair, start) = (item / blocks, (item % blocks) * blockRows)
                            let rows = min(blockRows, lq - start)
                            st_f32_short_attention(lk, d, dv, alpha, pq + (pair * lq + start) * d, pk + pair * lk * d,
                                                   pv + pair * lk * dv, po + (pair * lq + start) * dv, rows, scratch)
                        }
                        if workers <= 1 {
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                            defer { scratch.deallocate() }
                            for item in 0..<items { run(item, scratch) }
                            return
                        }
                        // Claimed a few at a time, so a worker slowed by another process does not
                        // hold up the others at the end.
                        let counter = WorkCounter(total: items, chunk: max(1, items / (workers * 8)))
                        Parallel.forEach(workers) { slots in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                            defer { scratch.deallocate() }
                            for _ in slots {
                                while let claimed = counter.next() { for item in claimed { run(item, scratch) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
