// ImagePredictor: segment one image from prompts, as the official `SAM2ImagePredictor`: set the
// image once (the encoder runs once; features are cached by image key), then predict any number
// of times from points, a box, a previous low-res mask, or a mix.
//
// Coordinates are source-image pixels (x right, y down); masks come back at the source size.

import Tensor

/// Image features the decoder needs, for one image.
public struct ImageFeatures: Sendable {
    /// Lowest-resolution features with `no_mem_embed` added: [1, C, h, w].
    public var imageEmbedding: Tensor
    /// High-resolution features after conv_s0 / conv_s1: [1, C/8, 4h, 4w] and [1, C/4, 2h, 2w].
    public var highRes: (s0: Tensor, s1: Tensor)
    /// Source image size in pixels.
    public var sourceHeight: Int, sourceWidth: Int

    public init(imageEmbedding: Tensor, highRes: (s0: Tensor, s1: Tensor), sourceHeight: Int, sourceWidth: Int) {
        self.imageEmbedding = imageEmbedding
        self.highRes = highRes
        self.sourceHeight = sourceHeight
        self.sourceWidth = sourceWidth
    }
}

/// The result of one prediction.
public struct ImagePrediction: Sendable {
    /// Mask logits at the source resolution: [M, H, W] (mask = logits > 0).
    public var masks: Tensor
    /// Predicted IoU per mask: [M].
    public var iou: [Float]
    /// Low-res logits clamped to [-32, 32]: [M, 4h, 4w]; pass one back as `maskLogits`.
    public var lowResLogits: Tensor
    /// Object presence logit.
    public var objectScore: Float
    /// The raw decoder output (before upsampling and clamping).
    public var decoderOutput: MaskDecoderOutput
    /// Index of the mask with the highest predicted IoU.
    public var bestIndex: Int { iou.indices.max { iou[$0] < iou[$1] } ?? 0 }
}

/// Segments images with a `SAM2Model`.
public final class ImagePredictor {
    public let model: SAM2Model
    private var cache: [String: ImageFeatures] = [:]
    private var cacheOrder: [String] = []
    /// Number of images whose features are kept (most recent first out).
    public var cacheCapacity = 4

    public init(model: SAM2Model) { self.model = model }

    /// Encodes `image` ([1, 3, S, S], normalised) of a source of `sourceHeight` x `sourceWidth`;
    /// with a `key`, repeated calls with the same key reuse the cached features.
    public func setImage(_ image: Tensor, sourceHeight: Int, sourceWidth: Int, key: String? = nil) -> ImageFeatures {
        if let key, let hit = cache[key] { return hit }
        let features = model.imageFeatures(image, sourceHeight: sourceHeight, sourceWidth: sourceWidth)
        if let key {
            cache[key] = features
            cacheOrder.append(key)
            while cacheOrder.count > cacheCapacity { cache[cacheOrder.removeFirst()] = nil }
        }
        return features
    }

    /// Predicts masks for `prompt` on an image set before.
    public func predict(_ features: ImageFeatures, prompt: ImagePrompt, multimaskOutput: Bool) throws -> ImagePrediction {
        try model.predictImage(features, prompt: prompt, multimaskOutput: multimaskOutput)
    }
}

extension SAM2Model {
    /// Image features for the image predictor: the encoder output with `no_mem_embed` added to the
    /// lowest-resolution level (`directly_add_no_mem_embed`).
    public func imageFeatures(_ image: Tensor, sourceHeight: Int, sourceWidth: Int) -> ImageFeatures {
        let out = imageEncoder(image)
        var embedding = out.backboneFPN[2]
        if config.directlyAddNoMemEmbed {
            embedding = embedding + noMemEmbed.reshaped([1, -1, 1, 1])
        }
        return ImageFeatures(imageEmbedding: embedding, highRes: (out.backboneFPN[0], out.backboneFPN[1]),
                             sourceHeight: sourceHeight, sourceWidth: sourceWidth)
    }

    /// `SAM2ImagePredictor._predict` for one prompt set.
    public func predictImage(_ features: ImageFeatures, prompt: ImagePrompt, multimaskOutput: Bool) throws -> ImagePrediction {
        try PromptedDecoder(config: config, promptEncoder: promptEncoder, maskDecoder: maskDecoder)
            .predict(features, prompt: prompt, multimaskOutput: multimaskOutput)
    }
}

/// Prompt encoder + mask decoder for single images, as `SAM2ImagePredictor._predict` runs them.
public struct PromptedDecoder: Sendable {
    public let config: SAM2Config
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder

    public init(config: SAM2Config, promptEncoder: PromptEncoder, maskDecoder: MaskDecoder) {
        self.config = config
        self.promptEncoder = promptEncoder
        self.maskDecoder = maskDecoder
    }

    /// Sparse [1, P, C] and dense [1, C, h, w] prompt embeddings.
    public func embed(_ prompt: ImagePrompt, sourceHeight: Int, sourceWidth: Int) throws -> (sparse: Tensor, dense: Tensor) {
        try PromptRules.check(prompt, width: sourceWidth, height: sourceHeight)
        let points = prompt.modelPoints(imageSize: config.imageSize, sourceHeight: sourceHeight, sourceWidth: sourceWidth)
        let c = config.neck.dModel
        let sparse = points.map { promptEncoder.embedPoints($0).reshaped([1, -1, c]) } ?? Tensor(zeros: [1, 0, c])
        if let mask = prompt.maskLogits {
            let side = 4 * config.embeddingSize
            guard mask.shape == [1, 1, side, side] else { throw PromptError.maskShape(expected: [1, 1, side, side], actual: mask.shape) }
            return (sparse, promptEncoder.embedMask(mask))
        }
        return (sparse, promptEncoder.noMaskDense(batch: 1))
    }

    /// Masks for one prompt set on one image.
    public func predict(_ f: ImageFeatures, prompt: ImagePrompt, multimaskOutput: Bool) throws -> ImagePrediction {
        let (sparse, dense) = try embed(prompt, sourceHeight: f.sourceHeight, sourceWidth: f.sourceWidth)
        let out = maskDecoder(imageEmbedding: f.imageEmbedding, imagePE: promptEncoder.densePositionalEncoding,
                              sparse: sparse, dense: dense, highResFeatures: f.highRes, multimaskOutput: multimaskOutput)
        let m = out.masks.shape[1]
        let masks = out.masks.interpolate(height: f.sourceHeight, width: f.sourceWidth, mode: .bilinear(antialias: false))
        let lowRes = out.masks.clamped(to: -32...32)
        return ImagePrediction(masks: masks.reshaped([m, f.sourceHeight, f.sourceWidth]), iou: out.iou.scalars,
                               lowResLogits: lowRes.reshaped([m, lowRes.shape[2], lowRes.shape[3]]),
                               objectScore: out.objectScoreLogits.scalars[0], decoderOutput: out)
    }
}
