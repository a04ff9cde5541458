// FlashAttention: scaled dot-product attention with heads, as a flash-style kernel: the [Lq, Lk] score
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
// with a single key block is the plain softmax(QK^T)V; in fp32 on AVX2 cores such problems (Hiera
// windows, the decoder; at most 256 keys) go to ShortAttention.swift instead.
//
// Work items are (batch x head, query block) pairs, handed out dynamically to `Parallel.threadCount`
// workers, each running OpenBLAS serially on its own scratch (allocated once per call). One item
// alone (tiny problems) runs on the calling thread. The fp32 tile step on OpenBLAS is here; the
// fp32 one on CAVX2's packed kernel (AVX2 cores; 256 keys or more and at most 8 MiB of packed
// keys and values) is in FlashAttentionPacked.swift;
// the bf16 one (a bf16 `Precision` scope on AVX-512 BF16) and its operand packing are in
// FlashAttentionBF16.swift.

import CAVX512
import Foundation

/// Tile sizes of the flash attention kernel (query rows per work item, keys per score tile) and
/// which kernel runs its fp32 products.
public struct AttentionTiling: Sendable, Equatable {
    /// The fp32 products' kernel.
    public enum Kernel: Sendable, Equatable {
        /// CAVX2's packed kernel where `F32AttentionOperands.packs` chooses it, else OpenBLAS.
        case automatic
        /// OpenBLAS's tiles.
        case openBLAS
        /// CAVX2's packed kernel wherever the CPU has AVX2 and FMA, whatever the size (tests:
        /// it is covered on AVX-512 cores too, where `automatic` keeps OpenBLAS).
        case packed
        /// CAVX2's short-attention kernel wherever the CPU has AVX2 and FMA and the keys fit one
        /// tile (`ShortAttention.runs`), else as `automatic` (tests).
        case short
    }

    /// Query rows of one work item at most (blocks are an eighth of the queries, at least 128
    /// rows or all of them).
    public var queryRows: Int
    /// Keys per score tile (rounded up to 16 on the packed kernel).
    public var keys: Int
    /// The fp32 products' kernel (tests choose one to cover both).
    public var kernel: Kernel

    public init(queryRows: Int, keys: Int, kernel: Kernel = .automatic) {
        precondition(queryRows > 0 && keys > 0, "attention tiles must be non-empty")
        self.queryRows = queryRows
        self.keys = keys
        self.kernel = kernel
    }

    /// 512 query rows x 256 keys (a 512 KiB score tile): the fastest of 64-1024 rows x 256-1024
    /// keys on 4096 x 28672 x 256 memory attention (AMD EPYC Zen, AVX2 + FMA, 512 KiB L2 per core,
    /// OpenBLAS 0.3.21; Tools/bench/README.md, "Tensor kernels"). Larger query blocks re-pack each key and value
    /// tile fewer times; 256 keys keep the P V product's depth within one OpenBLAS K block.
    public static let `default` = AttentionTiling(queryRows: 512, keys: 256)

    /// Query rows of a work item for `queries` queries: an eighth of them, at least 128 (or all)
    /// and at most `tileRows`.
    static func queryBlockRows(queries: Int, tileRows: Int) -> Int {
        min(tileRows, max(128, ceilDivide(queries, 8)), queries)
    }
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

    // Query blocks of an eighth of the queries, at least 128 rows (or all of them) and at most
    // the tiling's rows, so a short sequence still gives several workers a share (memory
    // attention's 256 queries: 2 blocks of 128; 4096 queries: 8 of 512).
    // The blocks do not depend on the thread count: results must not depend on how many cores
    // ran them, and OpenBLAS's products gave other bits for a different split of the rows. Key blocks
    // are evened out: 28736 keys in tiles of <= 256 are 112 tiles of 255 and one of 176 rather
    // than 112 of 256 and one of 64.
    let blockRows = AttentionTiling.queryBlockRows(queries: lq, tileRows: tiling.queryRows)
    var blockKeys = lk == 0 ? 1 : ceilDivide(lk, ceilDivide(lk, tiling.keys))
    // bf16 scope: Q, K and V rounded to bfloat16 once (K and V packed per pair); the products
    // then read key tiles in place, which needs tiles starting at even keys.
    let bf16 = Precision.usesBFloat16 && lk > 0
    // Keys that fit one tile, fp32: one pass per query block on CAVX2's kernel (ShortAttention.swift).
    if !bf16 && ShortAttention.runs(lk: lk, tiling: tiling) {
        ShortAttention.attend(query: q, key: k, value: v, alpha: alpha, into: &out)
        return out
    }
    if bf16 { blockKeys += blockKeys % 2 }
    let operands = bf16 ? BF16AttentionOperands(q: q, k: k, v: v) : nil
    defer { operands?.deallocate() }
    // fp32 on AVX2 cores: K and V packed once for CAVX2's kernel (FlashAttentionPacked.swift),
    // key tiles on its 16-key panels.
    let packs = !bf16 && lk > 0 && {
        switch tiling.kernel {
        case .automatic, .short: return F32AttentionOperands.packs(pairs: pairs, lk: lk, d: d, dv: dv)
        case .openBLAS: return false
        case .packed: return PackedF32Kernel.supported
        }
    }()
    if packs { blockKeys = AttentionValuePanels.keyBlock(keys: lk, tileKeys: tiling.keys) }
    let packed = packs ? F32AttentionOperands(k: k, v: v, alpha: alpha, blockKeys: blockKeys) : nil
    defer { packed?.deallocate() }
    k.withUnsafePointer { pk in
        v.withUnsafePointer { pv in
            runFlashAttention(query: q, keys: pk, values: pv, lk: lk, dv: dv, alpha: alpha, blockRows: blockRows,
                              blockKeys: blockKeys, bf16: operands, packed: packed, into: &out)
        }
    }
    return out
}

/// The query blocks of every pair, `pairs * ceil(Lq / blockRows)` items, on the context's workers
/// (`keys`/`values`: the operands as given, read by the OpenBLAS tiles; the bf16 and packed
/// routes read their own copies).
func runFlashAttention(query q: Tensor, keys pk: UnsafePointer<Float>?, values pv: UnsafePointer<Float>?, lk: Int, dv: Int,
                       alpha: Float, blockRows: Int, blockKeys: Int, bf16 operands: BF16AttentionOperands?,
                       packed: F32AttentionOperands?, into out: inout Tensor) {
    let (pairs, lq, d) = (q.shape[0] * q.shape[1], q.shape[2], q.shape[3])
    let items = pairs * ceilDivide(lq, blockRows)
    let workers = min(Parallel.threadCount, items)
    let bf16 = operands != nil, productWidth = packed != nil ? dv : 0
    q.withUnsafePointer { pq in
        out.withUnsafeMutablePointer { po in
            let problem = FlashAttentionProblem(
                q: pq, k: pk, v: pv, out: po, lq: lq, lk: lk, d: d, dv: dv, alpha: alpha,
                blockRows: blockRows, blockKeys: blockKeys, queryBlocks: items / pairs, bf16: operands,
                packed: packed)
            if workers <= 1 {
                let scratch = FlashAttentionScratch(rows: blockRows, keys: blockKeys, bf16: bf16, productWidth: productWidth)
                defer { scratch.deallocate() }
                for item in 0..<items { problem.run(item: item, scratch: scratch) }
                return
            }
            // Items are claimed a few at a time from a shared counter, so a worker slowed
            // down by another process does not hold up the others at the end.
            let counter = WorkCounter(total: items, chunk: max(1, items / (workers * 8)))
            Parallel.forEach(workers) { slots in
                let scratch = FlashAttentionScratch(rows: blockRows, keys: blockKeys, bf16: bf16, productWidth: productWidth)
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

/// One worker's buffers: a score tile and the running row maxima and sums of its query block
/// (in bf16, the probabilities rounded for the P V product; on the packed kernel, a tile's P V
/// rows before they are added to the output).
struct FlashAttentionScratch {
    let scores: UnsafeMutablePointer<Float>
    let maxima: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>
    let probabilities: UnsafeMutablePointer<UInt16>?
    let product: UnsafeMutablePointer<Float>?

    init(rows: Int, keys: Int, bf16: Bool = false, productWidth: Int = 0) {
        scores = .allocate(capacity: rows * keys)
        maxima = .allocate(capacity: rows)
        sums = .allocate(capacity: rows)
        probabilities = bf16 ? .allocate(capacity: rows * (keys + 1)) : nil
        product = productWidth > 0 ? .allocate(capacity: rows * productWidth) : nil
    }

    func deallocate() {
        scores.deallocate()
        maxima.deallocate()
        sums.deallocate()
        probabilities?.deallocate()
        product?.deallocate()
    }
}

/// Pointers and sizes of one attention call; `run` computes one (pair, query block) item.
struct FlashAttentionProblem {
    /// k and v are nil when the keys and values came packed (only the packed route reads them then).
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>?, v: UnsafePointer<Float>?
    let out: UnsafeMutablePointer<Float>
    let lq: Int, lk: Int, d: Int, dv: Int
    let alpha: Float
    let blockRows: Int, blockKeys: Int, queryBlocks: Int
    /// The bf16 operands in a bf16 scope (nil: fp32 products).
    let bf16: BF16AttentionOperands?
    /// fp32 keys and values packed for CAVX2's kernel (nil: fp32 products on OpenBLAS).
    var packed: F32AttentionOperands? = nil

    func run(item: Int, scratch: FlashAttentionScratch) {
        let pair = item / queryBlocks
        let start = (item % queryBlocks) * blockRows
        let rows = min(blockRows, lq - start)
        let qBlock = q + (pair * lq + start) * d
        let o = out + (pair * lq + start) * dv
        let sums = scratch.sums
        guard lk > 0 else {
            // No keys: PyTorch's softmax over an empty axis gives an empty sum; return zeros.
            o.update(repeating: 0, count: rows * dv)
            return
        }
        var keyStart = 0
        while keyStart < lk {
            let keys = min(blockKeys, lk - keyStart)
            let tile = KeyTile(pair: pair, queryStart: start, rows: rows, keyStart: keyStart, keys: keys, first: keyStart == 0)
            if let bf16 {
                bf16Tile(tile, operands: bf16, scratch: scratch, out: o)
            } else if let packed {
                packedTile(tile, query: qBlock, operands: packed, scratch: scratch, out: o)
            } else {
                fp32Tile(tile, query: qBlock, keys: k! + pair * lk * d, values: v! + pair * lk * dv, scratch: scratch, out: o)
            }
            keyStart += keys
        }
        for row in 0..<rows { scaleRow(o + row * dv, dv, by: 1 / sums[row]) }
    }
}

/// One key tile of one work item: `rows` query rows from `queryStart` of pair `pair` against keys
/// `keyStart ..< keyStart + keys`.
struct KeyTile {
    let pair: Int, queryStart: Int, rows: Int, keyStart: Int, keys: Int
    /// The item's first key tile (the running maxima, sums and output start here).
    let first: Bool
}

extension FlashAttentionProblem {
    /// One key tile in fp32 on OpenBLAS: S = scale * Q K^T, the online softmax, O (+)= P V.
    func fp32Tile(_ tile: KeyTile, query qBlock: UnsafePointer<Float>, keys kBase: UnsafePointer<Float>,
                  values vBase: UnsafePointer<Float>, scratch: FlashAttentionScratch, out o: UnsafeMutablePointer<Float>) {
        let (rows, keys, keyStart) = (tile.rows, tile.keys, tile.keyStart)
        sgemm(transposeA: false, transposeB: true, m: rows, n: keys, k: d, alpha: alpha,
              a: qBlock, lda: d, b: kBase + keyStart * d, ldb: d, c: scratch.scores, ldc: keys)
        onlineSoftmax(scores: scratch.scores, rows: rows, keys: keys, first: tile.first,
                      maxima: scratch.maxima, sums: scratch.sums, out: o)
        sgemm(transposeA: false, transposeB: false, m: rows, n: dv, k: keys,
              a: scratch.scores, lda: keys, b: vBase + keyStart * dv, ldb: dv,
              beta: tile.first ? 0 : 1, c: o, ldc: dv)
    }

    /// One key tile of the online softmax (fp32; the row loops in C on AVX-512, with the same
    /// results: `exponentiateRow`); in a bf16 scope on AVX-512 `st_softmax_tile` runs instead.
    func onlineSoftmax(scores: UnsafeMutablePointer<Float>, rows: Int, keys: Int, first: Bool,
                       maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                       out o: UnsafeMutablePointer<Float>) {
        let inC = RowLoopTwins.available  // the bit-exact C twins of the row loops
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
final class WorkCounter: @unchecked Sendable {  // the counter is behind `lock`
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
