// TrainableMaskDecoder: SAM 2's `MaskDecoder` (`sam/mask_decoder.py`) for training: the forward
// pass of `predict_masks` with its activations kept, and the backward pass to every
// `sam_mask_decoder.*` parameter, including the high-resolution projections `conv_s0` / `conv_s1`
// (which `SAM2Base.forward_image` applies; here they run on the cached neck features).
//
// Shapes: image embedding [B, C, h, w] (constant: cached, or memory-conditioned); dense prompt
// [B, C, h, w]; sparse prompt [B, P, C]; neck features before the projections [B, C, 4h, 4w]
// and [B, C, 2h, 2w]. Outputs: all four masks [B, 4, 4h, 4w] (logits), IoU [B, 4], object score
// logits [B, 1]. Which masks are used (1..3 or 0) is the caller's choice (`SAMHeads`).

import SAM2
import Tensor

public struct TrainableMaskDecoder: Sendable {
    public let numMaskTokens = 4
    public let hasObjectScore: Bool
    public let useHighResFeatures: Bool
    let transformer: TrainableTwoWayTransformer
    let upscale1: TrainableConvTranspose2d, upscaleNorm: TrainableLayerNorm2d, upscale2: TrainableConvTranspose2d
    let convS0: TrainablePatchConv2d, convS1: TrainablePatchConv2d
    let hypernetworks: [TrainableMLP]
    let iouHead: TrainableMLP
    let objScoreHead: TrainableMLP?
    static let prefix = "sam_mask_decoder"

    /// The decoder of `config` (the official structure; the parameters' shapes come from `Parameters`).
    public init(config: SAM2Config) {
        let d = Self.prefix
        hasObjectScore = config.predObjScores
        useHighResFeatures = config.useHighResFeaturesInSam
        transformer = TrainableTwoWayTransformer(d + ".transformer")
        upscale1 = TrainableConvTranspose2d(d + ".output_upscaling.0")
        upscaleNorm = TrainableLayerNorm2d(d + ".output_upscaling.1")
        upscale2 = TrainableConvTranspose2d(d + ".output_upscaling.3")
        convS0 = TrainablePatchConv2d(d + ".conv_s0")
        convS1 = TrainablePatchConv2d(d + ".conv_s1")
        hypernetworks = (0..<4).map { TrainableMLP("\(d).output_hypernetworks_mlps.\($0)", layers: 3) }
        iouHead = TrainableMLP(d + ".iou_prediction_head", layers: 3, sigmoidOutput: config.iouPredictionUseSigmoid)
        // A linear object-score head is one layer without activation: `MLP` with one layer keys it
        // as `.layers.0`, so the Linear form is kept apart.
        objScoreHead = config.predObjScores && config.predObjScoresMlp ? TrainableMLP(d + ".pred_obj_score_head", layers: 3) : nil
        linearObjScoreHead = config.predObjScores && !config.predObjScoresMlp ? TrainableLinear(d + ".pred_obj_score_head") : nil
    }
    let linearObjScoreHead: TrainableLinear?

    public struct Output: Sendable {
        /// [B, 4, 4h, 4w].
        public var masks: Tensor
        /// [B, 4].
        public var iou: Tensor
        /// [B, 1] (10 without an object-score head, as the official code).
        public var objectScoreLogits: Tensor
        /// The mask tokens after the transformer [B, 4, C] (the SAM output tokens).
        public var maskTokens: Tensor
    }

    public struct Saved: Sendable {
        var tokenCount: Int, promptCount: Int
        var transformer: TrainableTwoWayTransformer.Saved
        var upscaledInput: Tensor
        var highRes: (s0: Tensor, s1: Tensor)?
        var sum1: Tensor, normed1: Tensor, sum2: Tensor, activated1: Tensor
        var upscaled: Tensor
        var hyper: Tensor
        var hypernetworks: [TrainableMLP.Saved]
        var iouHead: TrainableMLP.Saved
        var objScoreHead: TrainableMLP.Saved?
        var objToken: Tensor
    }

    /// `predict_masks`: highRes are the neck features before conv_s0 / conv_s1 (nil without
    /// high-resolution features).
    public func forward(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                        highRes: (s0: Tensor, s1: Tensor)?, _ p: Parameters) -> (Output, Saved) {
        let d = Self.prefix
        let (b, c) = (sparse.shape[0], sparse.shape[2])
        var fixed = [p[d + ".iou_token.weight"], p[d + ".mask_tokens.weight"]]
        if hasObjectScore { fixed.insert(p[d + ".obj_score_token.weight"], at: 0) }
        let outputTokens = Tensor.concatenate(fixed, axis: 0)
        let t0 = outputTokens.shape[0]
        let rows = (0..<b).map { i in
            Tensor.concatenate([outputTokens, sparse.slice(axis: 0, i..<(i + 1)).reshaped([sparse.shape[1], c])], axis: 0)
        }
        let tokens = Tensor.concatenate(rows, axis: 0).reshaped([b, t0 + sparse.shape[1], c])
        let src = imageEmbedding + dense
        let (hs, keys, transformerSaved) = transformer.forward(image: src, imagePE: imagePE, tokens: tokens, p)
        let s = hasObjectScore ? 1 : 0
        let (h, w) = (src.shape[2], src.shape[3])
        let upscaledInput = keys.permuted([0, 2, 1]).reshaped([b, c, h, w])
        var sum1 = upscale1.forward(upscaledInput, p)
        var projected: (s0: Tensor, s1: Tensor)? = nil
        if useHighResFeatures, let highRes {
            let s0 = convS0.forward(highRes.s0, p), s1 = convS1.forward(highRes.s1, p)
            projected = (s0, s1)
            sum1.add(s1)
        }
        let normed1 = upscaleNorm.forward(sum1, p)
        let activated1 = normed1.applying(.gelu)
        var sum2 = upscale2.forward(activated1, p)
        if let projected { sum2.add(projected.s0) }
        let upscaled = sum2.applying(.gelu)
        let maskTokensOut = hs.slice(axis: 1, (s + 1)..<(s + 1 + numMaskTokens))
        var hyperParts: [Tensor] = [], hyperSaved: [TrainableMLP.Saved] = []
        for i in 0..<numMaskTokens {
            let (out, saved) = hypernetworks[i].forward(maskTokensOut.slice(axis: 1, i..<(i + 1)), p)
            hyperParts.append(out)
            hyperSaved.append(saved)
        }
        let hyper = Tensor.concatenate(hyperParts, axis: 1)  // [B, 4, C/8]
        let (uc, uh, uw) = (upscaled.shape[1], upscaled.shape[2], upscaled.shape[3])
        let masks = batchedMatmul(hyper, upscaled.reshaped([b, uc, uh * uw])).reshaped([b, numMaskTokens, uh, uw])
        let (iouOut, iouSaved) = iouHead.forward(hs.slice(axis: 1, s..<(s + 1)), p)
        let objToken = hs.slice(axis: 1, 0..<1).reshaped([b, c])
        var objectScores = Tensor(repeating: 10, shape: [b, 1])
        var objSaved: TrainableMLP.Saved? = nil
        if let objScoreHead {
            let (out, saved) = objScoreHead.forward(objToken, p)
            objectScores = out
            objSaved = saved
        } else if let linearObjScoreHead {
            objectScores = linearObjScoreHead.forward(objToken, p)
        }
        let output = Output(masks: masks, iou: iouOut.reshaped([b, numMaskTokens]), objectScoreLogits: objectScores,
                            maskTokens: maskTokensOut)
        let saved = Saved(tokenCount: t0, promptCount: sparse.shape[1], transformer: transformerSaved, upscaledInput: upscaledInput,
                          highRes: useHighResFeatures ? highRes : nil, sum1: sum1, normed1: normed1, sum2: sum2,
                          activated1: activated1, upscaled: upscaled, hyper: hyper, hypernetworks: hyperSaved,
                          iouHead: iouSaved, objScoreHead: objSaved, objToken: objToken)
        return (output, saved)
    }

    /// Gradients of the outputs (dMasks [B, 4, 4h, 4w], dIoU [B, 4], dObjectScore [B, 1]; nil = zero)
    /// -> (dSparse [B, P, C], dDense [B, C, h, w]); parameter gradients are added to `g`.
    public func backward(_ s: Saved, dMasks: Tensor?, dIoU: Tensor?, dObjectScore: Tensor?,
                         _ p: Parameters, _ g: inout Gradients) -> (dSparse: Tensor, dDense: Tensor) {
        let d = Self.prefix
        let (b, c) = (s.objToken.shape[0], s.objToken.shape[1])
        let t = s.tokenCount + s.promptCount
        let first = hasObjectScore ? 1 : 0
        var dHs = Tensor(zeros: [b, t, c])
        func addRow(_ token: Int, _ grad: Tensor) {
            dHs.withUnsafeMutablePointer { ph in
                grad.withUnsafePointer { pg in
                    for i in 0..<b { for j in 0..<c { ph[(i * t + token) * c + j] += pg[i * c + j] } }
                }
            }
        }
        if let dObjectScore {
            if let objScoreHead, let saved = s.objScoreHead {
                addRow(0, objScoreHead.backward(saved, dy: dObjectScore, p, &g))
            } else if let linearObjScoreHead {
                addRow(0, linearObjScoreHead.backward(x: s.objToken, dy: dObjectScore, p, &g))
            }
        }
        if let dIoU {
            addRow(first, iouHead.backward(s.iouHead, dy: dIoU.reshaped([b, 1, numMaskTokens]), p, &g).reshaped([b, c]))
        }
        var dUpscaledInput = Tensor(zeros: s.upscaledInput.shape)
        if let dMasks {
            let (uc, uh, uw) = (s.upscaled.shape[1], s.upscaled.shape[2], s.upscaled.shape[3])
            let (dHyper, dUpscaledFlat) = Backward.product(a: s.hyper, b: s.upscaled.reshaped([b, uc, uh * uw]),
                                                           dc: dMasks.reshaped([b, numMaskTokens, uh * uw]))
            for i in 0..<numMaskTokens {
                let dTok = hypernetworks[i].backward(s.hypernetworks[i], dy: dHyper.slice(axis: 1, i..<(i + 1)), p, &g)
                addRow(first + 1 + i, dTok.reshaped([b, c]))
            }
            let dSum2 = Backward.gelu(x: s.sum2, dy: dUpscaledFlat.reshaped(s.upscaled.shape))
            if let highRes = s.highRes {
                _ = convS0.backward(x: highRes.s0, dy: dSum2, p, &g, inputGradient: false)
            }
            let dActivated1 = upscale2.backward(x: s.activated1, dy: dSum2, p, &g)
            let dNormed1 = Backward.gelu(x: s.normed1, dy: dActivated1)
            let dSum1 = upscaleNorm.backward(x: s.sum1, dy: dNormed1, p, &g)
            if let highRes = s.highRes {
                _ = convS1.backward(x: highRes.s1, dy: dSum1, p, &g, inputGradient: false)
            }
            dUpscaledInput = upscale1.backward(x: s.upscaledInput, dy: dSum1, p, &g)
        }
        let (hh, ww) = (s.upscaledInput.shape[2], s.upscaledInput.shape[3])
        let dKeys = dUpscaledInput.reshaped([b, c, hh * ww]).permuted([0, 2, 1])
        let (dTokens, dSrc) = transformer.backward(s.transformer, dQueries: dHs, dKeys: dKeys, p, &g)
        // Output tokens are shared by the batch: their gradient sums over it.
        let fixedRows = dTokens.slice(axis: 1, 0..<s.tokenCount)
        var summed = Tensor(zeros: [s.tokenCount, c])
        for i in 0..<b { summed.add(fixedRows.slice(axis: 0, i..<(i + 1)).reshaped([s.tokenCount, c])) }
        var row = 0
        if hasObjectScore { g.add(d + ".obj_score_token.weight", summed.slice(axis: 0, 0..<1)); row = 1 }
        g.add(d + ".iou_token.weight", summed.slice(axis: 0, row..<(row + 1)))
        g.add(d + ".mask_tokens.weight", summed.slice(axis: 0, (row + 1)..<(row + 1 + numMaskTokens)))
        let dSparse = dTokens.slice(axis: 1, s.tokenCount..<t)
        return (dSparse, dSrc)
    }
}
