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
    func attendToMemory(_ target: Tensor, memory: Tensor, memoryPosition: Tensor, queryPosition: Tensor,
                        rope: AxialRoPE, pointerTokens: Int) -> Tensor {
        var tgt = target
        let t2 = norm2(tgt)
        let q = config.posEncAtCrossAttnQueries ? t2 + queryPosition : t2
        let k = config.posEncAtCrossAttnKeys ? memory + memoryPosition : memory
        tgt.add(crossAttn(q: q, k: k, v: memory, rope: rope, excludedKeys: pointerTokens))
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
    /// the same frame (computed once for all of a frame's objects).
    public func attend(from start: Tensor, currentPosition: Tensor, memory: Tensor, memoryPosition: Tensor,
                       pointerTokens: Int) -> Tensor {
        var output = start
        for (index, layer) in layers.enumerated() {
            if index > 0 { output = layer.selfAttend(output, queryPosition: currentPosition, rope: rope) }
            output = layer.attendToMemory(output, memory: memory, memoryPosition: memoryPosition,
                                          queryPosition: currentPosition, rope: rope, pointerTokens: pointerTokens)
        }
        return norm(output)
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
