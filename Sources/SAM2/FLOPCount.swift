// FLOPCount: analytic floating-point operation counts of a SAM 2 config, per stage, for the
// GFLOPS that `samtrack bench tracker` prints.
//
// Convention (that of PyTorch's `torch.utils.flop_counter.FlopCounterMode`): 2 x the multiply-adds
// of matrix products, convolutions and attention (QK^T and PV); element-wise work (norms, softmax,
// activations, RoPE, position encodings, resizes) is not counted. The counts follow the reference
// model's operations, so a rate here compares with PyTorch's: in particular Hiera's windowed
// blocks count the qkv and attention of padded windows (64-token grid, 14-token windows: 70 x 70),
// which this implementation partly skips (its qkv runs before padding), so its real work is ~2%
// less than counted. Memory attention does less than counted too: its cross-attention projects
// the values after the attention weights (`Attention.projectsValuesLate`: P V over the 64 memory
// channels, a quarter of the counted 2 L M C), and a frame's objects share the first layer's
// self-attention; its rate is therefore "model FLOPs per second", above what the kernels run. The
// image encoder also does less: the neck's levels 0 and 1 and conv_s0 / conv_s1 run as one folded
// 1x1 convolution per level (`HighResProjection`, ImageEncoder.swift), ~85% fewer multiply-adds there.
//
// Formulas, with S image size, e = S / 16 (embedding grid), L = e^2, C = d_model:
//   Hiera block (C -> C', grid g, q-stride s, window w, padded windows n = ceil(g / w)^2, or one
//   "window" of the whole grid when global): qkv  n w^2 C 3C' + attention 2 n (w/s)^2 w^2 C'
//   + proj n (w/s)^2 C'^2 + shortcut proj g^2 C C' (when C != C') + MLP 2 (g/s)^2 C' 4C';
//   patch embed g0^2 C0 3 7^2. Neck: a 1x1 conv per level, sum g_i^2 C_i C. conv_s0 / conv_s1:
//   (4e)^2 C C/8 + (2e)^2 C C/4.
//   Memory attention, per layer, M memory tokens (spatial + object-pointer tokens) of width Cm,
//   feed-forward F: self-attention 4 L C^2 + 2 L^2 C; cross-attention 2 L C^2 (q, out) +
//   2 M Cm C (k, v) + 2 L M C; feed-forward 2 L C F. (Tiny, 1024 px, 7 memories + 16 pointers,
//   M = 7 x 4096 + 64: 605.7 GFLOP, as torch's counter gives; image encoder 290.8 + 1.6 for
//   conv_s0/s1.)
//   Memory encoder: the mask downsampler's strided convs from the S x S mask, its 1x1 output
//   conv, pix_feat_proj, the fuser's CXBlocks (depthwise k^2 + 2 x 4C^2 per token), out_proj.
//   Mask decoder, T = output tokens + prompt tokens, cross-attention width C/2: per two-way layer
//   4 T C^2 + 2 T^2 C (self), 2 x (2 L C C/2 + 2 T C C/2 + 2 T L C/2) (both cross-attentions),
//   2 T C 2048 (MLP); the final token-to-image attention; the two transposed convs; hypernetwork
//   MLPs, IoU and object-score heads, the mask products and the object-pointer projection.

/// Floating-point operations (2 x multiply-adds) of each stage of a config.
public struct FLOPCount: Sendable {
    public let config: SAM2Config

    public init(_ config: SAM2Config) { self.config = config }

    /// One Hiera block's shape, in the reference's schedule.
    public struct HieraBlockShape: Sendable, Equatable {
        public var dim: Int, dimOut: Int, heads: Int
        /// Attention window (0 = global).
        public var window: Int
        /// Query stride (1 without pooling).
        public var qStride: Int
        /// Input token grid extent (square).
        public var grid: Int
    }

    /// The trunk's blocks, as `Hiera` builds them: the first block of a stage widens the channels,
    /// doubles the heads and pools the queries (the first `q_pool` stage changes), still using the
    /// previous stage's window; blocks in `global_att_blocks` attend globally.
    public var hieraBlocks: [HieraBlockShape] {
        let h = config.hiera
        let ends = h.stageEnds
        let pooling = Set(ends.dropLast().map { $0 + 1 }.prefix(h.qPool))
        var dim = h.embedDim, heads = h.numHeads, stage = 1
        var grid = (config.imageSize + 2 * 3 - 7) / 4 + 1
        var blocks: [HieraBlockShape] = []
        for i in 0..<h.stages.reduce(0, +) {
            let window = h.globalAttBlocks.contains(i) ? 0 : h.windowSpec[stage - 1]
            var dimOut = dim
            if ends.contains(i - 1) {
                dimOut = Int(Double(dim) * h.dimMul)
                heads = Int(Double(heads) * h.headMul)
                stage += 1
            }
            let s = pooling.contains(i) ? h.qStride : 1
            blocks.append(HieraBlockShape(dim: dim, dimOut: dimOut, heads: heads, window: window, qStride: s, grid: grid))
            dim = dimOut
            grid /= s
        }
        return blocks
    }

    /// Hiera trunk: patch embedding and every block.
    public var trunk: Double {
        let g0 = (config.imageSize + 2 * 3 - 7) / 4 + 1
        var macs = Double(g0 * g0) * Double(config.hiera.embedDim * 3 * 49)
        for b in hieraBlocks {
            let (c, co, g, s) = (Double(b.dim), Double(b.dimOut), b.grid, b.qStride)
            let windows: Double, keyTokens: Double, queryTokens: Double
            if b.window > 0 {
                let perSide = (g + b.window - 1) / b.window
                windows = Double(perSide * perSide)
                keyTokens = Double(b.window * b.window)
                queryTokens = Double((b.window / s) * (b.window / s))
            } else {
                windows = 1
                keyTokens = Double(g * g)
                queryTokens = Double((g / s) * (g / s))
            }
            macs += windows * keyTokens * c * 3 * co                // qkv (padded windows)
            macs += windows * queryTokens * keyTokens * 2 * co      // QK^T and PV over all heads
            macs += windows * queryTokens * co * co                 // attention output projection
            if b.dim != b.dimOut { macs += Double(g * g) * c * co }  // shortcut projection
            macs += Double((g / s) * (g / s)) * co * 4 * co * 2     // MLP (ratio 4)
        }
        return 2 * macs
    }

    /// FPN neck: one 1x1 lateral convolution per trunk level (the scalped level included).
    public var neck: Double {
        var macs = 0.0
        var grid = (config.imageSize + 2 * 3 - 7) / 4 + 1
        for (i, channels) in config.hiera.stageDims.enumerated() {
            if i > 0 { grid /= (i <= config.hiera.qPool ? config.hiera.qStride : 1) }
            macs += Double(grid * grid) * Double(channels) * Double(config.neck.dModel)
        }
        return 2 * macs
    }

    /// The mask decoder's `conv_s0` / `conv_s1` on the high-resolution levels (run per frame).
    public var highResProjections: Double {
        guard config.useHighResFeaturesInSam else { return 0 }
        let e = config.embeddingSize, c = Double(config.neck.dModel)
        return 2 * (Double(16 * e * e) * c * c / 8 + Double(4 * e * e) * c * c / 4)
    }

    /// Everything the tracker's encoder stage runs once per frame.
    public var imageEncoder: Double { trunk + neck + highResProjections }

    /// Memory attention for one object attending to `memoryTokens` tokens.
    public func memoryAttention(memoryTokens m: Int) -> Double {
        let a = config.memoryAttention
        let l = Double(config.embeddingSize * config.embeddingSize), c = Double(a.dModel)
        let mm = Double(m), cm = Double(a.kvInDim), f = Double(a.dimFeedforward)
        let selfAttention = 4 * l * c * c + 2 * l * l * c
        let crossAttention = 2 * l * c * c + 2 * mm * cm * c + 2 * l * mm * c
        let feedForward = 2 * l * c * f
        return 2 * Double(a.numLayers) * (selfAttention + crossAttention + feedForward)
    }

    /// Memory encoder for one object.
    public var memoryEncoder: Double {
        let m = config.memoryEncoder
        let c = Double(config.neck.dModel), e = config.embeddingSize
        var macs = 0.0
        var extent = config.imageSize, channels = 1, stride = 1
        while stride < m.maskDownsamplerTotalStride {
            let out = channels * m.maskDownsamplerStride * m.maskDownsamplerStride
            extent = (extent + 2 * m.maskDownsamplerPadding - m.maskDownsamplerKernelSize) / m.maskDownsamplerStride + 1
            macs += Double(extent * extent) * Double(out * channels * m.maskDownsamplerKernelSize * m.maskDownsamplerKernelSize)
            channels = out
            stride *= m.maskDownsamplerStride
        }
        let tokens = Double(e * e)
        macs += tokens * Double(channels) * c                       // downsampler's 1x1 output conv
        macs += tokens * c * c                                      // pix_feat_proj
        let k = Double(m.fuserKernelSize * m.fuserKernelSize)
        macs += Double(m.fuserLayers) * tokens * (c * k + 2 * c * 4 * c)  // CXBlocks
        if m.outDim != config.neck.dModel { macs += tokens * c * Double(m.outDim) }
        return 2 * macs
    }

    /// Mask decoder for one object with `promptTokens` sparse prompt tokens (tracking without
    /// clicks: 2, the "no point" input and its padding point), plus the object-pointer projection.
    public func maskDecoder(promptTokens: Int = 2) -> Double {
        let e = config.embeddingSize
        let c = Double(config.neck.dModel), ci = c / 2, l = Double(e * e)
        let masks = 4.0
        let t = Double((config.predObjScores ? 1 : 0) + 1 + 4 + promptTokens)
        func tokenToImage() -> Double { 2 * t * c * ci + 2 * l * c * ci + 2 * t * l * ci }
        let layer = 4 * t * c * c + 2 * t * t * c      // token self-attention
            + tokenToImage()                           // tokens -> image
            + 2 * t * c * 2048                         // token MLP
            + 2 * l * c * ci + 2 * t * c * ci + 2 * l * t * ci  // image -> tokens
        var macs = 2 * layer + tokenToImage()
        macs += l * c * (c / 4) * 4 + Double(4 * e * e) * (c / 4) * (c / 8) * 4  // transposed convs
        macs += masks * (2 * c * c + c * c / 8)        // hypernetwork MLPs
        macs += c * 256 + 256 * 256 + 256 * masks      // IoU head
        macs += config.predObjScoresMlp ? 2 * c * c + c : (config.predObjScores ? c : 0)
        macs += masks * (c / 8) * Double(16 * e * e)   // mask products
        macs += config.useMlpForObjPtrProj ? 3 * c * c : c * c  // object-pointer projection
        return 2 * macs
    }
}
