// Hiera: the hierarchical vision transformer trunk of SAM 2's image encoder
// (sam2/modeling/backbones/hieradet.py `Hiera`, utils.py `PatchEmbed`). Keys `image_encoder.trunk.*`.
//
// Legend: B batch, S image size, H/W token grid (S/4 in stage 1, halved by each q-pooling stage),
// C channels. Tokens stay channels-last [B, H, W, C] through the blocks, as in the reference;
// the stage outputs are returned [B, C, H, W], finest first, as the reference's `forward` does.

import Checkpoint
import Tensor

/// `PatchEmbed`: a 7 x 7 convolution with stride 4 and padding 3 (`patch_embed.proj`), then
/// channels-last.
public struct PatchEmbed: Sendable {
    public let proj: Conv2d

    public init(_ loader: WeightLoader, inChannels: Int = 3, embedDim: Int) throws {
        proj = try Conv2d(loader.child("proj"), inChannels: inChannels, outChannels: embedDim, kernel: 7,
                          stride: 4, padding: 3)
    }

    /// x [B, 3, S, S] -> [B, S/4, S/4, C].
    public func callAsFunction(_ x: Tensor) -> Tensor { proj(x).permuted([0, 2, 3, 1]) }

    /// Token grid extent for an image extent (the convolution's output size).
    public static func gridExtent(_ imageExtent: Int) -> Int { (imageExtent + 2 * 3 - 7) / 4 + 1 }
}

/// The Hiera trunk: patch embedding, windowed absolute position embedding, and the blocks of all
/// stages. Immutable; one instance serves any number of concurrent callers.
public struct Hiera: Sendable {
    public let config: HieraConfig
    public let patchEmbed: PatchEmbed
    /// `pos_embed` [1, C, bh, bw]: background embedding, bicubically resized to the token grid.
    public let posEmbed: Tensor
    /// `pos_embed_window` [1, C, w0, w0] (w0 = window_spec[0]): tiled over the token grid.
    public let posEmbedWindow: Tensor
    /// `blocks.{i}`, in order.
    public let blocks: [MultiScaleBlock]
    /// Index of the last block of each stage.
    public let stageEnds: [Int]
    /// The position embedding for the grid of `imageSize` (given at init), channels-last [1, H, W, C].
    private let cachedPosition: Tensor?

    /// Binds `loader` (the trunk prefix, e.g. `image_encoder.trunk`). With `imageSize`, the
    /// position embedding for that input size is computed once here instead of on every call,
    /// and the window layout is checked against that size.
    public init(config: HieraConfig, loader: WeightLoader, imageSize: Int? = nil) throws {
        try Hiera.validate(config, imageSize: imageSize)
        self.config = config
        patchEmbed = try PatchEmbed(loader.child("patch_embed"), embedDim: config.embedDim)
        let bkg = config.windowPosEmbedBkgSpatialSize
        posEmbed = try loader.take("pos_embed", [1, config.embedDim, bkg[0], bkg[1]])
        let w0 = config.windowSpec[0]
        posEmbedWindow = try loader.take("pos_embed_window", [1, config.embedDim, w0, w0])
        stageEnds = config.stageEnds
        blocks = try Hiera.makeBlocks(config, loader: loader)
        if let imageSize {
            let grid = PatchEmbed.gridExtent(imageSize)
            cachedPosition = Hiera.positionEmbedding(posEmbed, posEmbedWindow, height: grid, width: grid)
        } else {
            cachedPosition = nil
        }
    }

    /// The blocks with the reference's schedule: a block of stage k uses window_spec[k], except
    /// that the first block of a new stage still uses the previous stage's window (it attends at
    /// the previous resolution and pools its queries); blocks in global_att_blocks attend globally.
    private static func makeBlocks(_ config: HieraConfig, loader: WeightLoader) throws -> [MultiScaleBlock] {
        let stageEnds = config.stageEnds
        let qPoolBlocks = Set(stageEnds.dropLast().map { $0 + 1 }.prefix(config.qPool))
        let globalBlocks = Set(config.globalAttBlocks)
        var dim = config.embedDim, heads = config.numHeads, stage = 1
        var blocks: [MultiScaleBlock] = []
        for i in 0..<config.stages.reduce(0, +) {
            var dimOut = dim
            let window = globalBlocks.contains(i) ? 0 : config.windowSpec[stage - 1]
            if stageEnds.contains(i - 1) {
                dimOut = Int(Double(dim) * config.dimMul)
                heads = Int(Double(heads) * config.headMul)
                stage += 1
            }
            blocks.append(try MultiScaleBlock(loader.child("blocks.\(i)"), dim: dim, dimOut: dimOut, numHeads: heads,
                                              windowSize: window, qStride: qPoolBlocks.contains(i) ? config.qStride : nil))
            dim = dimOut
        }
        return blocks
    }

    /// Channels of the stage outputs, coarsest first (the reference's `channel_list`, which the
    /// neck's `backbone_channel_list` must equal).
    public var channelList: [Int] { stageEnds.reversed().map { blocks[$0].dimOut } }

    /// image [B, 3, S, S] (normalised) -> the output of each stage channels-last [B, H_i, W_i, C_i]
    /// (the blocks' own layout; the reference returns them channels-first), finest first.
    public func callAsFunction(_ image: Tensor) -> [Tensor] {
        var x = patchEmbed(image)  // [B, H, W, C]
        let (h, w) = (x.shape[1], x.shape[2])
        let position: Tensor
        if let cachedPosition, cachedPosition.shape[1] == h, cachedPosition.shape[2] == w {
            position = cachedPosition
        } else {
            position = Hiera.positionEmbedding(posEmbed, posEmbedWindow, height: h, width: w)
        }
        if x.shape[0] == 1 { x.add(position) } else { x = x + position }
        var outputs: [Tensor] = []
        let ends = Set(stageEnds)
        for (i, block) in blocks.enumerated() {
            x = block(x)
            if ends.contains(i) { outputs.append(x) }
        }
        return outputs
    }

    /// The reference's `_get_pos_embed`: `pos_embed` resized bicubically to height x width plus
    /// `pos_embed_window` tiled, channels-last [1, height, width, C]. The window must divide the grid.
    public static func positionEmbedding(_ background: Tensor, _ window: Tensor, height: Int, width: Int) -> Tensor {
        let (c, wh, ww) = (window.shape[1], window.shape[2], window.shape[3])
        precondition(height % wh == 0 && width % ww == 0,
                     "Hiera: the \(wh) x \(ww) position window does not tile a \(height) x \(width) token grid")
        let resized = background.interpolate(height: height, width: width, mode: .bicubic)
        let tiled = resized.reshaped([1, c, height / wh, wh, width / ww, ww]) + window.reshaped([1, c, 1, wh, 1, ww])
        return tiled.reshaped([1, c, height, width]).permuted([0, 2, 3, 1])
    }

    /// Checks what the reference asserts or silently requires: one window per stage, a valid
    /// q_pool count, and (for `imageSize`) windows that fit the token grids of q-pooling blocks.
    static func validate(_ config: HieraConfig, imageSize: Int?) throws {
        func fail(_ message: String) -> ImageEncoderConfigError {
            ImageEncoderConfigError(message: "hiera: \(message)")
        }
        let stages = config.stages
        guard !stages.isEmpty, stages.allSatisfy({ $0 > 0 }) else { throw fail("stages \(stages) must be positive") }
        guard config.windowSpec.count == stages.count else {
            throw fail("window_spec \(config.windowSpec) needs one entry per stage (\(stages.count))")
        }
        guard (0...(stages.count - 1)).contains(config.qPool), config.qStride >= 1 else {
            throw fail("q_pool \(config.qPool) must be in 0...\(stages.count - 1) and q_stride >= 1")
        }
        guard config.windowPosEmbedBkgSpatialSize.count == 2, config.windowSpec[0] > 0 else {
            throw fail("window_pos_embed_bkg_spatial_size needs 2 entries and window_spec[0] must be positive")
        }
        guard config.embedDim > 0, config.numHeads > 0 else { throw fail("embed_dim and num_heads must be positive") }
        guard let imageSize else { return }
        var extent = PatchEmbed.gridExtent(imageSize)
        guard extent % config.windowSpec[0] == 0 else {
            throw fail("image_size \(imageSize) gives a \(extent)-token grid that window_spec[0] = \(config.windowSpec[0]) does not tile")
        }
        // Walk the blocks as makeBlocks does, checking each q-pooling block's windows.
        let qPoolBlocks = Set(config.stageEnds.dropLast().map { $0 + 1 }.prefix(config.qPool))
        var stage = 1, dim = config.embedDim, heads = config.numHeads
        for i in 0..<stages.reduce(0, +) {
            let window = config.globalAttBlocks.contains(i) ? 0 : config.windowSpec[stage - 1]
            if config.stageEnds.contains(i - 1) {
                dim = Int(Double(dim) * config.dimMul)
                heads = Int(Double(heads) * config.headMul)
                stage += 1
                guard config.dimMul != 1 || !qPoolBlocks.contains(i) else {
                    throw fail("dim_mul 1 with q-pooling is not supported (the reference would fail)")
                }
            }
            guard heads > 0, dim % heads == 0 else { throw fail("block \(i): \(dim) channels do not split into \(heads) heads") }
            if qPoolBlocks.contains(i) {
                let s = config.qStride
                if window > 0 {
                    let fits = window % s == 0
                        && MultiScaleAttention.grid(extent, window) == MultiScaleAttention.grid(extent / s, window / s)
                    guard fits else {
                        throw fail("block \(i): window \(window) with q_stride \(s) does not fit a \(extent)-token grid")
                    }
                }
                extent /= s
            }
            guard extent > 0 else { throw fail("image_size \(imageSize) is too small for \(stages.count) stages") }
        }
    }
}
