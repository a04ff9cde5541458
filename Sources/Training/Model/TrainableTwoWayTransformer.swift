// TrainableTwoWayTransformer: SAM's `TwoWayTransformer` and `TwoWayAttentionBlock`
// (`sam/transformer.py`) with saved activations and backward passes. The query position encoding
// of every block is the transformer's input tokens themselves (`query_pe=point_embedding`), so the
// tokens' gradient collects a share from every block; the image position encoding is a constant.
//
// Shapes: image [B, C, h, w] (tokens [B, hw, C]), image_pe [1 or B, C, h, w], tokens [B, T, C].

import Tensor

/// One `TwoWayAttentionBlock`.
struct TrainableTwoWayBlock: Sendable {
    let selfAttn: TrainableAttention, norm1: TrainableLayerNorm
    let crossAttnTokenToImage: TrainableAttention, norm2: TrainableLayerNorm
    let mlp: TrainableMLP, norm3: TrainableLayerNorm
    let crossAttnImageToToken: TrainableAttention, norm4: TrainableLayerNorm
    let skipFirstLayerPE: Bool

    init(_ prefix: String, heads: Int, skipFirstLayerPE: Bool) {
        selfAttn = TrainableAttention(prefix + ".self_attn", numHeads: heads)
        norm1 = TrainableLayerNorm(prefix + ".norm1")
        crossAttnTokenToImage = TrainableAttention(prefix + ".cross_attn_token_to_image", numHeads: heads)
        norm2 = TrainableLayerNorm(prefix + ".norm2")
        mlp = TrainableMLP(prefix + ".mlp", layers: 2)
        norm3 = TrainableLayerNorm(prefix + ".norm3")
        crossAttnImageToToken = TrainableAttention(prefix + ".cross_attn_image_to_token", numHeads: heads)
        norm4 = TrainableLayerNorm(prefix + ".norm4")
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    struct Saved: Sendable {
        var selfAttn: TrainableAttention.Saved, q1Pre: Tensor
        var tokenToImage: TrainableAttention.Saved, q2Pre: Tensor
        var mlp: TrainableMLP.Saved, q3Pre: Tensor
        var imageToToken: TrainableAttention.Saved, k1Pre: Tensor
    }

    func forward(queries q0: Tensor, keys k0: Tensor, queryPE: Tensor, keyPE: Tensor, _ p: Parameters) -> (Tensor, Tensor, Saved) {
        let selfSaved: TrainableAttention.Saved
        let q1Pre: Tensor
        if skipFirstLayerPE {
            (q1Pre, selfSaved) = selfAttn.forward(q: q0, k: q0, v: q0, p)
        } else {
            let qa = q0 + queryPE
            let (a, saved) = selfAttn.forward(q: qa, k: qa, v: q0, p)
            q1Pre = q0 + a
            selfSaved = saved
        }
        let q1 = norm1.forward(q1Pre, p)
        let kWithPE = k0 + keyPE
        let (b, t2iSaved) = crossAttnTokenToImage.forward(q: q1 + queryPE, k: kWithPE, v: k0, p)
        let q2Pre = q1 + b
        let q2 = norm2.forward(q2Pre, p)
        let (m, mlpSaved) = mlp.forward(q2, p)
        let q3Pre = q2 + m
        let q3 = norm3.forward(q3Pre, p)
        let (d, i2tSaved) = crossAttnImageToToken.forward(q: kWithPE, k: q3 + queryPE, v: q3, p)
        let k1Pre = k0 + d
        let k1 = norm4.forward(k1Pre, p)
        return (q3, k1, Saved(selfAttn: selfSaved, q1Pre: q1Pre, tokenToImage: t2iSaved, q2Pre: q2Pre,
                              mlp: mlpSaved, q3Pre: q3Pre, imageToToken: i2tSaved, k1Pre: k1Pre))
    }

    /// Gradients of the block's outputs -> (dQueries, dKeys, dQueryPE).
    func backward(_ s: Saved, dQueries: Tensor, dKeys: Tensor, _ p: Parameters, _ g: inout Gradients) -> (Tensor, Tensor, Tensor) {
        // keys = norm4(k0 + attn(q: k0 + kpe, k: q3 + qpe, v: q3))
        let dK1Pre = norm4.backward(x: s.k1Pre, dy: dKeys, p, &g)
        var dK0 = dK1Pre
        let (dqI2T, dkI2T, dvI2T) = crossAttnImageToToken.backward(s.imageToToken, dOut: dK1Pre, p, &g)
        dK0.add(dqI2T)
        var dQ3 = dQueries + dkI2T
        dQ3.add(dvI2T)
        var dQueryPE = dkI2T
        // queries = norm3(q2 + mlp(q2))
        let dQ3Pre = norm3.backward(x: s.q3Pre, dy: dQ3, p, &g)
        var dQ2 = dQ3Pre
        dQ2.add(mlp.backward(s.mlp, dy: dQ3Pre, p, &g))
        // q2 = norm2(q1 + attn(q: q1 + qpe, k: k0 + kpe, v: k0))
        let dQ2Pre = norm2.backward(x: s.q2Pre, dy: dQ2, p, &g)
        var dQ1 = dQ2Pre
        let (dqT2I, dkT2I, dvT2I) = crossAttnTokenToImage.backward(s.tokenToImage, dOut: dQ2Pre, p, &g)
        dQ1.add(dqT2I)
        dQueryPE.add(dqT2I)
        dK0.add(dkT2I)
        dK0.add(dvT2I)
        // q1 = norm1(self-attention)
        let dQ1Pre = norm1.backward(x: s.q1Pre, dy: dQ1, p, &g)
        let (dqS, dkS, dvS) = selfAttn.backward(s.selfAttn, dOut: dQ1Pre, p, &g)
        var dQ0: Tensor
        if skipFirstLayerPE {
            dQ0 = dqS + dkS
            dQ0.add(dvS)
        } else {
            let dqa = dqS + dkS
            dQ0 = dQ1Pre + dqa
            dQ0.add(dvS)
            dQueryPE.add(dqa)
        }
        return (dQ0, dK0, dQueryPE)
    }
}

/// `TwoWayTransformer` (depth 2, MLP 2048, 8 heads, downsample 2 in the official code).
public struct TrainableTwoWayTransformer: Sendable {
    let layers: [TrainableTwoWayBlock]
    let finalAttnTokenToImage: TrainableAttention
    let normFinalAttn: TrainableLayerNorm

    public init(_ prefix: String, depth: Int = 2, heads: Int = 8) {
        layers = (0..<depth).map { TrainableTwoWayBlock("\(prefix).layers.\($0)", heads: heads, skipFirstLayerPE: $0 == 0) }
        finalAttnTokenToImage = TrainableAttention(prefix + ".final_attn_token_to_image", numHeads: heads)
        normFinalAttn = TrainableLayerNorm(prefix + ".norm_final_attn")
    }

    public struct Saved: Sendable {
        var blocks: [TrainableTwoWayBlock.Saved]
        var finalAttn: TrainableAttention.Saved
        var finalPre: Tensor
        var imageShape: [Int]
    }

    /// image [B, C, h, w], imagePE [1 or B, C, h, w], tokens [B, T, C] -> (queries [B, T, C], keys [B, hw, C]).
    public func forward(image: Tensor, imagePE: Tensor, tokens: Tensor, _ p: Parameters) -> (Tensor, Tensor, Saved) {
        let (b, c, h, w) = (image.shape[0], image.shape[1], image.shape[2], image.shape[3])
        let keys0 = image.reshaped([b, c, h * w]).permuted([0, 2, 1])
        var keyPE = imagePE.reshaped([imagePE.shape[0], c, h * w]).permuted([0, 2, 1])
        if keyPE.shape[0] != b { keyPE = Tensor.concatenate(Array(repeating: keyPE, count: b), axis: 0) }
        var queries = tokens, keys = keys0
        var blocks: [TrainableTwoWayBlock.Saved] = []
        for layer in layers {
            let saved: TrainableTwoWayBlock.Saved
            (queries, keys, saved) = layer.forward(queries: queries, keys: keys, queryPE: tokens, keyPE: keyPE, p)
            blocks.append(saved)
        }
        let (a, finalSaved) = finalAttnTokenToImage.forward(q: queries + tokens, k: keys + keyPE, v: keys, p)
        let finalPre = queries + a
        return (normFinalAttn.forward(finalPre, p), keys,
                Saved(blocks: blocks, finalAttn: finalSaved, finalPre: finalPre, imageShape: image.shape))
    }

    /// Gradients of (queries, keys) -> (dTokens [B, T, C], dImage [B, C, h, w]).
    public func backward(_ s: Saved, dQueries: Tensor, dKeys: Tensor, _ p: Parameters, _ g: inout Gradients) -> (Tensor, Tensor) {
        let dFinalPre = normFinalAttn.backward(x: s.finalPre, dy: dQueries, p, &g)
        var dQ = dFinalPre
        let (dqF, dkF, dvF) = finalAttnTokenToImage.backward(s.finalAttn, dOut: dFinalPre, p, &g)
        dQ.add(dqF)
        var dTokens = dqF
        var dK = dKeys + dkF
        dK.add(dvF)
        for (layer, saved) in zip(layers, s.blocks).reversed() {
            let dPE: Tensor
            (dQ, dK, dPE) = layer.backward(saved, dQueries: dQ, dKeys: dK, p, &g)
            dTokens.add(dPE)
        }
        dTokens.add(dQ)
        let (b, c, h, w) = (s.imageShape[0], s.imageShape[1], s.imageShape[2], s.imageShape[3])
        return (dTokens, dK.permuted([0, 2, 1]).reshaped([b, c, h, w]))
    }
}
