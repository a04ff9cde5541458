// ImageEncoder: SAM 2's image encoder (Hiera trunk -> FPN neck -> drop `scalp` coarsest levels,
// sam2/modeling/backbones/image_encoder.py `ImageEncoder`) together with the step of
// `SAM2Base.forward_image` that projects the two finest levels for the mask decoder
// (`sam_mask_decoder.conv_s0` / `conv_s1`) when use_high_res_features_in_sam is set.
//
// Legend: B batch, S image size, d = d_model (256 for official models). With the official
// scalp 1 there are three levels (finest first) at strides 4, 8, 16: [B, d/8, S/4, S/4] (after
// conv_s0), [B, d/4, S/8, S/8] (after conv_s1), [B, d, S/16, S/16] (the image embedding).

import Checkpoint
import Tensor

/// A model config the image encoder cannot be built from (the reference would assert or fail).
public struct ImageEncoderConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { "invalid image encoder config: \(message); check the model config (JSON) against the checkpoint" }
}

/// What `ImageEncoder` returns for one batch of images: the reference's `forward_image` output, and,
/// on request, the trunk and neck intermediates.
public struct ImageEncoderOutput: Sendable {
    /// `backbone_fpn` after scalp and `conv_s0`/`conv_s1`, finest first: [B, d/8, S/4, S/4],
    /// [B, d/4, S/8, S/8], [B, d, S/16, S/16] for official models.
    public var backboneFPN: [Tensor]
    /// `vision_pos_enc`: sine position encodings [B, d, H_i, W_i] of each `backboneFPN` level.
    public var visionPositions: [Tensor]
    /// `vision_features`: the coarsest kept neck level [B, d, S/16, S/16] (the image embedding).
    public var visionFeatures: Tensor
    /// Trunk stage outputs [B, C_i, H_i, W_i], finest first (empty unless intermediates were kept).
    public var trunk: [Tensor]
    /// All neck levels before scalp and conv_s0/s1 [B, d, H_i, W_i], finest first (empty unless kept).
    public var neckFeatures: [Tensor]
    /// Position encodings of all neck levels (empty unless kept).
    public var neckPositions: [Tensor]
}

/// The image encoder of a SAM 2 model. Immutable and `Sendable`: one instance serves any number of
/// trackers. Binds every `image_encoder.*` tensor and `sam_mask_decoder.conv_s0`/`conv_s1` (the
/// mask decoder's high-resolution projections, applied here once per frame as the reference's
/// `forward_image` does, so the decoder must not bind them again).
public struct ImageEncoder: Sendable {
    public let config: SAM2Config
    /// `image_encoder.trunk`.
    public let trunk: Hiera
    /// `image_encoder.neck`.
    public let neck: FpnNeck
    /// `sam_mask_decoder.conv_s0` [d/8, d, 1, 1] on level 0 (nil without high-res features).
    public let convS0: Conv2d?
    /// `sam_mask_decoder.conv_s1` [d/4, d, 1, 1] on level 1 (nil without high-res features).
    public let convS1: Conv2d?
    /// conv_s0 and conv_s1 folded into the neck's lateral convolutions of levels 0 and 1 (see
    /// `HighResProjection`); nil where those levels take or give a top-down term, or without
    /// high-res features.
    let foldedHighRes: [HighResProjection]?
    /// Position encodings [1, d, H_i, W_i] of the kept levels at `config.imageSize`, computed once
    /// (about 84 MB at 1024 px with d = 256; recomputing them costs more than the neck itself).
    private let cachedPositions: [Tensor]

    /// Binds the encoder's tensors from `loader`, the checkpoint root (keys `image_encoder.*` and
    /// `sam_mask_decoder.conv_s0`/`conv_s1`). Throws `CheckpointError` for a missing tensor or a
    /// wrong shape, `ImageEncoderConfigError` for an inconsistent config.
    public init(config: SAM2Config, loader: WeightLoader) throws {
        self.config = config
        trunk = try Hiera(config: config.hiera, loader: loader.child("image_encoder.trunk"), imageSize: config.imageSize)
        guard trunk.channelList == config.neck.backboneChannelList else {
            throw ImageEncoderConfigError(message: "trunk channels \(trunk.channelList) differ from the neck's backbone_channel_list \(config.neck.backboneChannelList)")
        }
        neck = try FpnNeck(config: config.neck, loader: loader.child("image_encoder.neck"))
        let levels = neck.convs.count - config.neck.scalp
        guard config.neck.scalp >= 0, levels >= 1 else {
            throw ImageEncoderConfigError(message: "scalp \(config.neck.scalp) leaves no level of \(neck.convs.count)")
        }
        let d = config.neck.dModel
        if config.useHighResFeaturesInSam {
            guard levels >= 2, d % 8 == 0 else {
                throw ImageEncoderConfigError(message: "use_high_res_features_in_sam needs 2 levels after scalp and d_model divisible by 8")
            }
            let decoder = loader.child("sam_mask_decoder")
            convS0 = try Conv2d(decoder.child("conv_s0"), inChannels: d, outChannels: d / 8, kernel: 1)
            convS1 = try Conv2d(decoder.child("conv_s1"), inChannels: d, outChannels: d / 4, kernel: 1)
        } else {
            convS0 = nil
            convS1 = nil
        }
        if let convS0, let convS1, levels >= 3, neck.canSkip(0), neck.canSkip(1) {
            let n = neck.convs.count - 1
            foldedHighRes = [HighResProjection(lateral: neck.convs[n], projection: convS0),
                             HighResProjection(lateral: neck.convs[n - 1], projection: convS1)]
        } else {
            foldedHighRes = nil
        }
        cachedPositions = ImageEncoder.levelExtents(config, levels: levels).map { extent in
            FpnNeck.positionEncoding(channels: d, batch: 1, height: extent, width: extent)
        }
    }

    /// Spatial extent of the first `levels` neck levels (finest first) for config.imageSize.
    static func levelExtents(_ config: SAM2Config, levels: Int) -> [Int] {
        var extent = PatchEmbed.gridExtent(config.imageSize)
        var extents: [Int] = []
        for stage in 0..<config.hiera.stages.count {
            if stage > 0 && stage <= config.hiera.qPool { extent /= config.hiera.qStride }
            extents.append(extent)
        }
        return Array(extents.prefix(levels))
    }

    /// image [B, 3, S, S], normalised (mean/std of DESIGN §2) -> backbone features and position
    /// encodings. `keepIntermediates` also returns the trunk outputs and all neck levels with their
    /// position encodings (for parity checks and tracing).
    public func callAsFunction(_ image: Tensor, keepIntermediates: Bool = false) -> ImageEncoderOutput {
        features(of: trunkOutputs(image), keepIntermediates: keepIntermediates)
    }

    /// The first half of `callAsFunction`: the Hiera trunk's stage outputs, channels-last
    /// [B, H_i, W_i, C_i], finest first. A pipelined run computes these on the encoder's thread
    /// and `features(of:)` on the tracker's (the two halves balance the lanes).
    public func trunkOutputs(_ image: Tensor) -> [Tensor] {
        precondition(image.rank == 4 && image.shape[1] == 3, "ImageEncoder expects [B, 3, S, S], got \(image.shape)")
        return trunk(image)
    }

    /// The second half of `callAsFunction`: the neck, scalp, conv_s0 / conv_s1 and position
    /// encodings of `trunkOutputs(_:)`'s result.
    public func features(of trunkOutputs: [Tensor], keepIntermediates: Bool = false) -> ImageEncoderOutput {
        let batch = trunkOutputs[0].shape[0]
        // With conv_s0 / conv_s1 folded in, levels 0 and 1 come from the trunk in one product each
        // (the full neck still runs for the intermediates, which include those levels unprojected).
        let features = neck(trunkOutputs, skipping: foldedHighRes == nil || keepIntermediates ? [] : [0, 1])
        let levels = features.count - config.neck.scalp
        var fpn = Array(features.prefix(levels))
        let positions = (0..<levels).map { level in position(level: level, batch: batch, height: trunkOutputs[level].shape[1], width: trunkOutputs[level].shape[2]) }
        let visionFeatures = fpn[levels - 1]
        if let foldedHighRes {
            fpn[0] = foldedHighRes[0](trunkOutputs[0])
            fpn[1] = foldedHighRes[1](trunkOutputs[1])
        } else if let convS0, let convS1 {
            fpn[0] = convS0(fpn[0])
            fpn[1] = convS1(fpn[1])
        }
        var output = ImageEncoderOutput(backboneFPN: fpn, visionPositions: positions, visionFeatures: visionFeatures,
                                        trunk: [], neckFeatures: [], neckPositions: [])
        if keepIntermediates {
            output.trunk = trunkOutputs.map { $0.permuted([0, 3, 1, 2]) }
            output.neckFeatures = features
            output.neckPositions = features.enumerated().map { level, f in
                level < levels ? positions[level] : position(level: level, batch: batch, height: f.shape[2], width: f.shape[3])
            }
        }
        return output
    }

    /// The position encoding [B, d, height, width] of neck level `level`: cached when the size
    /// matches config.imageSize's, computed otherwise.
    private func position(level: Int, batch: Int, height h: Int, width w: Int) -> Tensor {
        let d = config.neck.dModel
        if level < cachedPositions.count, cachedPositions[level].shape == [1, d, h, w] {
            let one = cachedPositions[level]
            return batch == 1 ? one : Tensor.concatenate(Array(repeating: one, count: batch), axis: 0)
        }
        return FpnNeck.positionEncoding(channels: d, batch: batch, height: h, width: w)
    }
}

/// A 1x1 projection of a high-resolution neck level (conv_s0 or conv_s1) folded into that level's
/// lateral convolution: both are linear and the level takes no top-down term, so
/// proj(lateral(x)) = (P L) x + (P b_L + b_P), one convolution from the trunk's C_i channels straight
/// to d/8 or d/4 (weights folded in Double at load). At 256 px this skips two d-channel maps (64 x 64
/// and 32 x 32) and ~85% of the two levels' multiply-adds; only the rounding differs from the two
/// products (parity: `ImageEncoderParityTests`).
struct HighResProjection: Sendable {
    /// [out, C_i, 1, 1] and [out].
    let weight: Tensor, bias: Tensor

    init(lateral: Conv2d, projection: Conv2d) {
        let (d, cin) = (lateral.weight.shape[0], lateral.weight.shape[1])
        let out = projection.weight.shape[0]
        precondition(projection.weight.shape == [out, d, 1, 1], "HighResProjection: \(projection.weight.shape) after [\(d), \(cin)]")
        let l = lateral.weight.scalars, p = projection.weight.scalars
        let lb = lateral.bias?.scalars ?? [Float](repeating: 0, count: d), pb = projection.bias?.scalars ?? [Float](repeating: 0, count: out)
        var w = [Float](repeating: 0, count: out * cin), b = [Float](repeating: 0, count: out)
        for o in 0..<out {
            var sum = Double(pb[o])
            for k in 0..<d { sum += Double(p[o * d + k]) * Double(lb[k]) }
            b[o] = Float(sum)
            for c in 0..<cin {
                var sum = 0.0
                for k in 0..<d { sum += Double(p[o * d + k]) * Double(l[k * cin + c]) }
                w[o * cin + c] = Float(sum)
            }
        }
        weight = Tensor(shape: [out, cin, 1, 1], values: w)
        bias = Tensor(shape: [out], values: b)
    }

    /// Channels-last trunk level [B, H, W, C_i] -> [B, out, H, W].
    func callAsFunction(_ x: Tensor) -> Tensor { x.pointwiseConv2dChannelsLast(weight: weight, bias: bias) }
}
