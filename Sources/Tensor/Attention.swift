// Attention: scaled dot-product attention with heads, as a flash-style kernel: the [Lq, Lk] score
// matrix (4096 x 28672 for SAM 2.1 memory attention) is never materialised; each worker walks
// key blocks for one query block at a time with an online softmax, so its score tile stays in cache.
//
// Shapes: q [B, N, Lq, D], k [B, N, Lk, D], v [B, N, Lk, Dv] -> [B, N, Lq, Dv]
// (B batch, N heads, L tokens, D channels per head).
//
// Per query block Q (r rows) the kernel keeps the output rows O [r, Dv] (written straight into the
// result), the running row maximum m and the running row sum l. For each key block K, V (c keys):
//   S = scale * Q K^T                      (OpenBLAS, [r, c], in a per-worker scratch tile)
//   m' = max(m, rowmax S);  P = exp(S - m');  l = l * exp(m - m') + rowsum P
//   O = O * exp(m - m') + P V              (rows rescaled only when their maximum grew)
// and at the end O /= l. The first key block starts from m = -inf, l = 0, O = 0, so a problem
// with a single key block (Hiera windows, the decoder) is the plain softmax(QK^T)V.
//
// Work items are (batch x head, query block) pairs, handed out dynamically to `Parallel.threadCount`
// workers, each running OpenBLAS serially on its own scratch (allocated once per call). One item
// alone (tiny problems) runs on the calling thread with OpenBLAS free to thread.

import CAVX512
import Foundation

/// Tile sizes of the flash attention kernel: query rows per work item and keys per score tile.
public struct AttentionTiling: Sendable, Equatable {
    /// Query rows of one work item (fewer when that would leave workers idle).
    public var queryRows: Int
    /// Keys per score tile.
    public var keys: Int

    public init(queryRows: Int, keys: Int) {
        precondition(queryRows > 0 && keys > 0, "attention tiles must be non-empty")
        self.queryRows = queryRows
        self.keys = keys
    }

    /// 512 query rows x 256 keys (a 512 KiB score tile): the fastest of 64-1024 rows x 256-1024
    /// keys on 4096 x 28672 x 256 memory attention (AMD EPYC Zen, AVX2 + FMA, 512 KiB L2 per core,
    /// OpenBLAS 0.3.21; see Sources/Tensor/README.md). Larger query blocks re-pack each key and value
    /// tile fewer times; 256 keys keep the P V product's depth within one OpenBLAS K block.
    public static let `default` = AttentionTiling(queryRows: 512, keys: 256)
}

/// softmax(q k^T * scale) v for every (batch, head). `scale` defaults to 1/sqrt(D).
/// `tiling` sets the query-block and key-block sizes (tests lower them to exercise the blocking).
public func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, scale: Float? = nil,
                                      tiling: AttentionTiling = .default) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention expects [B, N, L, D] tensors")
    let (batch, heads, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let lk = k.shape[2], dv = v.shape[3]
    precondition(k.shape == [batch, heads, lk, d] && v.shape == [batch, heads, lk, dv],
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape)")
    var out = Tensor(uninitialized: [batch, heads, lq, dv])
    let pairs = batch * heads
    guard pairs > 0, lq > 0, dv > 0 else { return out }
    let alpha = scale ?? 1 / Float(d).squareRoot()

    // Query blocks of at most the tiling's rows, more of them when there would be fewer items than
    // workers. Blocks (query and key) are evened out: 28736 keys in tiles of <= 256 are 112 tiles of
    // 255 and one of 176 rather than 112 of 256 and one of 64.
    let threads = Parallel.threadCount
    let queryBlocks = max(ceilDivide(lq, tiling.queryRows), min(lq, ceilDivide(threads, pairs)))
    let blockRows = ceilDivide(lq, queryBlocks)
    let items = pairs * ceilDivide(lq, blockRows)
    var blockKeys = lk == 0 ? 1 : ceilDivide(lk, ceilDivide(lk, tiling.keys))
    let workers = min(threads, items)
    // bf16 scope: Q, K and V rounded to bfloat16 once (K and V packed per pair); the products
    // then read key tiles in place, which needs tiles starting at even keys.
    let bf16 = Precision.usesBFloat16 && lk > 0
    if bf16 { blockKeys += blockKeys % 2 }
    let operands = bf16 ? BF16AttentionOperands(q: q, k: k, v: v) : nil
    defer { operands?.deallocate() }

    q.withUnsafePointer { pq in
        k.withUnsafePointer { pk in
            v.withUnsafePointer { pv in
                out.withUnsafeMutablePointer { po in
                    let problem = FlashAttentionProblem(
                        q: pq, k: pk, v: pv, out: po, lq: lq, lk: lk, d: d, dv: dv, alpha: alpha,
                        blockRows: blockRows, blockKeys: blockKeys, queryBlocks: items / pairs, bf16: operands)
                    if workers <= 1 {
                        let scratch = FlashAttentionScratch(rows: blockRows, keys: blockKeys, bf16: bf16)
                        defer { scratch.deallocate() }
                        for item in 0..<items { problem.run(item: item, scratch: scratch) }
                        return
                    }
                    // Items are claimed a few at a time from a shared counter, so a worker slowed
                    // down by another process does not hold up the others at the end.
                    let counter = WorkCounter(total: items, chunk: max(1, items / (workers * 8)))
                    Parallel.forEach(workers) { slots in
                        let scratch = FlashAttentionScratch(rows: blockRows, keys: blockKeys, bf16: bf16)
                        defer { scratch.deallocate() }
                        for _ in slots {
                            while let claimed = counter.next() {
                                for item in claimed { problem.run(item: item, scratch: scratch) }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// One worker's buffers: a score tile and the running row maxima and sums of its query block
/// (and in bf16, the probabilities rounded for the P V product).
struct FlashAttentionScratch {
    let scores: UnsafeMutablePointer<Float>
    let maxima: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>
    let probabilities: UnsafeMutablePointer<UInt16>?

    init(rows: Int, keys: Int, bf16: Bool = false) {
        scores = .allocate(capacity: rows * keys)
        maxima = .allocate(capacity: rows)
        sums = .allocate(capacity: rows)
        probabilities = bf16 ? .allocate(capacity: rows * (keys + 1)) : nil
    }

    func deallocate() {
        scores.deallocate()
        maxima.deallocate()
        sums.deallocate()
        probabilities?.deallocate()
    }
}

/// Pointers and sizes of one attention call; `run` computes one (pair, query block) item.
struct FlashAttentionProblem {
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let lq: Int, lk: Int, d: Int, dv: Int
    let alpha: Float
    let blockRows: Int, blockKeys: Int, queryBlocks: Int
    /// The bf16 operands in a bf16 scope (nil: fp32 products on OpenBLAS).
    let bf16: BF16AttentionOperands?

    func run(item: Int, scratch: FlashAttentionScratch) {
        let pair = item / queryBlocks
        let start = (item % queryBlocks) * blockRows
        let rows = min(blockRows, lq - start)
        let qBlock = q + (pair * lq + start) * d
        let kBase = k + pair * lk * d, vBase = v + pair * lk * dv
        let o = out + (pair * lq + start) * dv
        let scores = scratch.scores, maxima = scratch.maxima, sums = scratch.sums
        guard lk > 0 else {
            // No keys: PyTorch's softmax over an empty axis gives an empty sum; return zeros.
            o.update(repeating: 0, count: rows * dv)
            return
        }
        var keyStart = 0
        while keyStart < lk {
            let keys = min(blockKeys, lk - keyStart)
            let first = keyStart == 0
            if let bf16 {
                st_bf16_gemm(rows, keys, d, alpha, bf16.queryRows(pair: pair, start: start), bf16.queryStride,
                             bf16.keys(pair: pair) + 2 * keyStart, bf16.keyWidth, 0, scores, keys)
            } else {
                sgemm(transposeA: false, transposeB: true, m: rows, n: keys, k: d, alpha: alpha,
                      a: qBlock, lda: d, b: kBase + keyStart * d, ldb: d, c: scores, ldc: keys)
            }
            let stride = keys + keys % 2  // bf16: an odd last tile gets a zero column (the pair's other half)
            if AVX512Kernels.enabled && bf16 != nil {
                st_softmax_tile(scores, rows, keys, first ? 1 : 0, maxima, sums, o, dv, scratch.probabilities, stride)
            } else {
                onlineSoftmax(scores: scores, rows: rows, keys: keys, first: first, maxima: maxima, sums: sums, out: o)
                if let probabilities = scratch.probabilities {
                    st_bf16_convert_rows(scores, keys, rows, keys, probabilities, stride)
                }
            }
            if let bf16, let probabilities = scratch.probabilities {
                st_bf16_gemm(rows, dv, keys, 1, probabilities, stride,
                             bf16.values(pair: pair) + keyStart * bf16.valueWidth, bf16.valueWidth,
                             first ? 0 : 1, o, dv)
            } else {
                sgemm(transposeA: false, transposeB: false, m: rows, n: dv, k: keys,
                      a: scores, lda: keys, b: vBase + keyStart * dv, ldb: dv,
                      beta: first ? 0 : 1, c: o, ldc: dv)
            }
            keyStart += keys
        }
        for row in 0..<rows { scaleRow(o + row * dv, dv, by: 1 / sums[row]) }
    }
}

extension FlashAttentionProblem {
    /// One key tile of the online softmax (fp32; the row loops in C on AVX-512, with the same
    /// results: `exponentiateRow`); in a bf16 scope on AVX-512 `st_softmax_tile` runs instead.
    func onlineSoftmax(scores: UnsafeMutablePointer<Float>, rows: Int, keys: Int, first: Bool,
                       maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                       out o: UnsafeMutablePointer<Float>) {
        let inC = AVX512Kernels.enabled  // the bit-exact C twins of the row loops
        for row in 0..<rows {
            let s = scores + row * keys
            let previous = first ? -Float.infinity : maxima[row]
            let maximum = Swift.max(previous, rowMaximum(s, keys, inC: inC))
            // A row of -inf scores so far keeps reference 0 (exp gives 0, not NaN).
            let reference = maximum == -.infinity ? 0 : maximum
            let blockSum = exponentiateRow(s, keys, subtracting: reference, inC: inC)
            if first {
                sums[row] = blockSum
            } else if previous < maximum {
                // The maximum grew: shrink what was accumulated so far by exp(m - m').
                let factor = vectorExp(FloatVector(repeating: previous - reference))[0]
                sums[row] = sums[row] * factor + blockSum
                scaleRow(o + row * dv, dv, by: factor)
            } else {
                sums[row] += blockSum
            }
            maxima[row] = maximum
        }
    }
}

@inline(__always)
func ceilDivide(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// Hands out `0..<total` in chunks to whichever worker asks next.
final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var nextItem = 0
    private let total: Int, chunk: Int

    init(total: Int, chunk: Int) {
        self.total = total
        self.chunk = chunk
    }

    func next() -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard nextItem < total else { return nil }
        let start = nextItem
        nextItem = Swift.min(total, start + chunk)
        return start..<nextItem
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
