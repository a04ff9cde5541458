// SAM2Model: a loaded SAM 2 / 2.1 model: immutable, shareable by any number of image predictors
// and video trackers. Every checkpoint tensor is bound to a module by its official key; loading
// fails if one is missing, has the wrong shape, or is left over.

import Foundation
import Checkpoint
import Tensor

/// The whole model (`SAM2Base`'s parameters) plus its config.
public final class SAM2Model: Sendable {
    public let config: SAM2Config
    public let imageEncoder: ImageEncoder
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    public let memoryAttention: MemoryAttention
    public let memoryEncoder: MemoryEncoder
    /// `no_mem_embed` and `no_mem_pos_enc`: [C].
    public let noMemEmbed: Tensor, noMemPosEnc: Tensor
    /// `maskmem_tpos_enc`: [num_maskmem, Cm] (temporal encoding of memory slots).
    public let maskmemTposEnc: Tensor
    /// What each memory slot's temporal encoding adds to memory attention's rotated keys, per
    /// layer (`MemoryAttention.slotKeys`, [slot][layer] of [h*w, C]); empty when memories' keys are
    /// not kept (`MemoryAttention.cachesKeys`).
    public let slotKeys: [[Tensor]]
    /// `slotKeys` packed as parts of an attention's key operand (`AttentionKeyPanels`), where
    /// memory attention reads its keys packed (`MemoryAttention.readsPackedKeys`); else empty.
    public let slotKeyPanels: [[AttentionKeyPanels]]
    /// `no_obj_ptr`: [C]; `no_obj_embed_spatial`: [Cm] (SAM 2.1 only).
    public let noObjPtr: Tensor?, noObjEmbedSpatial: Tensor?
    /// `mask_downsample`: 4x4 stride-4 conv turning an input mask into a mask prompt.
    public let maskDownsample: Conv2d?
    /// `obj_ptr_proj`: MLP (or Linear) from the SAM output token to the object pointer.
    public let objPtrProjMLP: MLP?, objPtrProjLinear: Linear?
    /// `obj_ptr_tpos_proj`: Linear C -> Cm for the pointers' temporal encoding (SAM 2.1).
    public let objPtrTposProj: Linear?
    /// Where the weights came from.
    public let checkpointPath: String
    /// Number of parameters per top-level module.
    public let parameterCounts: [(module: String, count: Int)]

    /// Binds every tensor of `store` to the model described by `config`.
    public init(config: SAM2Config, store: WeightStore) throws {
        self.config = config
        checkpointPath = store.path
        let root = WeightLoader(store: store)
        let c = config.neck.dModel, cm = config.memoryEncoder.outDim
        imageEncoder = try ImageEncoder(config: config, loader: root)
        promptEncoder = try PromptEncoder(root.child("sam_prompt_encoder"), embedDim: c, imageSize: config.imageSize,
                                          embeddingSize: config.embeddingSize)
        maskDecoder = try MaskDecoder(root.child("sam_mask_decoder"), config: config)
        memoryAttention = try MemoryAttention(root.child("memory_attention"), config: config.memoryAttention)
        memoryEncoder = try MemoryEncoder(root.child("memory_encoder"), config: config)
        noMemEmbed = try root.take("no_mem_embed", [1, 1, c]).reshaped([c])
        noMemPosEnc = try root.take("no_mem_pos_enc", [1, 1, c]).reshaped([c])
        maskmemTposEnc = try root.take("maskmem_tpos_enc", [config.numMaskmem, 1, 1, cm]).reshaped([config.numMaskmem, cm])
        slotKeys = memoryAttention.cachesKeys(tokensPerMemory: config.embeddingSize * config.embeddingSize)
            ? memoryAttention.slotKeys(encoding: maskmemTposEnc) : []
        slotKeyPanels = memoryAttention.readsPackedKeys ? slotKeys.map { $0.map { AttentionKeyPanels(packing: $0) } } : []
        let pointers = config.useObjPtrsInEncoder
        noObjPtr = config.predObjScores && pointers ? try root.take("no_obj_ptr", [1, c]).reshaped([c]) : nil
        noObjEmbedSpatial = config.noObjEmbedSpatial ? try root.take("no_obj_embed_spatial", [1, cm]).reshaped([cm]) : nil
        maskDownsample = pointers ? try Conv2d(root.child("mask_downsample"), inChannels: 1, outChannels: 1, kernel: 4, stride: 4) : nil
        if pointers && config.useMlpForObjPtrProj {
            objPtrProjMLP = try MLP(root.child("obj_ptr_proj"), inputDim: c, hiddenDim: c, outputDim: c, numLayers: 3)
            objPtrProjLinear = nil
        } else if pointers {
            objPtrProjLinear = try Linear(root.child("obj_ptr_proj"), inFeatures: c, outFeatures: c)
            objPtrProjMLP = nil
        } else {
            objPtrProjMLP = nil; objPtrProjLinear = nil
        }
        objPtrTposProj = config.projTposEncInObjPtrs ? try Linear(root.child("obj_ptr_tpos_proj"), inFeatures: c, outFeatures: cm) : nil
        try store.finish()
        var counts: [String: Int] = [:]
        for key in store.orderedKeys {
            let module = String(key.split(separator: ".").first ?? "")
            counts[module, default: 0] += store.shape(of: key)?.reduce(1, *) ?? 0
        }
        parameterCounts = counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Loads a checkpoint (.pt or .safetensors). The config is, in order: `config` if given, a JSON
    /// file beside the checkpoint (`<name>.json`), or the official preset the tensors match.
    public static func load(checkpoint path: String, config: SAM2Config? = nil) throws -> SAM2Model {
        let store = try CheckpointLoader.load(path: path)
        let resolved = try config ?? ConfigInference.config(for: store, checkpointPath: path)
        return try SAM2Model(config: resolved, store: store)
    }

    /// Total number of parameters.
    public var parameterCount: Int { parameterCounts.reduce(0) { $0 + $1.count } }

    /// The object pointer for SAM output tokens [B, C].
    public func objectPointer(_ tokens: Tensor) -> Tensor {
        if let objPtrProjMLP { return objPtrProjMLP(tokens) }
        if let objPtrProjLinear { return objPtrProjLinear(tokens) }
        return tokens
    }
}
