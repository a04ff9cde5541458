// SAMHeadsTraining: `SAM2Base._forward_sam_heads` as training runs it, on trainable weights: the
// prompt encoder and the mask decoder, masks of objects judged absent set to -1024
// (`NO_OBJ_SCORE`, which stops their gradient), the candidate with the highest predicted IoU
// chosen when several are predicted, every candidate upsampled to the image size for the loss.
// A step's chosen low-res mask can be the next step's mask input (the correction clicks of
// `SAM2Train._iter_correct_pt_sampling`); the backward pass then carries that input's gradient
// back into the previous step.
//
// Legend: S image size, h = S/16; low-res masks [1, M, S/4, S/4], image-size masks [1, M, S, S];
// M = 3 with multimask output, else 1. One object per step (B = 1).

import SAM2
import Tensor

/// The features of one sample: constants of the frozen image encoder (and memory attention).
public struct SampleFeatures: Sendable {
    /// [1, C, h, w]: the image embedding with `no_mem_embed` added (a prompted frame) or the
    /// memory-conditioned features (a tracked frame).
    public var imageEmbedding: Tensor
    /// The neck's two finest levels before `conv_s0` / `conv_s1`: [1, C, 4h, 4w], [1, C, 2h, 2w].
    public var highRes: (s0: Tensor, s1: Tensor)

    public init(imageEmbedding: Tensor, highRes: (s0: Tensor, s1: Tensor)) {
        self.imageEmbedding = imageEmbedding
        self.highRes = highRes
    }
}

/// The prompt-encoder and mask-decoder half of a model, on trainable parameters.
public struct TrainableSAMHeads: Sendable {
    public let config: SAM2Config
    public let promptEncoder: TrainablePromptEncoder
    public let maskDecoder: TrainableMaskDecoder
    let densePE: Tensor

    public init(model: SAM2Model) {
        config = model.config
        promptEncoder = TrainablePromptEncoder(model.promptEncoder)
        maskDecoder = TrainableMaskDecoder(config: model.config)
        densePE = promptEncoder.densePositionalEncoding
    }

    /// `_use_multimask`: several masks when the config allows it for this kind of frame and the
    /// prompt has 0 or 1 points (a box counts as 2).
    public func usesMultimask(initialConditioningFrame: Bool, pointCount: Int) -> Bool {
        config.multimaskOutputInSam && (initialConditioningFrame || config.multimaskOutputForTracking)
            && config.multimaskMinPtNum <= pointCount && pointCount <= config.multimaskMaxPtNum
    }

    /// One call of the heads.
    public struct Step: Sendable {
        /// Low-res candidates after the absent-object rule [1, M, S/4, S/4].
        public var lowResCandidates: Tensor
        /// The same at the image size [1, M, S, S] (what the loss sees).
        public var highResCandidates: Tensor
        /// Predicted IoU of each candidate [M].
        public var iou: [Float]
        public var objectScore: Float
        /// The candidate with the highest predicted IoU (0 with one candidate).
        public var chosen: Int
        public var multimask: Bool
        public var appearing: Bool { objectScore > 0 }
        /// The chosen low-res mask [1, 1, S/4, S/4]: the output, and the next step's mask input.
        public var lowResMask: Tensor { lowResCandidates.slice(axis: 1, chosen..<(chosen + 1)) }
        var decoder: TrainableMaskDecoder.Saved
        var labels: [Int]
        var mask: TrainablePromptEncoder.MaskSaved?
        var lowResShape: [Int]
    }

    /// `_forward_sam_heads` for one object: points in model-input pixels (nil: no points, one
    /// padding point as the official code passes), an optional mask input [1, 1, S/4, S/4].
    public func forward(_ features: SampleFeatures, points: PointPrompts?, maskInput: Tensor?, multimask: Bool,
                        _ p: Parameters) -> Step {
        let c = config.neck.dModel
        let (sparseRows, labels) = promptEncoder.embedPoints(points ?? PointPrompts(coordinates: [(0, 0)], labels: [-1]), p)
        let sparse = sparseRows.reshaped([1, -1, c])
        var dense: Tensor
        var maskSaved: TrainablePromptEncoder.MaskSaved? = nil
        if let maskInput {
            let side = 4 * config.embeddingSize
            precondition(maskInput.shape == [1, 1, side, side], "mask input \(maskInput.shape), expected [1, 1, \(side), \(side)]")
            (dense, maskSaved) = promptEncoder.embedMask(maskInput, p)
        } else {
            dense = promptEncoder.noMaskDense(batch: 1, p)
        }
        let (out, saved) = maskDecoder.forward(imageEmbedding: features.imageEmbedding, imagePE: densePE, sparse: sparse,
                                               dense: dense, highRes: features.highRes, p)
        let range = multimask ? 1..<maskDecoder.numMaskTokens : 0..<1
        var low = out.masks.slice(axis: 1, range)
        let iou = Array(out.iou.scalars[range])
        let score = out.objectScoreLogits.scalars[0]
        if config.predObjScores && !(score > 0) {
            low = Tensor(repeating: noObjectScore, shape: low.shape)
        }
        var chosen = 0
        for j in 1..<iou.count where iou[j] > iou[chosen] { chosen = j }
        let high = low.interpolate(height: config.imageSize, width: config.imageSize, mode: .bilinear(antialias: false))
        return Step(lowResCandidates: low, highResCandidates: high, iou: iou, objectScore: score, chosen: chosen,
                    multimask: multimask, decoder: saved, labels: labels, mask: maskSaved, lowResShape: low.shape)
    }

    /// Backward of one step: dHighRes [1, M, S, S] (the loss), dIoU [M], dObjectScore, and
    /// dLowResMask [1, 1, S/4, S/4] (the next step's mask-input gradient, or nil). Returns the
    /// gradient of this step's mask input (nil without one).
    public func backward(_ step: Step, dHighRes: Tensor, dIoU: [Float], dObjectScore: Float, dLowResMask: Tensor?,
                         _ p: Parameters, _ g: inout Gradients) -> Tensor? {
        let m = step.lowResShape[1]
        var dMasks: Tensor? = nil
        if !config.predObjScores || step.appearing {
            var dLow = Backward.bilinearResize(dy: dHighRes, height: step.lowResShape[2], width: step.lowResShape[3])
            if let dLowResMask {
                let plane = dLowResMask.count
                dLow.withUnsafeMutablePointer { d in
                    dLowResMask.withUnsafePointer { e in for i in 0..<plane { d[step.chosen * plane + i] += e[i] } }
                }
            }
            // Candidates back into the decoder's four masks.
            var all = Tensor(zeros: [1, maskDecoder.numMaskTokens, step.lowResShape[2], step.lowResShape[3]])
            let offset = step.multimask ? 1 : 0
            let plane = step.lowResShape[2] * step.lowResShape[3]
            all.withUnsafeMutablePointer { a in
                dLow.withUnsafePointer { d in (a + offset * plane).update(from: d, count: m * plane) }
            }
            dMasks = all
        }
        var iouAll = [Float](repeating: 0, count: maskDecoder.numMaskTokens)
        for j in 0..<m { iouAll[(step.multimask ? 1 : 0) + j] = dIoU[j] }
        let (dSparse, dDense) = maskDecoder.backward(step.decoder, dMasks: dMasks, dIoU: Tensor(shape: [1, iouAll.count], values: iouAll),
                                                     dObjectScore: Tensor(shape: [1, 1], values: [dObjectScore]), p, &g)
        promptEncoder.backwardPoints(labels: step.labels, dSparse: dSparse.reshaped([dSparse.shape[1], dSparse.shape[2]]), &g)
        if let mask = step.mask {
            return promptEncoder.backwardMask(mask, dDense: dDense, p, &g)
        }
        promptEncoder.backwardNoMask(dDense: dDense, &g)
        return nil
    }
}
