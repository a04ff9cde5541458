// SAM2Config: every architecture setting of a SAM 2 / SAM 2.1 model, mirroring the official YAML
// configs (sam2/configs/sam2.1/sam2.1_hiera_*.yaml). JSON keys are the official snake_case names.

import Foundation

/// Hiera trunk settings (`image_encoder.trunk`).
public struct HieraConfig: Codable, Sendable, Equatable {
    public var embedDim: Int
    public var numHeads: Int
    public var stages: [Int]
    public var globalAttBlocks: [Int]
    public var windowSpec: [Int]
    public var windowPosEmbedBkgSpatialSize: [Int]
    public var qPool: Int = 3
    public var qStride: Int = 2
    public var dimMul: Double = 2
    public var headMul: Double = 2

    public init(embedDim: Int, numHeads: Int, stages: [Int], globalAttBlocks: [Int], windowSpec: [Int],
                windowPosEmbedBkgSpatialSize: [Int], qPool: Int = 3, qStride: Int = 2) {
        self.embedDim = embedDim; self.numHeads = numHeads; self.stages = stages
        self.globalAttBlocks = globalAttBlocks; self.windowSpec = windowSpec
        self.windowPosEmbedBkgSpatialSize = windowPosEmbedBkgSpatialSize
        self.qPool = qPool; self.qStride = qStride
    }

    /// Index of the last block of each stage.
    public var stageEnds: [Int] { stages.indices.map { stages[0...$0].reduce(0, +) - 1 } }
    /// Channel width of each stage's output, finest first.
    public var stageDims: [Int] { stages.indices.map { Int(Double(embedDim) * pow(dimMul, Double($0))) } }
}

/// FPN neck settings (`image_encoder.neck`) and the encoder's scalp.
public struct NeckConfig: Codable, Sendable, Equatable {
    public var dModel: Int
    /// Trunk channels per level, coarsest first (as the official `backbone_channel_list`).
    public var backboneChannelList: [Int]
    public var fpnTopDownLevels: [Int]
    /// "nearest" or "bilinear".
    public var fpnInterpModel: String
    /// Number of coarsest levels dropped after the neck.
    public var scalp: Int
}

/// Memory attention settings (`memory_attention`).
public struct MemoryAttentionConfig: Codable, Sendable, Equatable {
    public var dModel: Int
    public var numLayers: Int
    public var dimFeedforward: Int
    public var numHeads: Int
    public var kvInDim: Int
    public var ropeTheta: Double
    /// RoPE grid [w, h] (64 x 64 at 1024 px).
    public var featSizes: [Int]
    public var posEncAtInput: Bool
    public var posEncAtAttn: Bool
    public var posEncAtCrossAttnKeys: Bool
    public var posEncAtCrossAttnQueries: Bool
}

/// Memory encoder settings (`memory_encoder`).
public struct MemoryEncoderConfig: Codable, Sendable, Equatable {
    public var outDim: Int
    public var fuserLayers: Int
    public var fuserKernelSize: Int
    public var maskDownsamplerKernelSize: Int
    public var maskDownsamplerStride: Int
    public var maskDownsamplerPadding: Int
    public var maskDownsamplerTotalStride: Int
}

/// A complete SAM 2 model configuration.
public struct SAM2Config: Codable, Sendable, Equatable {
    /// Human-readable variant name, e.g. "sam2.1_hiera_tiny" or "custom".
    public var name: String
    public var imageSize: Int
    public var backboneStride: Int
    public var hiera: HieraConfig
    public var neck: NeckConfig
    public var memoryAttention: MemoryAttentionConfig
    public var memoryEncoder: MemoryEncoderConfig
    public var numMaskmem: Int
    public var sigmoidScaleForMemEnc: Float
    public var sigmoidBiasForMemEnc: Float
    public var useMaskInputAsOutputWithoutSam: Bool
    public var directlyAddNoMemEmbed: Bool
    public var noObjEmbedSpatial: Bool
    public var useHighResFeaturesInSam: Bool
    public var multimaskOutputInSam: Bool
    public var iouPredictionUseSigmoid: Bool
    public var useObjPtrsInEncoder: Bool
    public var addTposEncToObjPtrs: Bool
    public var projTposEncInObjPtrs: Bool
    public var useSignedTposEncToObjPtrs: Bool
    public var onlyObjPtrsInThePastForEval: Bool
    public var predObjScores: Bool
    public var predObjScoresMlp: Bool
    public var fixedNoObjPtr: Bool
    public var multimaskOutputForTracking: Bool
    public var useMultimaskTokenForObjPtr: Bool
    public var multimaskMinPtNum: Int
    public var multimaskMaxPtNum: Int
    public var useMlpForObjPtrProj: Bool
    public var maxObjPtrsInEncoder: Int
    /// Set by the video predictor builder (`binarize_mask_from_pts_for_mem_enc`).
    public var binarizeMaskFromPtsForMemEnc: Bool
    /// Dynamic multimask via stability (the video predictor sets these in the mask decoder).
    public var dynamicMultimaskViaStability: Bool
    public var dynamicMultimaskStabilityDelta: Float
    public var dynamicMultimaskStabilityThresh: Float

    /// Spatial extent of the image embedding (image_size / backbone_stride).
    public var embeddingSize: Int { imageSize / backboneStride }
    /// Whether this is a SAM 2.1 model (signed, projected temporal encodings of object pointers).
    public var isSAM21: Bool { noObjEmbedSpatial || projTposEncInObjPtrs }

    /// Reads a JSON config (official snake_case keys).
    public static func load(json data: Data) throws -> SAM2Config {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(SAM2Config.self, from: data)
    }

    /// Writes JSON with snake_case keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
