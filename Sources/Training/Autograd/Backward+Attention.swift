// Backward+Attention: scaled dot-product attention with its probabilities kept, and the
// reverse-mode derivative. The decoder's attention is small (at most 8 prompt tokens on one side),
// so the [Lq, Lk] probability matrix is stored rather than recomputed.
//
// Legend: G = batch x heads (independent problems), Lq queries, Lk keys, D head width.
//   S = scale Q K^T, P = softmax(S) (rows), O = P V
//   dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = scale dS K, dK = scale dS^T Q

import Tensor

/// Attention that keeps what its backward pass needs.
public enum SavedAttention {
    /// q [G, Lq, D], k [G, Lk, D], v [G, Lk, Dv] -> output [G, Lq, Dv] and probabilities [G, Lq, Lk].
    /// `scale` defaults to 1/sqrt(D) as `F.scaled_dot_product_attention`.
    public static func forward(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil) -> (output: Tensor, probabilities: Tensor) {
        precondition(q.rank == 3 && k.rank == 3 && v.rank == 3 && q.shape[0] == k.shape[0] && k.shape[0] == v.shape[0]
                     && q.shape[2] == k.shape[2] && k.shape[1] == v.shape[1], "SavedAttention: q \(q.shape), k \(k.shape), v \(v.shape)")
        let s = scale ?? 1 / Float(q.shape[2]).squareRoot()
        var scores = batchedMatmul(q, k, transposeB: true, alpha: s)  // [G, Lq, Lk]
        scores.softmaxInPlace()
        return (batchedMatmul(scores, v), scores)
    }
}

extension Backward {
    /// Gradients of `SavedAttention.forward`: the forward's q, k, v, its probabilities and dOut
    /// [G, Lq, Dv] -> dq, dk, dv (shapes of q, k, v).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, probabilities p: Tensor, dOut: Tensor,
                                 scale: Float? = nil) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let s = scale ?? 1 / Float(q.shape[2]).squareRoot()
        let dv = batchedMatmul(p, dOut, transposeA: true)  // [G, Lk, Dv]
        var ds = batchedMatmul(dOut, v, transposeB: true)  // dP [G, Lq, Lk]
        let lk = p.shape[2], rows = p.count / max(lk, 1)
        p.withUnsafePointer { pp in
            ds.withUnsafeMutablePointer { pd in
                for r in 0..<rows {
                    let prow = pp + r * lk, drow = pd + r * lk
                    var dot = 0.0
                    for j in 0..<lk { dot += Double(prow[j]) * Double(drow[j]) }
                    let d = Float(dot)
                    for j in 0..<lk { drow[j] = prow[j] * (drow[j] - d) }
                }
            }
        }
        let dq = batchedMatmul(ds, k, alpha: s)  // [G, Lq, D]
        let dk = batchedMatmul(ds, q, transposeA: true, alpha: s)  // [G, Lk, D]
        return (dq, dk, dv)
    }
}
