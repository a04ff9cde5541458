// TrainablePromptEncoder: SAM's `PromptEncoder` (`sam/prompt_encoder.py`) for training. Sparse:
// the fixed random-Fourier encoding of each point (a buffer, not trained) plus the learned
// embedding of its label (`point_embeddings.{0..3}`; padding points, label -1, are replaced by
// `not_a_point_embed`). Dense: the mask-downscaling convolutions of a low-res mask, or
// `no_mask_embed` everywhere.
//
// Shapes: points in model-input pixels (0..S); sparse [B, P + 1, C] (a padding point is always
// appended, as `SAM2Base._forward_sam_heads` passes boxes as corner points); mask input
// [B, 1, 4h, 4w]; dense [B, C, h, w].

import SAM2
import Tensor

public struct TrainablePromptEncoder: Sendable {
    public let embedDim: Int, imageSize: Int, embeddingSize: Int
    /// The fixed Fourier features (`pe_layer`), taken from the loaded model.
    let peLayer: PositionEmbeddingRandom
    let maskConv1: TrainablePatchConv2d, maskNorm1: TrainableLayerNorm2d
    let maskConv2: TrainablePatchConv2d, maskNorm2: TrainableLayerNorm2d, maskConv3: TrainablePatchConv2d
    static let prefix = "sam_prompt_encoder"

    public init(_ encoder: PromptEncoder) {
        embedDim = encoder.embedDim
        imageSize = encoder.imageSize
        embeddingSize = encoder.embeddingSize
        peLayer = encoder.peLayer
        let m = Self.prefix + ".mask_downscaling"
        maskConv1 = TrainablePatchConv2d(m + ".0")
        maskNorm1 = TrainableLayerNorm2d(m + ".1")
        maskConv2 = TrainablePatchConv2d(m + ".3")
        maskNorm2 = TrainableLayerNorm2d(m + ".4")
        maskConv3 = TrainablePatchConv2d(m + ".6")
    }

    /// `get_dense_pe()`: [1, C, h, w] (constant).
    public var densePositionalEncoding: Tensor { peLayer.dense(height: embeddingSize, width: embeddingSize) }

    /// Sparse embeddings [P + 1, C] of one prompt set and the labels used (with the padding point).
    public func embedPoints(_ prompts: PointPrompts, _ p: Parameters) -> (Tensor, [Int]) {
        var coords = prompts.coordinates.map { (x: ($0.x + 0.5) / Float(imageSize), y: ($0.y + 0.5) / Float(imageSize)) }
        var labels = prompts.labels
        coords.append((x: 0.5 / Float(imageSize), y: 0.5 / Float(imageSize)))
        labels.append(-1)
        var embedding = peLayer.encode(normalized: coords)
        let c = embedDim
        let notAPoint = p[Self.prefix + ".not_a_point_embed.weight"]
        let learned = (0..<4).map { p[Self.prefix + ".point_embeddings.\($0).weight"] }
        embedding.withUnsafeMutablePointer { e in
            for (n, label) in labels.enumerated() {
                let row = e + n * c
                if label == -1 {
                    notAPoint.withUnsafePointer { v in for j in 0..<c { row[j] = v[j] } }
                } else if (0...3).contains(label) {
                    learned[label].withUnsafePointer { v in for j in 0..<c { row[j] += v[j] } }
                }
            }
        }
        return (embedding, labels)
    }

    /// dSparse [P + 1, C] of `embedPoints` with `labels` -> gradients of the label embeddings.
    public func backwardPoints(labels: [Int], dSparse: Tensor, _ g: inout Gradients) {
        let c = embedDim
        var sums = [[Float]](repeating: [Float](repeating: 0, count: c), count: 5)  // labels -1, 0...3
        var used = [Bool](repeating: false, count: 5)
        dSparse.withUnsafePointer { d in
            for (n, label) in labels.enumerated() where (-1...3).contains(label) {
                used[label + 1] = true
                for j in 0..<c { sums[label + 1][j] += d[n * c + j] }
            }
        }
        if used[0] { g.add(Self.prefix + ".not_a_point_embed.weight", Tensor(shape: [1, c], values: sums[0])) }
        for label in 0...3 where used[label + 1] {
            g.add(Self.prefix + ".point_embeddings.\(label).weight", Tensor(shape: [1, c], values: sums[label + 1]))
        }
    }

    public struct MaskSaved: Sendable {
        var input: Tensor, conv1: Tensor, act1Input: Tensor, act1: Tensor, conv2: Tensor, act2Input: Tensor, act2: Tensor
    }

    /// Dense embedding of a mask input [B, 1, 4h, 4w] -> [B, C, h, w].
    public func embedMask(_ mask: Tensor, _ p: Parameters) -> (Tensor, MaskSaved) {
        let c1 = maskConv1.forward(mask, p)
        let n1 = maskNorm1.forward(c1, p)
        let a1 = n1.applying(.gelu)
        let c2 = maskConv2.forward(a1, p)
        let n2 = maskNorm2.forward(c2, p)
        let a2 = n2.applying(.gelu)
        return (maskConv3.forward(a2, p), MaskSaved(input: mask, conv1: c1, act1Input: n1, act1: a1, conv2: c2, act2Input: n2, act2: a2))
    }

    /// dDense -> dMask [B, 1, 4h, 4w]; adds the mask-downscaling gradients.
    public func backwardMask(_ s: MaskSaved, dDense: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        let dA2 = maskConv3.backward(x: s.act2, dy: dDense, p, &g)!
        let dN2 = Backward.gelu(x: s.act2Input, dy: dA2)
        let dC2 = maskNorm2.backward(x: s.conv2, dy: dN2, p, &g)
        let dA1 = maskConv2.backward(x: s.act1, dy: dC2, p, &g)!
        let dN1 = Backward.gelu(x: s.act1Input, dy: dA1)
        let dC1 = maskNorm1.backward(x: s.conv1, dy: dN1, p, &g)
        return maskConv1.backward(x: s.input, dy: dC1, p, &g)!
    }

    /// `no_mask_embed` broadcast to [B, C, h, w].
    public func noMaskDense(batch: Int, _ p: Parameters) -> Tensor {
        let plane = embeddingSize * embeddingSize
        var out = Tensor(uninitialized: [batch, embedDim, embeddingSize, embeddingSize])
        let values = p[Self.prefix + ".no_mask_embed.weight"].scalars
        out.withUnsafeMutablePointer { o in
            for b in 0..<batch {
                for ch in 0..<embedDim { (o + (b * embedDim + ch) * plane).update(repeating: values[ch], count: plane) }
            }
        }
        return out
    }

    /// dDense of `noMaskDense` -> the gradient of `no_mask_embed` (summed over batch and pixels).
    public func backwardNoMask(dDense: Tensor, _ g: inout Gradients) {
        let (b, c, plane) = (dDense.shape[0], dDense.shape[1], dDense.shape[2] * dDense.shape[3])
        var sums = [Float](repeating: 0, count: c)
        dDense.withUnsafePointer { d in Backward.channelSums(d, batch: b, channels: c, plane: plane, into: &sums) }
        g.add(Self.prefix + ".no_mask_embed.weight", Tensor(shape: [1, c], values: sums))
    }
}
