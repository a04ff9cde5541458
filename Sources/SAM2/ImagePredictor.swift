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

/// Prompts for one object on one image, in source pixels.
public struct ImagePrompt: Sendable {
    /// Clicks: (x, y, label) with label 1 = foreground, 0 = background.
    public var points: [(x: Float, y: Float, label: Int)]
    /// Box (x1, y1, x2, y2).
    public var box: (x1: Float, y1: Float, x2: Float, y2: Float)?
    /// Low-res mask logits from an earlier prediction: [1, 1, 4h, 4w].
    public var maskLogits: Tensor?

    public init(points: [(x: Float, y: Float, label: Int)] = [], box: (x1: Float, y1: Float, x2: Float, y2: Float)? = nil,
                maskLogits: Tensor? = nil) {
        self.points = points
        self.box = box
        self.maskLogits = maskLogits
    }

    public var isEmpty: Bool { points.isEmpty && box == nil && maskLogits == nil }
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

/// Errors from invalid prompts, naming what is wrong.
public enum PromptError: Error, Equatable, CustomStringConvertible {
    case empty
    case pointOutsideImage(x: Float, y: Float, width: Int, height: Int)
    case boxOutsideImage(x1: Float, y1: Float, x2: Float, y2: Float, width: Int, height: Int)
    case invalidBox(x1: Float, y1: Float, x2: Float, y2: Float)
    case invalidLabel(Int)
    case maskShape(expected: [Int], actual: [Int])

    public var description: String {
        switch self {
        case .empty: return "no prompt given: add a point, a box or a mask"
        case let .pointOutsideImage(x, y, w, h): return "point (\(x), \(y)) lies outside the \(w)x\(h) image"
        case let .boxOutsideImage(x1, y1, x2, y2, w, h): return "box (\(x1), \(y1), \(x2), \(y2)) lies outside the \(w)x\(h) image"
        case let .invalidBox(x1, y1, x2, y2): return "box (\(x1), \(y1), \(x2), \(y2)) is empty or inverted: need x1 < x2 and y1 < y2"
        case let .invalidLabel(label): return "point label \(label) is not 0 (background) or 1 (foreground)"
        case let .maskShape(expected, actual): return "mask input has shape \(actual), expected \(expected)"
        }
    }
}

/// Segments images with a `SAM2Model`.
public final class ImagePredictor: @unchecked Sendable {
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

extension ImagePrompt {
    /// Converts source-pixel prompts to model-input point prompts (box corners first, labels 2
    /// and 3, then clicks), validating them against the source size. Nil when there are neither
    /// points nor a box.
    public func modelPoints(imageSize: Int, sourceHeight h: Int, sourceWidth w: Int) throws -> PointPrompts? {
        let s = Float(imageSize)
        var coords: [(x: Float, y: Float)] = [], labels: [Int] = []
        if let box {
            guard box.x1 < box.x2, box.y1 < box.y2 else { throw PromptError.invalidBox(x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2) }
            guard box.x1 >= 0, box.y1 >= 0, box.x2 <= Float(w), box.y2 <= Float(h) else {
                throw PromptError.boxOutsideImage(x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2, width: w, height: h)
            }
            coords += [(box.x1 / Float(w) * s, box.y1 / Float(h) * s), (box.x2 / Float(w) * s, box.y2 / Float(h) * s)]
            labels += [2, 3]
        }
        for p in points {
            guard p.label == 0 || p.label == 1 else { throw PromptError.invalidLabel(p.label) }
            guard p.x >= 0, p.y >= 0, p.x <= Float(w), p.y <= Float(h) else {
                throw PromptError.pointOutsideImage(x: p.x, y: p.y, width: w, height: h)
            }
            coords.append((p.x / Float(w) * s, p.y / Float(h) * s))
            labels.append(p.label)
        }
        return coords.isEmpty ? nil : PointPrompts(coordinates: coords, labels: labels)
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
        guard !prompt.isEmpty else { throw PromptError.empty }
        let points = try prompt.modelPoints(imageSize: config.imageSize, sourceHeight: sourceHeight, sourceWidth: sourceWidth)
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
