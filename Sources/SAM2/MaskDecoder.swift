// MaskDecoder: SAM 2's mask decoder (`sam/mask_decoder.py`): output tokens + prompt tokens run
// through the two-way transformer; the image tokens are upscaled x4 (with the encoder's
// high-resolution features added) and each mask token's hypernetwork MLP turns them into a mask.
//
// Shapes: image embedding [B, C, h, w]; dense prompt [B, C, h, w]; sparse prompt [B, P, C];
// high-res features [B, C/8, 4h, 4w] and [B, C/4, 2h, 2w]. Masks [B, M, 4h, 4w] (logits),
// IoU [B, M], SAM tokens [B, M or 1, C], object score logits [B, 1].

import Tensor

/// What the mask decoder returns for a batch of prompt sets.
public struct MaskDecoderOutput: Sendable {
    /// Mask logits [B, M, 4h, 4w] (M = 3 for multimask output, else 1).
    public var masks: Tensor
    /// Predicted IoU [B, M].
    public var iou: Tensor
    /// Output tokens used for object pointers [B, M or 1, C].
    public var samTokens: Tensor
    /// Object presence logits [B, 1] (> 0: the object is visible).
    public var objectScoreLogits: Tensor
}

/// The mask decoder (`sam_mask_decoder.*`).
public struct MaskDecoder: Sendable {
    public let dim: Int
    public let numMaskTokens: Int
    let transformer: TwoWayTransformer
    let iouToken: Tensor, maskTokens: Tensor, objScoreToken: Tensor?
    let upscale1: ConvTranspose2d, upscaleNorm: LayerNorm2d, upscale2: ConvTranspose2d
    let hypernetworks: [MLP]
    let iouHead: MLP
    let objScoreHeadMLP: MLP?, objScoreHeadLinear: Linear?
    let useHighResFeatures: Bool
    let useMultimaskTokenForObjPtr: Bool
    let dynamicMultimaskViaStability: Bool
    let stabilityDelta: Float, stabilityThreshold: Float

    public init(_ loader: WeightLoader, config: SAM2Config) throws {
        let c = config.neck.dModel
        dim = c
        numMaskTokens = 4
        transformer = try TwoWayTransformer(loader.child("transformer"), dim: c)
        iouToken = try loader.take("iou_token.weight", [1, c])
        maskTokens = try loader.take("mask_tokens.weight", [numMaskTokens, c])
        objScoreToken = config.predObjScores ? try loader.take("obj_score_token.weight", [1, c]) : nil
        upscale1 = try ConvTranspose2d(loader.child("output_upscaling.0"), inChannels: c, outChannels: c / 4, kernel: 2)
        upscaleNorm = try LayerNorm2d(loader.child("output_upscaling.1"), channels: c / 4)
        upscale2 = try ConvTranspose2d(loader.child("output_upscaling.3"), inChannels: c / 4, outChannels: c / 8, kernel: 2)
        hypernetworks = try (0..<numMaskTokens).map {
            try MLP(loader.child("output_hypernetworks_mlps.\($0)"), inputDim: c, hiddenDim: c, outputDim: c / 8, numLayers: 3)
        }
        iouHead = try MLP(loader.child("iou_prediction_head"), inputDim: c, hiddenDim: 256, outputDim: numMaskTokens,
                          numLayers: 3, sigmoidOutput: config.iouPredictionUseSigmoid)
        if config.predObjScores && config.predObjScoresMlp {
            objScoreHeadMLP = try MLP(loader.child("pred_obj_score_head"), inputDim: c, hiddenDim: c, outputDim: 1, numLayers: 3)
            objScoreHeadLinear = nil
        } else if config.predObjScores {
            objScoreHeadLinear = try Linear(loader.child("pred_obj_score_head"), inFeatures: c, outFeatures: 1)
            objScoreHeadMLP = nil
        } else {
            objScoreHeadMLP = nil; objScoreHeadLinear = nil
        }
        useHighResFeatures = config.useHighResFeaturesInSam
        useMultimaskTokenForObjPtr = config.useMultimaskTokenForObjPtr
        dynamicMultimaskViaStability = config.dynamicMultimaskViaStability
        stabilityDelta = config.dynamicMultimaskStabilityDelta
        stabilityThreshold = config.dynamicMultimaskStabilityThresh
    }

    /// Runs the decoder for B prompt sets. `sparse` is [B, P, C] (P may be 0); `imageEmbedding`,
    /// `dense` and the high-res features carry the batch (one row per prompt set).
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                               highResFeatures: (s0: Tensor, s1: Tensor)?, multimaskOutput: Bool) -> MaskDecoderOutput {
        let b = sparse.shape[0]
        // Output tokens: [obj_score?, iou, mask x4], then the prompt tokens.
        var fixed = [iouToken, maskTokens]
        if let objScoreToken { fixed.insert(objScoreToken, at: 0) }
        let outputTokens = Tensor.concatenate(fixed, axis: 0)
        let t0 = outputTokens.shape[0]
        let perBatch = (0..<b).map { i -> Tensor in
            let prompt = sparse.slice(axis: 0, i..<(i + 1)).reshaped([sparse.shape[1], dim])
            return Tensor.concatenate([outputTokens, prompt], axis: 0)
        }
        let tokens = Tensor.concatenate(perBatch, axis: 0).reshaped([b, t0 + sparse.shape[1], dim])
        let src = imageEmbedding + dense
        let (hs, keys) = transformer(image: src, imagePE: imagePE, tokens: tokens)
        let s = objScoreToken == nil ? 0 : 1
        let (h, w) = (src.shape[2], src.shape[3])
        let upscaledInput = keys.permuted([0, 2, 1]).reshaped([b, dim, h, w])
        var upscaled: Tensor
        if useHighResFeatures, let highRes = highResFeatures {
            upscaled = upscaleNorm(upscale1(upscaledInput) + highRes.s1)
            upscaled.apply(.gelu)
            upscaled = upscale2(upscaled) + highRes.s0
            upscaled.apply(.gelu)
        } else {
            upscaled = upscaleNorm(upscale1(upscaledInput))
            upscaled.apply(.gelu)
            upscaled = upscale2(upscaled)
            upscaled.apply(.gelu)
        }
        let maskTokensOut = hs.slice(axis: 1, (s + 1)..<(s + 1 + numMaskTokens))  // [B, 4, C]
        let hyper = Tensor.concatenate((0..<numMaskTokens).map { i in
            hypernetworks[i](maskTokensOut.slice(axis: 1, i..<(i + 1)))  // [B, 1, C/8]
        }, axis: 1)  // [B, 4, C/8]
        let (uh, uw) = (upscaled.shape[2], upscaled.shape[3])
        let allMasks = batchedMatmul(hyper, upscaled.reshaped([b, dim / 8, uh * uw])).reshaped([b, numMaskTokens, uh, uw])
        let allIoU = iouHead(hs.slice(axis: 1, s..<(s + 1))).reshaped([b, numMaskTokens])
        let objectScores: Tensor
        let objToken = hs.slice(axis: 1, 0..<1).reshaped([b, dim])
        if let objScoreHeadMLP {
            objectScores = objScoreHeadMLP(objToken)
        } else if let objScoreHeadLinear {
            objectScores = objScoreHeadLinear(objToken)
        } else {
            objectScores = Tensor(repeating: 10, shape: [b, 1])
        }
        var masks: Tensor, iou: Tensor
        if multimaskOutput {
            masks = allMasks.slice(axis: 1, 1..<numMaskTokens)
            iou = allIoU.slice(axis: 1, 1..<numMaskTokens)
        } else if dynamicMultimaskViaStability {
            (masks, iou) = selectStableMasks(allMasks, allIoU)
        } else {
            masks = allMasks.slice(axis: 1, 0..<1)
            iou = allIoU.slice(axis: 1, 0..<1)
        }
        let samTokens = multimaskOutput && useMultimaskTokenForObjPtr
            ? maskTokensOut.slice(axis: 1, 1..<numMaskTokens) : maskTokensOut.slice(axis: 1, 0..<1)
        return MaskDecoderOutput(masks: masks, iou: iou, samTokens: samTokens, objectScoreLogits: objectScores)
    }

    /// Stability score of mask logits [count]: |logits > delta| / |logits > -delta| (1 when empty).
    public static func stabilityScore(_ logits: UnsafeBufferPointer<Float>, delta: Float) -> Float {
        var inner = 0, outer = 0
        for v in logits {
            if v > delta { inner += 1 }
            if v > -delta { outer += 1 }
        }
        return outer > 0 ? Float(inner) / Float(outer) : 1
    }

    /// `_dynamic_multimask_via_stability`: keep the single-mask output when it is stable, else the
    /// multimask output with the highest predicted IoU.
    func selectStableMasks(_ allMasks: Tensor, _ allIoU: Tensor) -> (Tensor, Tensor) {
        let (b, plane) = (allMasks.shape[0], allMasks.shape[2] * allMasks.shape[3])
        var masks = Tensor(uninitialized: [b, 1, allMasks.shape[2], allMasks.shape[3]])
        var iou = Tensor(uninitialized: [b, 1])
        let scores = allIoU.scalars
        allMasks.withUnsafePointer { src in
            masks.withUnsafeMutablePointer { dst in
                iou.withUnsafeMutablePointer { pi in
                    for i in 0..<b {
                        let single = UnsafeBufferPointer(start: src + i * numMaskTokens * plane, count: plane)
                        let stable = MaskDecoder.stabilityScore(single, delta: stabilityDelta) >= stabilityThreshold
                        var best = 1
                        for m in 2..<numMaskTokens where scores[i * numMaskTokens + m] > scores[i * numMaskTokens + best] { best = m }
                        let chosen = stable ? 0 : best
                        (dst + i * plane).update(from: src + (i * numMaskTokens + chosen) * plane, count: plane)
                        pi[i] = scores[i * numMaskTokens + chosen]
                    }
                }
            }
        }
        return (masks, iou)
    }
}
