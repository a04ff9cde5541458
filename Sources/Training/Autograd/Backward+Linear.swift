// Backward+Linear: reverse-mode derivatives of the products on the decoder path: `nn.Linear`
// (y = x W^T + b) and the batched product of the mask decoder (masks = hyper @ upscaled).
//
// Legend: N rows (all leading axes flattened), I input width, O output width; weights in
// PyTorch's layout, Linear [O, I]. Every gradient is a new contiguous tensor.

import Tensor

/// The reverse-mode derivatives of the decoder path's kernels. Each function takes the forward
/// inputs it needs and the gradient of the output, and returns the gradients of the inputs and
/// parameters (the caller accumulates parameter gradients). `Reference/NaiveBackward.swift` holds
/// the slow twins used as test oracles.
public enum Backward {
    /// `nn.Linear`: x [..., I], weight [O, I], dy [..., O] -> dx [..., I], dWeight [O, I], dBias [O].
    public static func linear(x: Tensor, weight: Tensor, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let (o, i) = (weight.shape[0], weight.shape[1])
        precondition(x.shape.last == i && dy.shape.last == o && x.count / i == dy.count / o,
                     "Backward.linear: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
        let n = x.count / i
        var dx = Tensor(uninitialized: x.shape)
        var dw = Tensor(zeros: [o, i])
        var db = Tensor(zeros: [o])
        dy.withUnsafePointer { g in
            weight.withUnsafePointer { w in
                x.withUnsafePointer { px in
                    // dx = dy W: [N, O] x [O, I].
                    dx.withUnsafeMutablePointer { d in
                        sgemm(transposeA: false, transposeB: false, m: n, n: i, k: o, a: g, lda: o, b: w, ldb: i, c: d, ldc: i)
                    }
                    // dW = dy^T x: [O, N] x [N, I].
                    dw.withUnsafeMutablePointer { d in
                        sgemm(transposeA: true, transposeB: false, m: o, n: i, k: n, a: g, lda: o, b: px, ldb: i, c: d, ldc: i)
                    }
                }
            }
            db.withUnsafeMutablePointer { d in columnSums(g, rows: n, columns: o, into: d) }
        }
        return (dx, dw, db)
    }

    /// Batched product c = a b (the mask product `hyper_in @ upscaled`) with a [B, M, K],
    /// b [B, K, N] and dc [B, M, N] -> da = dc b^T [B, M, K], db = a^T dc [B, K, N].
    public static func product(a: Tensor, b: Tensor, dc: Tensor) -> (da: Tensor, db: Tensor) {
        (batchedMatmul(dc, b, transposeB: true), batchedMatmul(a, dc, transposeA: true))
    }

    /// Sums the rows of a [rows, columns] matrix into `out` [columns] (in Double, then rounded).
    static func columnSums(_ p: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        var sums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            let row = p + r * columns
            for c in 0..<columns { sums[c] += Double(row[c]) }
        }
        for c in 0..<columns { out[c] = Float(sums[c]) }
    }
}
