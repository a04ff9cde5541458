// SAM2Presets: the official SAM 2.1 and SAM 2.0 configs (tiny, small, base_plus, large), as in
// sam2/configs/sam2.1/*.yaml and sam2/configs/sam2/*.yaml, plus the settings that
// `build_sam2_video_predictor` adds.

extension SAM2Config {
    /// Size of an official variant.
    public enum Variant: String, CaseIterable, Sendable {
        case tiny, small, basePlus = "base_plus", large
    }

    /// The official config of `variant`; `version21` false gives SAM 2.0. `imageSize` other than
    /// the official 1024 (a multiple of 16) resizes the input and the memory attention's RoPE grid
    /// with it, as the official configs' `image_size` and `feat_sizes` overrides do.
    public static func preset(_ variant: Variant, version21: Bool = true, imageSize: Int = 1024) -> SAM2Config {
        let hiera: HieraConfig
        switch variant {
        case .tiny:
            hiera = HieraConfig(embedDim: 96, numHeads: 1, stages: [1, 2, 7, 2], globalAttBlocks: [5, 7, 9],
                                windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [7, 7])
        case .small:
            hiera = HieraConfig(embedDim: 96, numHeads: 1, stages: [1, 2, 11, 2], globalAttBlocks: [7, 10, 13],
                                windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [7, 7])
        case .basePlus:
            hiera = HieraConfig(embedDim: 112, numHeads: 2, stages: [2, 3, 16, 3], globalAttBlocks: [12, 16, 20],
                                windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [14, 14])
        case .large:
            hiera = HieraConfig(embedDim: 144, numHeads: 2, stages: [2, 6, 36, 4], globalAttBlocks: [23, 33, 43],
                                windowSpec: [8, 4, 16, 8], windowPosEmbedBkgSpatialSize: [7, 7])
        }
        let prefix = version21 ? "sam2.1_hiera_" : "sam2_hiera_"
        return standard(name: prefix + variant.rawValue, hiera: hiera, imageSize: imageSize, dModel: 256,
                        memDim: 64, attentionLayers: 4, feedforward: 2048, version21: version21)
    }

    /// A config with the official structure and flags but the given sizes (used for presets and
    /// for small custom models such as the test fixtures).
    public static func standard(name: String, hiera: HieraConfig, imageSize: Int, dModel: Int, memDim: Int,
                                attentionLayers: Int, feedforward: Int, version21: Bool) -> SAM2Config {
        let grid = imageSize / 16
        return SAM2Config(
            name: name, imageSize: imageSize, backboneStride: 16, hiera: hiera,
            neck: NeckConfig(dModel: dModel, backboneChannelList: hiera.stageDims.reversed(),
                             fpnTopDownLevels: [2, 3], fpnInterpModel: "nearest", scalp: 1),
            memoryAttention: MemoryAttentionConfig(
                dModel: dModel, numLayers: attentionLayers, dimFeedforward: feedforward, numHeads: 1,
                kvInDim: memDim, ropeTheta: 10000, featSizes: [grid, grid], posEncAtInput: true,
                posEncAtAttn: false, posEncAtCrossAttnKeys: true, posEncAtCrossAttnQueries: false),
            memoryEncoder: MemoryEncoderConfig(outDim: memDim, fuserLayers: 2, fuserKernelSize: 7,
                                               maskDownsamplerKernelSize: 3, maskDownsamplerStride: 2,
                                               maskDownsamplerPadding: 1, maskDownsamplerTotalStride: 16),
            numMaskmem: 7, sigmoidScaleForMemEnc: 20, sigmoidBiasForMemEnc: -10,
            useMaskInputAsOutputWithoutSam: true, directlyAddNoMemEmbed: true,
            noObjEmbedSpatial: version21, useHighResFeaturesInSam: true, multimaskOutputInSam: true,
            iouPredictionUseSigmoid: true, useObjPtrsInEncoder: true, addTposEncToObjPtrs: version21,
            projTposEncInObjPtrs: version21, useSignedTposEncToObjPtrs: version21,
            onlyObjPtrsInThePastForEval: true, predObjScores: true, predObjScoresMlp: true,
            fixedNoObjPtr: true, multimaskOutputForTracking: true, useMultimaskTokenForObjPtr: true,
            multimaskMinPtNum: 0, multimaskMaxPtNum: 1, useMlpForObjPtrProj: true, maxObjPtrsInEncoder: 16,
            binarizeMaskFromPtsForMemEnc: true, dynamicMultimaskViaStability: true,
            dynamicMultimaskStabilityDelta: 0.05, dynamicMultimaskStabilityThresh: 0.98)
    }
}
