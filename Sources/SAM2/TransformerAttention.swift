// Attention: SAM's multi-head attention with projections (`sam/transformer.py: Attention`) and
// its rotary variant (`RoPEAttention`) used by memory attention.
//
// Shapes: q [B, Lq, C], k and v [B, Lk, Ckv] -> [B, Lq, C]; internally [B, N, L, C'/N] per head,
// C' = C / downsample_rate.

import Tensor

/// `Attention`: q/k/v projections (k and v from `kvInDim`), heads, SDPA, output projection.
public struct Attention: Sendable {
    public let qProj: Linear, kProj: Linear, vProj: Linear, outProj: Linear
    public let numHeads: Int
    public let internalDim: Int

    public init(_ loader: WeightLoader, embeddingDim: Int, numHeads: Int, downsampleRate: Int = 1,
                kvInDim: Int? = nil) throws {
        let internalDim = embeddingDim / downsampleRate
        let kv = kvInDim ?? embeddingDim
        qProj = try Linear(loader.child("q_proj"), inFeatures: embeddingDim, outFeatures: internalDim)
        kProj = try Linear(loader.child("k_proj"), inFeatures: kv, outFeatures: internalDim)
        vProj = try Linear(loader.child("v_proj"), inFeatures: kv, outFeatures: internalDim)
        outProj = try Linear(loader.child("out_proj"), inFeatures: internalDim, outFeatures: embeddingDim)
        self.numHeads = numHeads
        self.internalDim = internalDim
    }

    /// [B, L, C'] -> [B, N, L, C'/N].
    func separateHeads(_ x: Tensor) -> Tensor {
        let (b, l) = (x.shape[0], x.shape[1])
        if numHeads == 1 { return x.reshaped([b, 1, l, internalDim]) }
        return x.reshaped([b, l, numHeads, internalDim / numHeads]).permuted([0, 2, 1, 3])
    }

    /// [B, N, L, C'/N] -> [B, L, C'].
    func recombineHeads(_ x: Tensor) -> Tensor {
        let (b, l) = (x.shape[0], x.shape[2])
        if numHeads == 1 { return x.reshaped([b, l, internalDim]) }
        return x.permuted([0, 2, 1, 3]).reshaped([b, l, internalDim])
    }

    /// Attention of queries q [B, Lq, C] over keys k [B, Lk, Ckv] with values v [B, Lk, Ckv].
    public func callAsFunction(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let heads = scaledDotProductAttention(query: separateHeads(qProj(q)), key: separateHeads(kProj(k)),
                                              value: separateHeads(vProj(v)))
        return outProj(recombineHeads(heads))
    }

    /// Attention with rotary position encoding on queries and the first `Lk - excludedKeys` keys
    /// (`RoPEAttention`; excluded keys are object-pointer tokens). Key positions repeat the query
    /// grid's table (`rope_k_repeat`) when there are more keys than queries.
    public func callAsFunction(q: Tensor, k: Tensor, v: Tensor, rope: AxialRoPE, excludedKeys: Int = 0) -> Tensor {
        var kh = separateHeads(kProj(k))
        rope.apply(to: &kh, rotatedTokens: kh.shape[2] - excludedKeys)
        return callAsFunction(q: q, rotatedKeyHeads: kh, v: v, rope: rope)
    }

    /// The same with the keys already projected, split into heads and rotated ([B, N, Lk, C'/N]).
    public func callAsFunction(q: Tensor, rotatedKeyHeads kh: Tensor, v: Tensor, rope: AxialRoPE) -> Tensor {
        var qh = separateHeads(qProj(q))
        rope.apply(to: &qh)
        if projectsValuesLate && v.shape[1] > 0 {
            // Each softmax row sums to 1, so P (V W^T + 1 b^T) = (P V) W^T + 1 b^T: attend over the
            // narrow values (64 channels for memory attention) and project the Lq results instead
            // of the Lk values. Memory attention's P V product shrinks 4x (4096 x 28736 x 64
            // instead of x 256); only the summation order differs from PyTorch.
            let (b, lk) = (v.shape[0], v.shape[1])
            let mixed = scaledDotProductAttention(query: qh, key: kh, value: v.reshaped([b, 1, lk, vProj.inFeatures]))
            return outProj(vProj(mixed.reshaped([b, q.shape[1], vProj.inFeatures])))
        }
        let heads = scaledDotProductAttention(query: qh, key: kh, value: separateHeads(vProj(v)))
        return outProj(recombineHeads(heads))
    }

    /// The same for one batch over keys and values already packed for the packed kernel
    /// (`AttentionKeyPanels`, rotated and scaled by 1/sqrt(C'); `AttentionValuePanels` of the
    /// unprojected values): one head with late-projected values (`projectsValuesLate`) only. The
    /// same bits as the call with the keys as rows where `AttentionKeyPanels.serve` holds.
    public func callAsFunction(q: Tensor, keyPanels: AttentionKeyPanels, valuePanels: AttentionValuePanels, rope: AxialRoPE) -> Tensor {
        precondition(projectsValuesLate && q.shape[0] == 1 && valuePanels.width == vProj.inFeatures,
                     "Attention: packed keys need one head, batch 1 and the unprojected values")
        var qh = separateHeads(qProj(q))
        rope.apply(to: &qh)
        let mixed = scaledDotProductAttention(query: qh, keyPanels: keyPanels, valuePanels: valuePanels)
        return outProj(vProj(mixed.reshaped([1, q.shape[1], vProj.inFeatures])))
    }

    /// Whether the value projection is applied after the attention weights rather than to every
    /// key's value: exact up to rounding for one head (the weights of a row sum to 1), and cheaper
    /// when the values are narrower than the head (memory attention: 64 -> 256).
    var projectsValuesLate: Bool { numHeads == 1 && vProj.inFeatures < internalDim }
}
