// FlashAttentionPacked: the fp32 key tile of `scaledDotProductAttention` on CAVX2's packed kernel
// (`st_f32_gemm_bias`), where `PackedF32Kernel` replaces OpenBLAS (AVX2 cores) and the problem has
// 256 keys or more. A small model's attention products are small (memory attention at 256 px: 128
// query rows x 256 keys x 128) and OpenBLAS packs both operands and zeroes C on every call; here
// each (batch x head) pair's K^T (scaled) and V are packed once per call, Q and the probabilities
// are read where they lie. Each element of a product is one sum in order, so results do not depend
// on how the queries are cut into blocks. (Hiera's 64-key windows ran slower packed: OpenBLAS.)
// A caller that attends to the same keys or values more than once packs them itself
// (`AttentionKeyPanels`, `AttentionValuePanels`; memory attention keeps each memory's keys packed
// and packs a frame's values once for its layers) and calls the overload that takes them.

import CAVX2
import Foundation

/// Attention's keys and values packed for `st_f32_gemm_bias`, per (batch x head) pair: K^T scaled
/// by the softmax scale (D x Lk, 16-key panels), and V (Lk x Dv) packed tile by tile of
/// `blockKeys` keys (a tile's panels have that depth), so key tile t reads its own panels.
struct F32AttentionOperands {
    let key: UnsafePointer<Float>, value: UnsafePointer<Float>
    let keyCount: Int, valueCount: Int, valuePanels: Int
    /// Buffers packed here (freed by `deallocate`); operands packed by the caller are not.
    private let packedHere: [UnsafeMutablePointer<Float>]

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
        let valuePanels = st_f32_panel_count(dv)
        let keyCount = st_f32_packed_count(d, lk), valueCount = lk * 16 * valuePanels
        let key = UnsafeMutablePointer<Float>.allocate(capacity: max(1, pairs * keyCount))
        let value = UnsafeMutablePointer<Float>.allocate(capacity: max(1, pairs * valueCount))
        k.withUnsafePointer { pk in
            v.withUnsafePointer { pv in
                Parallel.forEach(pairs, grain: max(1, 8192 / max(1, lk * (d + dv)))) { range in
                    for pair in range {
                        packKeys(pk + pair * lk * d, keys: lk, width: d, scale: alpha, into: key + pair * keyCount)
                        packValues(pv + pair * lk * dv, keys: lk, width: dv, blockKeys: blockKeys, into: value + pair * valueCount)
                    }
                }
            }
        }
        self.init(key: key, value: value, keyCount: keyCount, valueCount: valueCount, valuePanels: valuePanels,
                  packedHere: [key, value])
    }

    /// One pair's operands packed by the caller (kept alive by it for the call).
    init(keys: AttentionKeyPanels, values: AttentionValuePanels) {
        self.init(key: keys.values, value: values.values, keyCount: keys.count, valueCount: values.count,
                  valuePanels: st_f32_panel_count(values.width), packedHere: [])
    }

    private init(key: UnsafePointer<Float>, value: UnsafePointer<Float>, keyCount: Int, valueCount: Int, valuePanels: Int,
                 packedHere: [UnsafeMutablePointer<Float>]) {
        self.key = key
        self.value = value
        self.keyCount = keyCount
        self.valueCount = valueCount
        self.valuePanels = valuePanels
        self.packedHere = packedHere
    }

    func deallocate() {
        for buffer in packedHere { buffer.deallocate() }
    }
}

/// K [keys, width] (rows) packed as K^T in 16-key panels (the keys past the last whole panel zero),
/// every element times `scale` (no pass when it is 1).
private func packKeys(_ k: UnsafePointer<Float>, keys: Int, width: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
    st_f32_pack_b(k, 1, width, width, keys, 0, st_f32_panel_count(keys), out)
    guard scale != 1 else { return }
    for i in 0..<st_f32_packed_count(width, keys) { out[i] *= scale }
}

/// V [keys, width] (rows) packed tile by tile of `blockKeys` keys: tile t's panels have its depth.
private func packValues(_ v: UnsafePointer<Float>, keys: Int, width: Int, blockKeys: Int, into out: UnsafeMutablePointer<Float>) {
    let panels = st_f32_panel_count(width)
    var start = 0
    while start < keys {
        let count = min(blockKeys, keys - start)
        st_f32_pack_b(v + start * width, width, 1, count, width, 0, panels, out + start * 16 * panels)
        start += count
    }
}

/// One (batch x head) pair's attention keys K [keys, width] as the packed kernel reads them: K^T in
/// 16-key panels (`st_f32_pack_b`'s layout, keys past the last whole panel zero), each element times
/// `scale`. Keys 16j ..< 16j + 16 are one contiguous panel, so the panels of keys that start at a
/// multiple of 16 are a contiguous run: a caller that keeps a memory's keys packed assembles a
/// frame's operand from such runs (`init(sums:tail:scale:)`) instead of packing the whole keys again.
public final class AttentionKeyPanels: @unchecked Sendable {  // immutable once made in init
    public let keys: Int, width: Int
    /// What every key was multiplied by (the softmax scale for an attention operand; 1 for parts).
    public let scale: Float
    /// Floats held: width x 16 x ceil(keys / 16).
    public let count: Int
    let values: UnsafeMutablePointer<Float>

    private init(keys: Int, width: Int, scale: Float) {
        self.keys = keys
        self.width = width
        self.scale = scale
        count = st_f32_packed_count(width, keys)
        values = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { values.deallocate() }

    /// `rows` [keys, width] packed as they are (scale 1).
    public convenience init(packing rows: Tensor) {
        precondition(rows.rank == 2, "AttentionKeyPanels: rows \(rows.shape)")
        self.init(keys: rows.shape[0], width: rows.shape[1], scale: 1)
        let (keys, width, values) = (self.keys, self.width, self.values)
        rows.withUnsafePointer { packKeys($0, keys: keys, width: width, scale: 1, into: values) }
    }

    /// An attention operand: for each of `sums`, the keys a + b (packed parts of scale 1 with the same
    /// keys, a multiple of 16), one after the other, then the `tail` rows [n, width] packed; every
    /// key times `scale`. The same floats as packing the rows a + b and the tail, then scaling.
    public convenience init(sums: [(AttentionKeyPanels, AttentionKeyPanels)], tail: Tensor?, scale: Float) {
        let width = sums.first?.0.width ?? tail?.shape[1] ?? 0
        let summed = sums.reduce(0) { $0 + $1.0.keys }
        self.init(keys: summed + (tail?.shape[0] ?? 0), width: width, scale: scale)
        for (a, b) in sums {
            precondition(a.keys == b.keys && a.keys % 16 == 0 && a.width == width && b.width == width
                         && a.scale == 1 && b.scale == 1, "AttentionKeyPanels: parts of \(a.keys) and \(b.keys) keys")
        }
        precondition(tail == nil || tail!.shape[1] == width, "AttentionKeyPanels: tail \(tail!.shape), width \(width)")
        var offset = 0
        for (a, b) in sums {
            let (x, y, out) = (a.values, b.values, values + offset)
            for i in 0..<a.count { out[i] = (x[i] + y[i]) * scale }
            offset += a.count
        }
        if let tail, tail.shape[0] > 0 {
            let out = values + offset
            tail.withUnsafePointer { packKeys($0, keys: tail.shape[0], width: width, scale: scale, into: out) }
        }
    }

    /// The keys as rows [keys, width] (times `scale`): for tests and inspection.
    public func rows() -> Tensor {
        var out = Tensor(uninitialized: [keys, width])
        out.withUnsafeMutablePointer { o in
            for key in 0..<keys {
                let panel = values + (key / 16) * width * 16 + key % 16
                for c in 0..<width { o[key * width + c] = panel[c * 16] }
            }
        }
        return out
    }

    /// Whether `scaledDotProductAttention(query:keyPanels:valuePanels:)` serves attention of one
    /// (batch x head) pair of this size here: where the fp32 attention runs on the packed kernel
    /// (AVX2 cores, outside a bf16 scope, more keys than one tile, at most 8 MiB of operands).
    public static func serve(keys: Int, width: Int, valueWidth: Int) -> Bool {
        !Precision.usesBFloat16 && !ShortAttention.runs(lk: keys, tiling: .default)
            && F32AttentionOperands.packs(pairs: 1, lk: keys, d: width, dv: valueWidth)
    }
}

/// One (batch x head) pair's attention values V [keys, width] packed for the packed kernel's key
/// tiles of the default tiling (`keyBlock`): made once, used by several attentions over the same
/// values (memory attention's layers attend to the same memory tokens).
public final class AttentionValuePanels: @unchecked Sendable {  // immutable once made in init
    public let keys: Int, width: Int
    /// Floats held: keys x 16 x ceil(width / 16).
    public let count: Int
    let values: UnsafeMutablePointer<Float>

    /// `rows` [keys, width].
    public init(packing rows: Tensor) {
        precondition(rows.rank == 2, "AttentionValuePanels: rows \(rows.shape)")
        (keys, width) = (rows.shape[0], rows.shape[1])
        count = keys * 16 * st_f32_panel_count(width)
        values = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        let (keys, width, values) = (self.keys, self.width, self.values)
        rows.withUnsafePointer {
            packValues($0, keys: keys, width: width, blockKeys: Self.keyBlock(keys: keys, tileKeys: AttentionTiling.default.keys), into: values)
        }
    }

    deinit { values.deallocate() }

    /// Keys per score tile of the packed route for `keys` keys: tiles of at most `tileKeys` evened
    /// out, rounded up to a whole panel (16 keys).
    static func keyBlock(keys: Int, tileKeys: Int) -> Int {
        ceilDivide(ceilDivide(keys, ceilDivide(keys, tileKeys)), 16) * 16
    }
}

/// softmax(q K^T) V for one (batch x head) pair, q [1, 1, Lq, D], with K and V already packed
/// (`keyPanels` scaled by the softmax scale, 1/sqrt(D), `valuePanels`), where
/// `AttentionKeyPanels.serve` holds: the same products in the same order as
/// `scaledDotProductAttention(query:key:value:)` there, so the same bits.
public func scaledDotProductAttention(query q: Tensor, keyPanels: AttentionKeyPanels,
                                      valuePanels: AttentionValuePanels) -> Tensor {
    let (lq, d) = (q.shape[2], q.shape[3])
    let (lk, dv) = (keyPanels.keys, valuePanels.width)
    precondition(q.rank == 4 && q.shape[0] * q.shape[1] == 1 && keyPanels.width == d && valuePanels.keys == lk,
                 "attention: q \(q.shape), packed keys \(lk) x \(keyPanels.width), values \(valuePanels.keys) x \(dv)")
    precondition(AttentionKeyPanels.serve(keys: lk, width: d, valueWidth: dv), "attention: packed operands of \(lk) keys not served here")
    let alpha = 1 / Float(d).squareRoot()
    precondition(keyPanels.scale == alpha, "attention: keys scaled by \(keyPanels.scale), not 1/sqrt(\(d))")
    var out = Tensor(uninitialized: [1, 1, lq, dv])
    guard lq > 0, dv > 0 else { return out }
    let blockRows = AttentionTiling.queryBlockRows(queries: lq, tileRows: AttentionTiling.default.queryRows)
    let blockKeys = AttentionValuePanels.keyBlock(keys: lk, tileKeys: AttentionTiling.default.keys)
    withExtendedLifetime((keyPanels, valuePanels)) {
        runFlashAttention(query: q, keys: nil, values: nil, lk: lk, dv: dv, alpha: alpha, blockRows: blockRows,
                          blockKeys: blockKeys, bf16: nil, packed: F32AttentionOperands(keys: keyPanels, values: valuePanels),
                          into: &out)
    }
    return out
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
