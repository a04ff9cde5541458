// TrainableAttention: SAM's `Attention` (`sam/transformer.py`): q/k/v projections to an internal
// width C' = C / downsample_rate, N heads, scaled dot-product attention, output projection; with
// the saved activations of its forward pass and its backward pass.
//
// Shapes: q [B, Lq, C], k and v [B, Lk, C] -> [B, Lq, C]; heads as [B N, L, C'/N].

import Tensor

public struct TrainableAttention: Sendable {
    public let qProj: TrainableLinear, kProj: TrainableLinear, vProj: TrainableLinear, outProj: TrainableLinear
    public let numHeads: Int

    public init(_ prefix: String, numHeads: Int) {
        qProj = TrainableLinear(prefix + ".q_proj")
        kProj = TrainableLinear(prefix + ".k_proj")
        vProj = TrainableLinear(prefix + ".v_proj")
        outProj = TrainableLinear(prefix + ".out_proj")
        self.numHeads = numHeads
    }

    public struct Saved: Sendable {
        var q: Tensor, k: Tensor, v: Tensor
        var qh: Tensor, kh: Tensor, vh: Tensor
        var probabilities: Tensor
        var merged: Tensor
    }

    /// [B, L, C'] -> [B N, L, C'/N].
    func separateHeads(_ x: Tensor) -> Tensor {
        let (b, l, c) = (x.shape[0], x.shape[1], x.shape[2])
        if numHeads == 1 { return x }
        return x.reshaped([b, l, numHeads, c / numHeads]).permuted([0, 2, 1, 3]).reshaped([b * numHeads, l, c / numHeads])
    }

    /// [B N, L, C'/N] -> [B, L, C'].
    func recombineHeads(_ x: Tensor) -> Tensor {
        let (bn, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        if numHeads == 1 { return x }
        return x.reshaped([bn / numHeads, numHeads, l, d]).permuted([0, 2, 1, 3]).reshaped([bn / numHeads, l, numHeads * d])
    }

    public func forward(q: Tensor, k: Tensor, v: Tensor, _ p: Parameters) -> (Tensor, Saved) {
        let qh = separateHeads(qProj.forward(q, p))
        let kh = separateHeads(kProj.forward(k, p))
        let vh = separateHeads(vProj.forward(v, p))
        let (heads, probabilities) = SavedAttention.forward(q: qh, k: kh, v: vh)
        let merged = recombineHeads(heads)
        return (outProj.forward(merged, p), Saved(q: q, k: k, v: v, qh: qh, kh: kh, vh: vh, probabilities: probabilities, merged: merged))
    }

    /// dOut [B, Lq, C] -> (dq, dk, dv) for the three inputs (callers add them when inputs coincide).
    public func backward(_ s: Saved, dOut: Tensor, _ p: Parameters, _ g: inout Gradients) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let dMerged = outProj.backward(x: s.merged, dy: dOut, p, &g)
        let (dqh, dkh, dvh) = Backward.attention(q: s.qh, k: s.kh, v: s.vh, probabilities: s.probabilities,
                                                 dOut: separateHeads(dMerged))
        let dq = qProj.backward(x: s.q, dy: recombineHeads(dqh), p, &g)
        let dk = kProj.backward(x: s.k, dy: recombineHeads(dkh), p, &g)
        let dv = vProj.backward(x: s.v, dy: recombineHeads(dvh), p, &g)
        return (dq, dk, dv)
    }
}
