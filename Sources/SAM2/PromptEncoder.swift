// PromptEncoder: SAM's prompt encoder (`sam/prompt_encoder.py`): random-Fourier embeddings of
// points and box corners, learned per-label embeddings, and the mask-downscaling convolutions.
//
// Shapes: points [B, P, 2] in model-input pixels (0..S), labels [B, P] (1 foreground, 0 background,
// 2/3 box corners, -1 padding); sparse output [B, P(+1 pad), C]; dense output [B, C, h, w] with
// h = w = S/16; mask input [B, 1, 4h, 4w] (low-res logits).

import Foundation
import Tensor

/// A set of point prompts for one object: coordinates in model-input pixels and labels.
public struct PointPrompts: Sendable, Equatable {
    /// (x, y) pairs.
    public var coordinates: [(x: Float, y: Float)]
    /// 1 foreground, 0 background, 2 top-left box corner, 3 bottom-right box corner, -1 padding.
    public var labels: [Int]

    public init(coordinates: [(x: Float, y: Float)], labels: [Int]) {
        precondition(coordinates.count == labels.count, "one label per point")
        self.coordinates = coordinates
        self.labels = labels
    }

    public static func == (a: PointPrompts, b: PointPrompts) -> Bool {
        a.labels == b.labels && a.coordinates.count == b.coordinates.count
            && zip(a.coordinates, b.coordinates).allSatisfy { $0.x == $1.x && $0.y == $1.y }
    }
}

/// `PositionEmbeddingRandom`: sin/cos of coordinates projected by a fixed Gaussian matrix.
public struct PositionEmbeddingRandom: Sendable {
    /// [2, C/2].
    public let gaussianMatrix: Tensor

    /// Encodes normalised coordinates [N, 2] (in [0, 1]) as [N, C].
    public func encode(normalized coords: [(x: Float, y: Float)]) -> Tensor {
        let half = gaussianMatrix.shape[1]
        let g = gaussianMatrix.scalars
        var out = [Float](repeating: 0, count: coords.count * 2 * half)
        let twoPi = Float(2 * Double.pi)
        for (n, c) in coords.enumerated() {
            let x = 2 * c.x - 1, y = 2 * c.y - 1
            for j in 0..<half {
                let v = twoPi * (x * g[j] + y * g[half + j])
                out[n * 2 * half + j] = sinf(v)
                out[n * 2 * half + half + j] = cosf(v)
            }
        }
        return Tensor(shape: [coords.count, 2 * half], values: out)
    }

    /// Dense encoding of an h x w grid of pixel centres: [1, C, h, w].
    public func dense(height: Int, width: Int) -> Tensor {
        var coords: [(x: Float, y: Float)] = []
        coords.reserveCapacity(height * width)
        for i in 0..<height {
            for j in 0..<width {
                coords.append(((Float(j + 1) - 0.5) / Float(width), (Float(i + 1) - 0.5) / Float(height)))
            }
        }
        return encode(normalized: coords).reshaped([height, width, -1]).permuted([2, 0, 1])
            .reshaped([1, -1, height, width])
    }
}

/// The prompt encoder (`sam_prompt_encoder.*`).
public struct PromptEncoder: Sendable {
    public let embedDim: Int
    public let imageSize: Int
    public let embeddingSize: Int
    public let peLayer: PositionEmbeddingRandom
    /// Learned embeddings added for labels 0, 1, 2, 3: [4][C].
    public let pointEmbeddings: [Tensor]
    public let notAPointEmbed: Tensor
    public let noMaskEmbed: Tensor
    let maskConv1: Conv2d, maskNorm1: LayerNorm2d, maskConv2: Conv2d, maskNorm2: LayerNorm2d, maskConv3: Conv2d
    /// Cached `get_dense_pe()`: [1, C, h, w].
    public let densePositionalEncoding: Tensor

    public init(_ loader: WeightLoader, embedDim: Int, imageSize: Int, embeddingSize: Int, maskInChans: Int = 16) throws {
        self.embedDim = embedDim
        self.imageSize = imageSize
        self.embeddingSize = embeddingSize
        peLayer = PositionEmbeddingRandom(
            gaussianMatrix: try loader.take("pe_layer.positional_encoding_gaussian_matrix", [2, embedDim / 2]))
        pointEmbeddings = try (0..<4).map { try loader.take("point_embeddings.\($0).weight", [1, embedDim]).reshaped([embedDim]) }
        notAPointEmbed = try loader.take("not_a_point_embed.weight", [1, embedDim]).reshaped([embedDim])
        noMaskEmbed = try loader.take("no_mask_embed.weight", [1, embedDim]).reshaped([embedDim])
        let m = loader.child("mask_downscaling")
        maskConv1 = try Conv2d(m.child("0"), inChannels: 1, outChannels: maskInChans / 4, kernel: 2, stride: 2)
        maskNorm1 = try LayerNorm2d(m.child("1"), channels: maskInChans / 4)
        maskConv2 = try Conv2d(m.child("3"), inChannels: maskInChans / 4, outChannels: maskInChans, kernel: 2, stride: 2)
        maskNorm2 = try LayerNorm2d(m.child("4"), channels: maskInChans)
        maskConv3 = try Conv2d(m.child("6"), inChannels: maskInChans, outChannels: embedDim, kernel: 1)
        densePositionalEncoding = peLayer.dense(height: embeddingSize, width: embeddingSize)
    }

    /// Sparse embeddings of one prompt set: [P + 1, C] (a padding point is appended, as SAM 2 always
    /// passes boxes as labelled corner points).
    public func embedPoints(_ prompts: PointPrompts) -> Tensor {
        var coords = prompts.coordinates.map { (x: ($0.x + 0.5) / Float(imageSize), y: ($0.y + 0.5) / Float(imageSize)) }
        var labels = prompts.labels
        coords.append((x: 0.5 / Float(imageSize), y: 0.5 / Float(imageSize)))
        labels.append(-1)
        var embedding = peLayer.encode(normalized: coords)
        let c = embedDim
        embedding.withUnsafeMutablePointer { p in
            for (n, label) in labels.enumerated() {
                let row = p + n * c
                if label == -1 {
                    notAPointEmbed.withUnsafePointer { e in for j in 0..<c { row[j] = e[j] } }
                } else if (0...3).contains(label) {
                    pointEmbeddings[label].withUnsafePointer { e in for j in 0..<c { row[j] += e[j] } }
                }
            }
        }
        return embedding
    }

    /// Dense embedding of a low-res mask [B, 1, 4h, 4w] -> [B, C, h, w].
    public func embedMask(_ mask: Tensor) -> Tensor {
        var x = maskNorm1(maskConv1(mask))
        x.apply(.gelu)
        x = maskNorm2(maskConv2(x))
        x.apply(.gelu)
        return maskConv3(x)
    }

    /// The dense embedding when no mask is given: no_mask_embed broadcast to [B, C, h, w].
    public func noMaskDense(batch: Int) -> Tensor {
        let plane = embeddingSize * embeddingSize
        var out = Tensor(uninitialized: [batch, embedDim, embeddingSize, embeddingSize])
        let values = noMaskEmbed.scalars
        out.withUnsafeMutablePointer { p in
            for b in 0..<batch {
                for c in 0..<embedDim { (p + (b * embedDim + c) * plane).update(repeating: values[c], count: plane) }
            }
        }
        return out
    }
}
