// SAM2Model+Tracking: the per-frame model steps of `SAM2Base` that the video tracker composes:
// frame features, SAM heads with object pointers and occlusion handling, the mask-as-output path,
// memory encoding, and memory-conditioned features.
//
// Legend: B objects in a batch, C model width (d_model), Cm memory width, h = w = S/16 feature
// grid, S image size. Low-res masks are [B, 1, S/4, S/4], high-res [B, 1, S, S].

import Tensor

/// Features of one frame, shared by every object tracked on it.
public struct FrameFeatures: Sendable {
    /// Lowest-resolution backbone features [1, C, h, w] (no memory conditioning).
    public var visionFeatures: Tensor
    /// Their sine position encoding [1, C, h, w].
    public var visionPosition: Tensor
    /// High-resolution features after conv_s0 / conv_s1: [1, C/8, 4h, 4w], [1, C/4, 2h, 2w].
    public var highRes: (s0: Tensor, s1: Tensor)
}

/// The Hiera trunk's outputs for one frame (channels-last [1, H_i, W_i, C_i], finest first):
/// what the image encoder has computed before its neck (`SAM2Model.trunkFeatures(_:)`).
public struct TrunkFeatures: Sendable {
    public let levels: [Tensor]
}

/// Output of the SAM heads for B objects (`_forward_sam_heads` / `_use_mask_as_output`).
public struct SAMHeadsOutput: Sendable {
    /// Chosen low-res mask logits [B, 1, S/4, S/4] (-1024 where the object is absent).
    public var lowResMasks: Tensor
    /// The same upsampled to [B, 1, S, S].
    public var highResMasks: Tensor
    /// Object pointers [B, C].
    public var objectPointers: Tensor
    /// Object presence logits [B, 1].
    public var objectScores: Tensor
    /// Predicted IoU of the chosen mask [B].
    public var iou: [Float]
    /// With multimask output, every candidate mask before the choice: low-res logits
    /// [B, M, S/4, S/4] (-1024 where the object is absent) and their predicted IoU [B * M]
    /// (row-major); nil and empty otherwise.
    public var candidates: Tensor? = nil
    public var candidateIoU: [Float] = []
}

/// Logit given to masks of objects judged absent (`NO_OBJ_SCORE`).
public let noObjectScore: Float = -1024

extension SAM2Model {
    /// Runs the image encoder on one frame [1, 3, S, S].
    public func frameFeatures(_ image: Tensor) -> FrameFeatures {
        frameFeatures(of: trunkFeatures(image))
    }

    /// The image encoder's trunk on one frame [1, 3, S, S]: the first, larger half of
    /// `frameFeatures(_:)`.
    public func trunkFeatures(_ image: Tensor) -> TrunkFeatures {
        TrunkFeatures(levels: imageEncoder.trunkOutputs(image))
    }

    /// The rest of `frameFeatures(_:)` (neck, high-resolution projections, position encodings).
    public func frameFeatures(of trunk: TrunkFeatures) -> FrameFeatures {
        let out = imageEncoder.features(of: trunk.levels)
        return FrameFeatures(visionFeatures: out.backboneFPN[2], visionPosition: out.visionPositions[2],
                             highRes: (out.backboneFPN[0], out.backboneFPN[1]))
    }

    /// Repeats a [1, ...] tensor B times along axis 0.
    static func repeatBatch(_ x: Tensor, _ b: Int) -> Tensor {
        b == 1 ? x : Tensor.concatenate(Array(repeating: x, count: b), axis: 0)
    }

    /// `_forward_sam_heads`: prompt encoder + mask decoder on (memory-conditioned) features
    /// [B, C, h, w]. `points[i]` nil gives the official "no points" input (one padding point).
    /// `maskInputs` are [B, 1, S/4, S/4] mask prompts (low-res logits or a downsampled mask).
    public func forwardSAMHeads(_ backbone: Tensor, points: [PointPrompts?], maskInputs: Tensor?,
                                highRes: (s0: Tensor, s1: Tensor), multimaskOutput: Bool) -> SAMHeadsOutput {
        let b = backbone.shape[0]
        let c = config.neck.dModel
        let sparseRows = points.map { p -> Tensor in
            let prompts = p ?? PointPrompts(coordinates: [(0, 0)], labels: [-1])
            return promptEncoder.embedPoints(prompts)
        }
        precondition(Set(sparseRows.map { $0.shape[0] }).count == 1, "objects in a batch need equal prompt counts")
        let sparse = Tensor.concatenate(sparseRows, axis: 0).reshaped([b, -1, c])
        var dense: Tensor
        if var mask = maskInputs {
            let side = 4 * config.embeddingSize
            if mask.shape[2] != side || mask.shape[3] != side {
                mask = mask.interpolate(height: side, width: side, mode: .bilinear(antialias: true))
            }
            dense = promptEncoder.embedMask(mask)
        } else {
            dense = promptEncoder.noMaskDense(batch: b)
        }
        let decoded = maskDecoder(imageEmbedding: backbone, imagePE: promptEncoder.densePositionalEncoding,
                                  sparse: sparse, dense: dense,
                                  highResFeatures: (SAM2Model.repeatBatch(highRes.s0, b), SAM2Model.repeatBatch(highRes.s1, b)),
                                  multimaskOutput: multimaskOutput)
        var lowResMulti = decoded.masks
        let scores = decoded.objectScoreLogits.scalars
        let m = lowResMulti.shape[1], plane = lowResMulti.shape[2] * lowResMulti.shape[3]
        if config.predObjScores {
            lowResMulti.withUnsafeMutablePointer { p in
                for i in 0..<b where !(scores[i] > 0) {
                    (p + i * m * plane).update(repeating: noObjectScore, count: m * plane)
                }
            }
        }
        // Pick the best of several masks by predicted IoU (first maximum on ties, as argmax).
        let ious = decoded.iou.scalars
        var chosen = [Int](repeating: 0, count: b)
        if multimaskOutput {
            for i in 0..<b {
                var best = 0
                for j in 1..<m where ious[i * m + j] > ious[i * m + best] { best = j }
                chosen[i] = best
            }
        }
        var lowRes = Tensor(uninitialized: [b, 1, lowResMulti.shape[2], lowResMulti.shape[3]])
        var tokens = Tensor(uninitialized: [b, c])
        let tokenCount = decoded.samTokens.shape[1]
        lowResMulti.withUnsafePointer { src in
            lowRes.withUnsafeMutablePointer { dst in
                for i in 0..<b { (dst + i * plane).update(from: src + (i * m + chosen[i]) * plane, count: plane) }
            }
        }
        decoded.samTokens.withUnsafePointer { src in
            tokens.withUnsafeMutablePointer { dst in
                for i in 0..<b {
                    let t = tokenCount > 1 ? chosen[i] : 0
                    (dst + i * c).update(from: src + (i * tokenCount + t) * c, count: c)
                }
            }
        }
        let highResMasks = lowRes.interpolate(height: config.imageSize, width: config.imageSize, mode: .bilinear(antialias: false))
        var pointers = objectPointer(tokens)
        if config.predObjScores, let noObjPtr {
            pointers = applyPresence(pointers, appearing: scores.map { $0 > 0 ? 1 : 0 }, noObjPtr: noObjPtr)
        }
        return SAMHeadsOutput(lowResMasks: lowRes, highResMasks: highResMasks, objectPointers: pointers,
                              objectScores: decoded.objectScoreLogits,
                              iou: (0..<b).map { ious[$0 * m + chosen[$0]] },
                              candidates: multimaskOutput ? lowResMulti : nil, candidateIoU: multimaskOutput ? ious : [])
    }

    /// ptr * appearing + (1 - appearing) * no_obj_ptr per row (`fixed_no_obj_ptr`).
    func applyPresence(_ pointers: Tensor, appearing: [Float], noObjPtr: Tensor) -> Tensor {
        let c = pointers.shape[1]
        var out = pointers
        let empty = noObjPtr.scalars
        out.withUnsafeMutablePointer { p in
            for i in 0..<appearing.count {
                let a = appearing[i]
                for j in 0..<c {
                    let kept = config.fixedNoObjPtr ? a * p[i * c + j] : p[i * c + j]
                    p[i * c + j] = kept + (1 - a) * empty[j]
                }
            }
        }
        return out
    }

    /// `_use_mask_as_output`: a binary mask [B, 1, S, S] becomes the output directly (logits
    /// +10 / -10); the object pointer still comes from the SAM heads prompted with the mask.
    public func useMaskAsOutput(_ backbone: Tensor, highRes: (s0: Tensor, s1: Tensor), mask: Tensor) -> SAMHeadsOutput {
        let b = mask.shape[0]
        let highResMasks = mask.scaled(by: 20, adding: -10)
        let quarter = mask.shape[2] / 4
        let lowRes = highResMasks.interpolate(height: quarter, width: mask.shape[3] / 4, mode: .bilinear(antialias: true))
        let plane = mask.shape[2] * mask.shape[3]
        let appearing: [Float] = mask.withUnsafeBufferPointer { p in
            (0..<b).map { i in p[(i * plane)..<((i + 1) * plane)].contains { $0 > 0 } ? 1 : 0 }
        }
        var pointers = Tensor(zeros: [b, config.neck.dModel])
        if config.useObjPtrsInEncoder, let maskDownsample {
            let heads = forwardSAMHeads(backbone, points: Array(repeating: nil, count: b), maskInputs: maskDownsample(mask),
                                        highRes: highRes, multimaskOutput: false)
            pointers = heads.objectPointers
        }
        if config.predObjScores, let noObjPtr {
            pointers = applyPresence(pointers, appearing: appearing, noObjPtr: noObjPtr)
        }
        let scores = Tensor(shape: [b, 1], values: appearing.map { 20 * $0 - 10 })
        return SAMHeadsOutput(lowResMasks: lowRes, highResMasks: highResMasks, objectPointers: pointers,
                              objectScores: scores, iou: Array(repeating: 1, count: b))
    }

    /// `_encode_new_memory`: memory features [B, Cm, h, w] (and their position encoding) from the
    /// frame's raw features and high-res mask logits [B, 1, S, S]. Masks from clicks are binarised.
    public func encodeMemory(_ frame: FrameFeatures, highResMasks: Tensor, objectScores: [Float],
                             maskFromPoints: Bool) -> (features: Tensor, position: Tensor) {
        let b = highResMasks.shape[0]
        var mask: Tensor
        if config.binarizeMaskFromPtsForMemEnc && maskFromPoints {
            mask = highResMasks
            mask.withUnsafeMutablePointer { p in
                for i in 0..<highResMasks.count { p[i] = p[i] > 0 ? 1 : 0 }
            }
        } else {
            mask = highResMasks.applying(.sigmoid)
        }
        mask = mask.scaled(by: config.sigmoidScaleForMemEnc, adding: config.sigmoidBiasForMemEnc)
        var (features, position) = memoryEncoder(pixelFeatures: SAM2Model.repeatBatch(frame.visionFeatures, b), mask: mask)
        if let noObjEmbedSpatial {
            let (cm, plane) = (features.shape[1], features.shape[2] * features.shape[3])
            let embed = noObjEmbedSpatial.scalars
            features.withUnsafeMutablePointer { p in
                for i in 0..<b where !(objectScores[i] > 0) {
                    for ch in 0..<cm {
                        let row = p + (i * cm + ch) * plane
                        for j in 0..<plane { row[j] += embed[ch] }
                    }
                }
            }
        }
        return (features, position)
    }

    /// Frame features with `no_mem_embed` added (frames with no memory yet: initial conditioning
    /// frames, `directly_add_no_mem_embed`): [B, C, h, w].
    public func featuresWithoutMemory(_ frame: FrameFeatures, batch: Int) -> Tensor {
        SAM2Model.repeatBatch(frame.visionFeatures + noMemEmbed.reshaped([1, -1, 1, 1]), batch)
    }

    /// Memory attention of one object's frame features over its memory tokens.
    /// memory / memoryPosition: [M, Cm] tokens (spatial memories first, then `pointerTokens`
    /// object-pointer tokens); `keys`: their projected keys per layer (`MemoryTokens.keys`; nil:
    /// projected here); `start`: `memoryAttentionStart(frame)`, shared by the frame's
    /// objects (computed here when nil). Returns [1, C, h, w].
    public func conditionOnMemory(_ frame: FrameFeatures, memory: Tensor, memoryPosition: Tensor, pointerTokens: Int,
                                  keys: MemoryKeys? = nil, start: Tensor? = nil) -> Tensor {
        let (c, h, w) = (config.neck.dModel, frame.visionFeatures.shape[2], frame.visionFeatures.shape[3])
        let position = Self.tokens(frame.visionPosition)
        let start = start ?? memoryAttention.start(current: Self.tokens(frame.visionFeatures), currentPosition: position)
        let m = memory.shape[0], cm = memory.shape[1]
        let out = memoryAttention.attend(from: start, currentPosition: position, memory: memory.reshaped([1, m, cm]),
                                         memoryPosition: memoryPosition.reshaped([1, m, cm]), pointerTokens: pointerTokens,
                                         keys: keys)
        return out.permuted([0, 2, 1]).reshaped([1, c, h, w])
    }

    /// The object-independent start of memory attention on `frame` (input position term and the
    /// first layer's self-attention), [1, h*w, C]: one per frame, whatever the number of objects.
    public func memoryAttentionStart(_ frame: FrameFeatures) -> Tensor {
        memoryAttention.start(current: Self.tokens(frame.visionFeatures), currentPosition: Self.tokens(frame.visionPosition))
    }

    /// A feature map [1, C, h, w] as a token sequence [1, h*w, C].
    static func tokens(_ map: Tensor) -> Tensor {
        let (c, h, w) = (map.shape[1], map.shape[2], map.shape[3])
        return map.reshaped([1, c, h * w]).permuted([0, 2, 1])
    }
}
