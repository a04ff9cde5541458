// FpnNeck: the feature pyramid neck of SAM 2's image encoder
// (sam2/modeling/backbones/image_encoder.py `FpnNeck`) and its sine position encoding
// (position_encoding.py `PositionEmbeddingSine`). Keys `image_encoder.neck.convs.{j}.conv.*`.
//
// Legend: B batch, d = d_model, C_i trunk channels of level i, H_i/W_i its extents. Levels are
// indexed finest first (level 0 = stride 4); the lateral convs are indexed coarsest first
// (`convs.{j}` serves level n - j, n = levels - 1), as in the reference.

import Checkpoint
import Tensor

/// `FpnNeck`: 1x1 lateral convolutions to d channels, then a top-down pass from the coarsest
/// level that adds the 2x-upsampled previous level to the lateral features of the levels in
/// `fpn_top_down_levels` (sum fusion). No output convolutions.
public struct FpnNeck: Sendable {
    public let dModel: Int
    /// Trunk channels per level, coarsest first (`backbone_channel_list`).
    public let backboneChannelList: [Int]
    /// `convs.{j}.conv`: [d, C, 1, 1], j = 0 for the coarsest level.
    public let convs: [Conv2d]
    /// Levels (finest first) that receive top-down features.
    public let fpnTopDownLevels: Set<Int>
    /// `fpn_interp_model`: nearest or bilinear (align_corners false), scale factor 2.
    public let interpolation: InterpolationMode

    /// Binds `loader` (the neck prefix, e.g. `image_encoder.neck`).
    public init(config: NeckConfig, loader: WeightLoader) throws {
        guard config.dModel > 0, config.dModel % 4 == 0 else {
            throw ImageEncoderConfigError(message: "neck: d_model \(config.dModel) must be a positive multiple of 4 (sine position encoding)")
        }
        switch config.fpnInterpModel {
        case "nearest": interpolation = .nearest
        case "bilinear": interpolation = .bilinear(antialias: false)
        default:
            throw ImageEncoderConfigError(message: "neck: fpn_interp_model '\(config.fpnInterpModel)' is not supported; use nearest or bilinear")
        }
        dModel = config.dModel
        backboneChannelList = config.backboneChannelList
        fpnTopDownLevels = Set(config.fpnTopDownLevels)
        convs = try config.backboneChannelList.enumerated().map { j, channels in
            try Conv2d(loader.child("convs.\(j).conv"), inChannels: channels, outChannels: config.dModel, kernel: 1)
        }
    }

    /// Channels-last trunk outputs xs [B, H_i, W_i, C_i] (Hiera's own layout, finest first) ->
    /// features [B, d, H_i, W_i], finest first. The lateral 1x1 convolutions read the tokens
    /// transposed, so the trunk outputs are never permuted. A top-down level must be exactly twice
    /// the size of the next coarser one. Levels in `skipped` are not computed (empty tensors in
    /// their place): they must take no top-down term and give none (`canSkip`).
    public func callAsFunction(_ xs: [Tensor], skipping skipped: Set<Int> = []) -> [Tensor] {
        precondition(xs.count == convs.count, "FpnNeck: \(xs.count) trunk levels for \(convs.count) convs")
        precondition(skipped.allSatisfy(canSkip), "FpnNeck: levels \(skipped.sorted()) feed or take a top-down term")
        let n = convs.count - 1
        var out = [Tensor](repeating: Tensor(zeros: [0]), count: convs.count)
        var previous: Tensor? = nil
        for i in stride(from: n, through: 0, by: -1) {
            if skipped.contains(i) {
                previous = nil
                continue
            }
            var features = xs[i].pointwiseConv2dChannelsLast(weight: convs[n - i].weight, bias: convs[n - i].bias)  // lateral
            if fpnTopDownLevels.contains(i), let coarser = previous {
                let (h, w) = (coarser.shape[2], coarser.shape[3])
                precondition(features.shape[2] == 2 * h && features.shape[3] == 2 * w,
                             "FpnNeck: level \(i) is \(features.shape), not twice level \(i + 1) \(coarser.shape)")
                features.add(coarser.interpolate(height: 2 * h, width: 2 * w, mode: interpolation))
            }
            previous = features
            out[i] = features
        }
        return out
    }

    /// Whether level `level`'s features are only its lateral convolution and no other level's
    /// depend on them: it takes no top-down term and the next finer level takes none either.
    public func canSkip(_ level: Int) -> Bool {
        level >= 0 && level < convs.count && !fpnTopDownLevels.contains(level) && !fpnTopDownLevels.contains(level - 1)
    }

    /// `PositionEmbeddingSine(d)` of a [B, d, height, width] feature map: [B, d, height, width]
    /// (normalised positions, scale 2 pi, temperature 10000; y in the first d/2 channels).
    public static func positionEncoding(channels: Int, batch: Int, height: Int, width: Int) -> Tensor {
        let one = PositionEncoding.sine2D(channels: channels, height: height, width: width)
            .reshaped([1, channels, height, width])
        return batch == 1 ? one : Tensor.concatenate(Array(repeating: one, count: batch), axis: 0)
    }
}
