// HieraBlock: one transformer block of the Hiera trunk (`MultiScaleBlock`) and its attention
// (`MultiScaleAttention`), from sam2/modeling/backbones/hieradet.py. Keys `...trunk.blocks.{i}.*`.
//
// Legend: B batch, H/W token grid, C = dim (input channels), C' = dim_out, N heads,
// D = C' / N channels per head, s q-stride (1 when the block does not pool), ws window size
// (0 = global attention). Tokens are channels-last [B, H, W, C] throughout.
//
// Differences in form (not in values) from the reference: the qkv projection runs on the map
// before window partition instead of on each padded window (a padded token of the reference is a
// zero after norm1, whose projection is the qkv bias, so padding with the bias is the same), q is
// max-pooled on the map rather than per window (the same cells when ws is a multiple of s), and
// the output projection runs after window unpartition (it is per token). Window partition, head
// split and q-pooling are one copy (`windowPartition`), unpartition and head merge another, and
// every window and head goes through one attention call; where the windows tile the map and
// CAVX2's short-key kernel runs, `windowedSelfAttention` does all of it from the qkv map with no
// copies of the map (the same bits).

import Checkpoint
import Tensor

/// `MultiScaleAttention`: multi-head self-attention over windows (or globally), with optional
/// max-pooling of the queries, which halves the token grid at a stage change.
public struct MultiScaleAttention: Sendable {
    public let dim: Int
    public let dimOut: Int
    public let numHeads: Int
    /// `attn.qkv`: [3 * C', C], output channels ordered (q|k|v, head, D) as the reference unbinds them.
    public let qkv: Linear
    /// `attn.proj`: [C', C'].
    public let proj: Linear
    /// The q, k and v parts of the qkv bias: the projections of zero (padding) tokens.
    private let qBias: Tensor, kBias: Tensor, vBias: Tensor

    public init(_ loader: WeightLoader, dim: Int, dimOut: Int, numHeads: Int) throws {
        precondition(numHeads > 0 && dimOut % numHeads == 0, "MultiScaleAttention: \(dimOut) channels, \(numHeads) heads")
        self.dim = dim
        self.dimOut = dimOut
        self.numHeads = numHeads
        qkv = try Linear(loader.child("qkv"), inFeatures: dim, outFeatures: 3 * dimOut)
        proj = try Linear(loader.child("proj"), inFeatures: dimOut, outFeatures: dimOut)
        let bias = qkv.bias!
        qBias = bias.slice(axis: 0, 0..<dimOut)
        kBias = bias.slice(axis: 0, dimOut..<(2 * dimOut))
        vBias = bias.slice(axis: 0, (2 * dimOut)..<(3 * dimOut))
    }

    /// Attention of the normalised tokens x [B, H, W, C] within windows of ws x ws (ws = 0: one
    /// window over the whole map), queries max-pooled s x s: -> [B, H/s, W/s, C'].
    /// With s > 1 and ws > 0, ws must be a multiple of s and the padded window grids before and
    /// after pooling must agree (as the reference's reshapes require).
    public func callAsFunction(_ x: Tensor, windowSize ws: Int, qStride s: Int) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == dim, "MultiScaleAttention: input \(x.shape), dim \(dim)")
        let (batch, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (ho, wo) = (h / s, w / s)
        let keyWindow = ws > 0 ? (height: ws, width: ws) : (height: h, width: w)
        let queryWindow = ws > 0 ? (height: ws / s, width: ws / s) : (height: ho, width: wo)
        precondition(ws == 0 || (ws % s == 0 && MultiScaleAttention.grid(h, ws) == MultiScaleAttention.grid(ho, ws / s)
                                 && MultiScaleAttention.grid(w, ws) == MultiScaleAttention.grid(wo, ws / s)),
                     "MultiScaleAttention: window \(ws) with q-stride \(s) does not fit a \(h) x \(w) map")
        let t = qkv(x)  // [B, H, W, 3 * C']
        // Windows that tile the map: attention straight from t, q pooled on the way (CAVX2's
        // short-key kernel, the same bits as the partitioned route below, without its copies).
        if let attended = windowedSelfAttention(qkv: t, heads: numHeads, window: ws, pool: s) { return proj(attended) }
        let q = t.windowPartition(channels: 0..<dimOut, heads: numHeads, window: queryWindow, pool: s, padding: qBias)
        let k = t.windowPartition(channels: dimOut..<(2 * dimOut), heads: numHeads, window: keyWindow, padding: kBias)
        let v = t.windowPartition(channels: (2 * dimOut)..<(3 * dimOut), heads: numHeads, window: keyWindow,
                                  padding: vBias)
        let o = scaledDotProductAttention(query: q, key: k, value: v)  // [B * nW, N, wq, D]
        return proj(windowUnpartition(o, batch: batch, height: ho, width: wo, window: queryWindow))
    }

    /// Windows along an axis of `extent` tokens (the last one padded).
    static func grid(_ extent: Int, _ window: Int) -> Int { (extent + window - 1) / window }
}

/// `MultiScaleBlock`: pre-norm windowed attention and MLP with residuals; the first block of a
/// stage widens the channels (`proj` on the shortcut) and pools the queries.
public struct MultiScaleBlock: Sendable {
    public let dim: Int
    public let dimOut: Int
    public let numHeads: Int
    /// Attention window (0 = global attention).
    public let windowSize: Int
    /// Query pooling stride, nil when the block keeps the grid.
    public let qStride: Int?
    /// `norm1` (over C) and `norm2` (over C'), eps 1e-6.
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let attn: MultiScaleAttention
    /// `mlp.layers.{0,1}`: C' -> 4 C' -> C' with exact GELU.
    public let mlp: MLP
    /// `proj`: [C', C], present when C != C' (projects the normalised shortcut).
    public let proj: Linear?

    public init(_ loader: WeightLoader, dim: Int, dimOut: Int, numHeads: Int, windowSize: Int,
                qStride: Int?, mlpRatio: Double = 4) throws {
        precondition(qStride == nil || dim != dimOut,
                     "MultiScaleBlock: a q-pooling block must change the width (the reference pools only a projected shortcut)")
        self.dim = dim
        self.dimOut = dimOut
        self.numHeads = numHeads
        self.windowSize = windowSize
        self.qStride = qStride
        norm1 = try LayerNorm(loader.child("norm1"), dim: dim, eps: 1e-6)
        attn = try MultiScaleAttention(loader.child("attn"), dim: dim, dimOut: dimOut, numHeads: numHeads)
        norm2 = try LayerNorm(loader.child("norm2"), dim: dimOut, eps: 1e-6)
        mlp = try MLP(loader.child("mlp"), inputDim: dimOut, hiddenDim: Int(Double(dimOut) * mlpRatio),
                      outputDim: dimOut, numLayers: 2, activation: .gelu)
        proj = dim != dimOut ? try Linear(loader.child("proj"), inFeatures: dim, outFeatures: dimOut) : nil
    }

    /// Tokens per band when a windowed block runs band by band (`callAsFunction`): at 1024 px the
    /// first blocks (65,536 and 16,384 tokens) run in bands of 8,192.
    public static let bandTokens = 8192

    /// x [B, H, W, C] -> [B, H/s, W/s, C'].
    ///
    /// A windowed block over a large map runs on horizontal bands of whole window rows, one after
    /// another: attention stays within a window, and the norms, projections, pooling and MLP are per
    /// token, so each band's output is the block's output on those rows. The intermediates of a band
    /// (qkv, windows, MLP hidden layer) are a fraction of the map's, stay in cache and are not
    /// fresh pages each frame (at 1024 px the first block's qkv alone is 75 MB). `bandTokens` nil
    /// runs the map whole.
    public func callAsFunction(_ x: Tensor, bandTokens: Int? = MultiScaleBlock.bandTokens) -> Tensor {
        precondition(x.rank == 4, "MultiScaleBlock: input \(x.shape)")
        let (batch, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        // Band rows: a multiple of the window (of the input map), at least one window row.
        guard let bandTokens, windowSize > 0, batch == 1,
              case let bandRows = max(1, bandTokens / max(w * windowSize, 1)) * windowSize,
              bandRows < h, h * w >= 2 * bandTokens
        else { return whole(x) }
        let s = qStride ?? 1
        let (ho, wo) = (h / s, w / s)
        var out = Tensor(uninitialized: [batch, ho, wo, dimOut])
        var y0 = 0
        while y0 < h {
            let y1 = min(h, y0 + bandRows)
            let band = whole(x.slice(axis: 1, y0..<y1))  // [1, rows / s, wo, C'] (the last band floors as the map does)
            let (row0, rows) = (y0 / s, band.shape[1])
            precondition(row0 + rows <= ho && band.shape[2] == wo, "MultiScaleBlock: band \(band.shape) at row \(row0) of \(ho)")
            out.withUnsafeMutablePointer { o in
                band.withUnsafePointer { b in (o + row0 * wo * dimOut).update(from: b, count: rows * wo * dimOut) }
            }
            y0 = y1
        }
        return out
    }

    /// The block on the whole map x [B, H, W, C] (the reference's order of operations).
    func whole(_ x: Tensor) -> Tensor {
        let normed = norm1(x)
        var shortcut = x
        if let proj {
            shortcut = proj(normed)
            if let s = qStride { shortcut = shortcut.maxPool2dChannelsLast(kernel: s) }
        }
        var out = attn(normed, windowSize: windowSize, qStride: qStride ?? 1)
        out.add(shortcut)  // shortcut + attention
        var y = mlp(norm2(out))
        y.add(out)  // x + mlp(norm2(x))
        return y
    }
}
