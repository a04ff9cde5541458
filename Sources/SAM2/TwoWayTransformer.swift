// TwoWayTransformer: SAM's decoder transformer (`sam/transformer.py`): prompt tokens and image
// tokens attend to each other in `depth` blocks, then tokens attend to the image once more.
//
// Shapes: image [B, C, h, w] (flattened to [B, hw, C]), image_pe [1 or B, C, h, w],
// tokens [B, T, C]. Returns (queries [B, T, C], keys [B, hw, C]).

import Tensor

/// One `TwoWayAttentionBlock`: token self-attention, token->image cross-attention, MLP,
/// image->token cross-attention, each followed by a LayerNorm.
struct TwoWayAttentionBlock: Sendable {
    let selfAttn: Attention, norm1: LayerNorm
    let crossAttnTokenToImage: Attention, norm2: LayerNorm
    let mlp: MLP, norm3: LayerNorm
    let crossAttnImageToToken: Attention, norm4: LayerNorm
    let skipFirstLayerPE: Bool

    init(_ loader: WeightLoader, dim: Int, heads: Int, mlpDim: Int, downsampleRate: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try Attention(loader.child("self_attn"), embeddingDim: dim, numHeads: heads)
        norm1 = try LayerNorm(loader.child("norm1"), dim: dim)
        crossAttnTokenToImage = try Attention(loader.child("cross_attn_token_to_image"), embeddingDim: dim,
                                              numHeads: heads, downsampleRate: downsampleRate)
        norm2 = try LayerNorm(loader.child("norm2"), dim: dim)
        mlp = try MLP(loader.child("mlp"), inputDim: dim, hiddenDim: mlpDim, outputDim: dim, numLayers: 2, activation: .relu)
        norm3 = try LayerNorm(loader.child("norm3"), dim: dim)
        norm4 = try LayerNorm(loader.child("norm4"), dim: dim)
        crossAttnImageToToken = try Attention(loader.child("cross_attn_image_to_token"), embeddingDim: dim,
                                              numHeads: heads, downsampleRate: downsampleRate)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (Tensor, Tensor) {
        var queries = queries, keys = keys
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries)
        } else {
            let q = queries + queryPE
            queries.add(selfAttn(q: q, k: q, v: queries))
        }
        queries = norm1(queries)
        var q = queries + queryPE
        var k = keys + keyPE
        queries.add(crossAttnTokenToImage(q: q, k: k, v: keys))
        queries = norm2(queries)
        queries.add(mlp(queries))
        queries = norm3(queries)
        q = queries + queryPE
        k = keys + keyPE
        keys.add(crossAttnImageToToken(q: k, k: q, v: queries))
        keys = norm4(keys)
        return (queries, keys)
    }
}

/// `TwoWayTransformer` (`sam_mask_decoder.transformer.*`).
public struct TwoWayTransformer: Sendable {
    let layers: [TwoWayAttentionBlock]
    let finalAttnTokenToImage: Attention
    let normFinalAttn: LayerNorm

    /// The official decoder uses depth 2, MLP 2048, 8 heads, downsample rate 2 whatever the model size.
    public init(_ loader: WeightLoader, dim: Int, depth: Int = 2, heads: Int = 8, mlpDim: Int = 2048, downsampleRate: Int = 2) throws {
        layers = try (0..<depth).map {
            try TwoWayAttentionBlock(loader.child("layers.\($0)"), dim: dim, heads: heads, mlpDim: mlpDim,
                                     downsampleRate: downsampleRate, skipFirstLayerPE: $0 == 0)
        }
        finalAttnTokenToImage = try Attention(loader.child("final_attn_token_to_image"), embeddingDim: dim,
                                              numHeads: heads, downsampleRate: downsampleRate)
        normFinalAttn = try LayerNorm(loader.child("norm_final_attn"), dim: dim)
    }

    /// image [B, C, h, w], imagePE [1 or B, C, h, w], tokens [B, T, C] -> (tokens [B, T, C], image [B, hw, C]).
    public func callAsFunction(image: Tensor, imagePE: Tensor, tokens: Tensor) -> (Tensor, Tensor) {
        let (b, c, h, w) = (image.shape[0], image.shape[1], image.shape[2], image.shape[3])
        let keysStart = image.reshaped([b, c, h * w]).permuted([0, 2, 1])
        var keyPE = imagePE.reshaped([imagePE.shape[0], c, h * w]).permuted([0, 2, 1])
        if keyPE.shape[0] != b { keyPE = Tensor.concatenate(Array(repeating: keyPE, count: b), axis: 0) }
        var queries = tokens, keys = keysStart
        for layer in layers {
            (queries, keys) = layer(queries: queries, keys: keys, queryPE: tokens, keyPE: keyPE)
        }
        let q = queries + tokens
        let k = keys + keyPE
        queries.add(finalAttnTokenToImage(q: q, k: k, v: keys))
        return (normFinalAttn(queries), keys)
    }
}
