// MemoryAttention: conditions the current frame's features on an object's memories
// (`modeling/memory_attention.py`): layers of RoPE self-attention, RoPE cross-attention to the
// memory tokens (spatial memories rotated with repeated tables; object-pointer tokens not rotated)
// and a ReLU feed-forward, then a final LayerNorm.
//
// Shapes (batch first): current [B, L, C] with L = h*w, its position [B, L, C];
// memory and memory position [B, M, Cm]. Output [B, L, C].

import Tensor

/// One `MemoryAttentionLayer`.
struct MemoryAttentionLayer: Sendable {
    let selfAttn: Attention, crossAttn: Attention
    let linear1: Linear, linear2: Linear
    let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    let config: MemoryAttentionConfig

    init(_ loader: WeightLoader, config: MemoryAttentionConfig) throws {
        let c = config.dModel
        selfAttn = try Attention(loader.child("self_attn"), embeddingDim: c, numHeads: config.numHeads)
        crossAttn = try Attention(loader.child("cross_attn_image"), embeddingDim: c, numHeads: config.numHeads,
                                  kvInDim: config.kvInDim)
        linear1 = try Linear(loader.child("linear1"), inFeatures: c, outFeatures: config.dimFeedforward)
        linear2 = try Linear(loader.child("linear2"), inFeatures: config.dimFeedforward, outFeatures: c)
        norm1 = try LayerNorm(loader.child("norm1"), dim: c)
        norm2 = try LayerNorm(loader.child("norm2"), dim: c)
        norm3 = try LayerNorm(loader.child("norm3"), dim: c)
        self.config = config
    }

    /// The self-attention block (residual included): depends on the current frame only.
    func selfAttend(_ target: Tensor, queryPosition: Tensor, rope: AxialRoPE) -> Tensor {
        var tgt = target
        let t2 = norm1(tgt)
        let qk = config.posEncAtAttn ? t2 + queryPosition : t2
        tgt.add(selfAttn(q: qk, k: qk, v: t2, rope: rope))
        return tgt
    }

    /// Cross-attention to the memory tokens, then the feed-forward block (residuals included).
    /// `keys`: the memory tokens' keys already projected and rotated (`MemoryTokens.keys`), this
    /// layer's of `layer`; nil: projected here.
    func attendToMemory(_ target: Tensor, memory: Tensor, memoryPosition: Tensor, keys: MemoryKeys?, layer: Int,
                        queryPosition: Tensor, rope: AxialRoPE, pointerTokens: Int) -> Tensor {
        var tgt = target
        let t2 = norm2(tgt)
        let q = config.posEncAtCrossAttnQueries ? t2 + queryPosition : t2
        switch keys {
        case .rows(let rows)?:
            let (b, m) = (memory.shape[0], memory.shape[1])
            tgt.add(crossAttn(q: q, rotatedKeyHeads: rows[layer].reshaped([b, 1, m, -1]), v: memory, rope: rope))
        case .panels(let panels, let values)?:
            tgt.add(crossAttn(q: q, keyPanels: panels[layer], valuePanels: values, rope: rope))
        case nil:
            let k = config.posEncAtCrossAttnKeys ? memory + memoryPosition : memory
            tgt.add(crossAttn(q: q, k: k, v: memory, rope: rope, excludedKeys: pointerTokens))
        }
        // Feed-forward.
        let h = linear1(norm3(tgt), then: .relu)  // ReLU applied per product block, while in cache
        tgt.add(linear2(h))
        return tgt
    }
}

/// The memory attention (`memory_attention.*`).
public struct MemoryAttention: Sendable {
    let layers: [MemoryAttentionLayer]
    let norm: LayerNorm
    let config: MemoryAttentionConfig
    /// RoPE tables for the feature grid (feat_sizes [w, h]), per head width.
    public let rope: AxialRoPE

    public init(_ loader: WeightLoader, config: MemoryAttentionConfig) throws {
        layers = try (0..<config.numLayers).map { try MemoryAttentionLayer(loader.child("layers.\($0)"), config: config) }
        norm = try LayerNorm(loader.child("norm"), dim: config.dModel)
        self.config = config
        rope = AxialRoPE(dim: config.dModel / config.numHeads, endX: config.featSizes[0], endY: config.featSizes[1],
                         theta: Float(config.ropeTheta))
    }

    /// current [B, L, C], currentPosition [B, L, C], memory / memoryPosition [B, M, Cm] with the
    /// last `pointerTokens` tokens being object pointers -> [B, L, C].
    public func callAsFunction(current: Tensor, currentPosition: Tensor, memory: Tensor, memoryPosition: Tensor,
                               pointerTokens: Int) -> Tensor {
        attend(from: start(current: current, currentPosition: currentPosition), currentPosition: currentPosition,
               memory: memory, memoryPosition: memoryPosition, pointerTokens: pointerTokens)
    }

    /// The memory-dependent rest of memory attention, from `start(current:currentPosition:)` of
    /// the same frame (computed once for all of a frame's objects). `keys`: the memory tokens'
    /// projected and rotated keys per layer (`MemoryTokens.keys`, batch 1); nil: made here.
    public func attend(from start: Tensor, currentPosition: Tensor, memory: Tensor, memoryPosition: Tensor,
                       pointerTokens: Int, keys: MemoryKeys? = nil) -> Tensor {
        precondition(keys == nil || keys!.layers == layers.count, "MemoryAttention: \(keys!.layers) key sets for \(layers.count) layers")
        var output = start
        for (index, layer) in layers.enumerated() {
            if index > 0 { output = layer.selfAttend(output, queryPosition: currentPosition, rope: rope) }
            output = layer.attendToMemory(output, memory: memory, memoryPosition: memoryPosition, keys: keys, layer: index,
                                          queryPosition: currentPosition, rope: rope, pointerTokens: pointerTokens)
        }
        return norm(output)
    }

    /// The most bytes of projected keys kept per spatial memory (`MemoryKeyCache`): the default
    /// model's 256 tokens x 128 channels x 4 layers (512 KiB) are kept; at 1024 px, where the keys
    /// would be 16 times the memory and their projection is ~2% of the attention's work, they are not.
    public static let keyCacheBudget = 1 << 20

    /// True when a memory of `tokensPerMemory` tokens has its projected keys kept between frames:
    /// within the budget, one head (every SAM 2 config), and one memory filling the RoPE grid.
    public func cachesKeys(tokensPerMemory: Int) -> Bool {
        let channels = layers.reduce(0) { $0 + $1.crossAttn.kProj.outFeatures }
        return tokensPerMemory * channels * MemoryLayout<Float>.size <= Self.keyCacheBudget
            && layers.allSatisfy { $0.crossAttn.numHeads == 1 } && tokensPerMemory == rope.tokens
    }

    /// True when memory tokens' keys can reach the attention packed (`MemoryKeys.panels`): the
    /// fp32 packed kernel runs here and every layer attends over the unprojected values (one
    /// head, values narrower than the head: `Attention.projectsValuesLate`).
    public var readsPackedKeys: Bool {
        PackedF32Kernel.enabled && layers.allSatisfy { $0.crossAttn.projectsValuesLate }
            && Set(layers.map { $0.crossAttn.kProj.outFeatures }).count == 1
    }

    /// Each layer's cross-attention keys of memory tokens [n, Cm] at `position` [n, Cm] (the
    /// position without a temporal term): k_proj(tokens + position), or k_proj(tokens) when keys
    /// take no position. [n, C] per layer.
    public func memoryKeys(_ tokens: Tensor, position: Tensor) -> [Tensor] {
        let k = config.posEncAtCrossAttnKeys ? tokens + position : tokens
        return layers.map { $0.crossAttn.kProj(k) }
    }

    /// `memoryKeys` of one spatial memory's tokens (as many as the RoPE grid), rotated: [n, C] per layer.
    public func rotatedMemoryKeys(_ tokens: Tensor, position: Tensor) -> [Tensor] {
        memoryKeys(tokens, position: position).map { rotated($0) }
    }

    /// x [n, C] with RoPE applied to every row (one head; n a multiple of the grid's tokens).
    func rotated(_ x: Tensor) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        var heads = x.reshaped([1, 1, n, c])
        rope.apply(to: &heads)
        return heads.reshaped([n, c])
    }

    /// What each slot of the temporal encoding `encoding` ([slots, Cm]) adds to a spatial memory's
    /// rotated keys in each layer: RoPE(W_k tpos_slot) on every token of the grid (no bias), [grid
    /// tokens, C]; indexed [slot][layer]. Zeros when keys take no position.
    public func slotKeys(encoding: Tensor) -> [[Tensor]] {
        // Per layer, W_k tpos for every slot at once: encoding [slots, Cm] x W_k^T -> [slots, C].
        let offsets = layers.map { encoding.matmul($0.crossAttn.kProj.weight, transposeOther: true) }
        return (0..<encoding.shape[0]).map { slot in
            offsets.map { offset in
                let c = offset.shape[1]
                var table = Tensor(zeros: [rope.tokens, c])
                guard config.posEncAtCrossAttnKeys else { return table }
                offset.withUnsafePointer { o in
                    table.withUnsafeMutablePointer { t in
                        for token in 0..<rope.tokens { (t + token * c).update(from: o + slot * c, count: c) }
                    }
                }
                return rotated(table)
            }
        }
    }

    /// The part that does not depend on the memories: the input position term and the first
    /// layer's self-attention. Every object of a frame starts from the same tokens, so a tracker
    /// computes this once per frame ([B, L, C], as `current`).
    public func start(current: Tensor, currentPosition: Tensor) -> Tensor {
        var output = current
        if config.posEncAtInput { output = output + currentPosition.scaled(by: 0.1) }
        guard let first = layers.first else { return output }
        return first.selfAttend(output, queryPosition: currentPosition, rope: rope)
    }
}
