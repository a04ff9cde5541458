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
                        forEachItem(items, scratch: scratchCount, run)
                    }
                }
            }
        }
    }

    /// `body(item, scratch)` for every item in 0..<items, on the current context's workers, each
    /// with its own scratch of `scratch` floats; items are claimed a few at a time, so a worker
    /// slowed by another process does not hold up the others at the end. One worker (or one item)
    /// runs on the calling thread.
    static func forEachItem(_ items: Int, scratch count: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let workers = min(Parallel.threadCount, items)
        if workers <= 1 {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            defer { scratch.deallocate() }
            for item in 0..<items { body(item, scratch) }
            return
        }
        let counter = WorkCounter(total: items, chunk: max(1, items / (workers * 8)))
        Parallel.forEach(workers) { slots in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            defer { scratch.deallocate() }
            for _ in slots {
                while let claimed = counter.next() { for item in claimed { body(item, scratch) } }
            }
        }
    }

    /// Windowed self-attention straight from a qkv projection's channels-last map: qkv
    /// [B, H, W, 3 C] (q, k, v one after another, heads within each) -> [B, H / s, W / s, C] with
    /// s = `pool`. Keys and values are the window x window blocks of tokens (the whole map when
    /// `window` is 0); queries are the same blocks max-pooled s x s (window / s a side), per head of
    /// C / `heads` channels, scale 1/sqrt(D). The same as `windowPartition` of q (pooled), k and v,
    /// `scaledDotProductAttention` and `windowUnpartition`, bit for bit on this kernel, without the
    /// three partitioned copies and the unpartition. Nil where it does not apply: a bf16 scope, no
    /// short kernel here, windows that do not tile the map (padding) or the pool, or more than
    /// `longestKeys` keys a window.
    static func windowedSelfAttention(qkv: Tensor, heads: Int, window: Int, pool s: Int = 1) -> Tensor? {
        guard qkv.rank == 4, s >= 1, !Precision.usesBFloat16 else { return nil }
        let (batch, h, w, total) = (qkv.shape[0], qkv.shape[1], qkv.shape[2], qkv.shape[3])
        let (wh, ww) = window > 0 ? (window, window) : (h, w)
        let keys = wh * ww
        guard total % 3 == 0, heads > 0, (total / 3) % heads == 0, h % wh == 0, w % ww == 0, wh % s == 0,
              ww % s == 0, runs(lk: keys, tiling: .default) else { return nil }
        let channels = total / 3, d = channels / heads
        let (gridH, gridW) = (h / wh, w / ww)
        let (qh, qw) = (wh / s, ww / s)  // a window's queries after pooling
        let (ho, wo) = (h / s, w / s)
        let queries = qh * qw, cells = s * s
        // Relative to a window's first token: each query's pooling cells and key j in the qkv map,
        // query i's row in the output map.
        var queryOffsets = [Int](repeating: 0, count: queries * cells)
        var keyOffsets = [Int](repeating: 0, count: keys), outOffsets = [Int](repeating: 0, count: queries)
        for i in 0..<queries {
            let (y, x) = (i / qw, i % qw)
            for dy in 0..<s { for dx in 0..<s { queryOffsets[i * cells + dy * s + dx] = ((y * s + dy) * w + x * s + dx) * total } }
            outOffsets[i] = (y * wo + x) * channels
        }
        for j in 0..<keys { keyOffsets[j] = ((j / ww) * w + j % ww) * total }
        let items = batch * gridH * gridW * heads
        var out = Tensor(uninitialized: [batch, ho, wo, channels])
        let scratchCount = st_f32_window_attention_scratch(queries, keys, d)
        let alpha = 1 / Float(d).squareRoot()
        qkv.withUnsafePointer { pt in
            out.withUnsafeMutablePointer { po in
                queryOffsets.withUnsafeBufferPointer { qOff in
                    keyOffsets.withUnsafeBufferPointer { kOff in
                        outOffsets.withUnsafeBufferPointer { oOff in
                            func run(_ item: Int, _ scratch: UnsafeMutablePointer<Float>) {
                                let head = item % heads, win = item / heads
                                let b = win / (gridH * gridW), gy = (win / gridW) % gridH, gx = win % gridW
                                let q = pt + ((b * h + gy * wh) * w + gx * ww) * total + head * d
                                let o = po + ((b * ho + gy * qh) * wo + gx * qw) * channels + head * d
                                st_f32_window_attention(queries, keys, d, alpha, q, qOff.baseAddress, cells, q + channels,
                                                        q + 2 * channels, kOff.baseAddress, o, oOff.baseAddress, scratch)
                            }
                            forEachItem(items, scratch: scratchCount, run)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Windowed self-attention from a qkv map without partitioned copies, queries max-pooled `pool` x
/// `pool`, where CAVX2's short-key kernel applies (`ShortAttention.windowedSelfAttention`):
/// qkv [B, H, W, 3 C] -> [B, H / pool, W / pool, C], or nil (the caller partitions instead).
public func windowedSelfAttention(qkv: Tensor, heads: Int, window: Int, pool: Int = 1) -> Tensor? {
    ShortAttention.windowedSelfAttention(qkv: qkv, heads: heads, window: window, pool: pool)
}
