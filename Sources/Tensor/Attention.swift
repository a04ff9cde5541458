// Attention: scaled dot-product attention with heads, blocked over queries so that the
// [Lq, Lk] score matrix is never materialised whole (4096 x 28672 for SAM 2.1 memory attention).
//
// Shapes: q [B, N, Lq, D], k [B, N, Lk, D], v [B, N, Lk, Dv] -> [B, N, Lq, Dv]
// (B batch, N heads, L tokens, D channels per head).

/// Largest score block (floats) computed at once per worker: 4 Mi floats = 16 MiB.
public let attentionScoreBlock = 1 << 22

/// softmax(q k^T * scale) v for every (batch, head). `scale` defaults to 1/sqrt(D).
/// `scoreBlock` caps the floats of one score block (tests lower it to exercise the blocking).
public func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, scale: Float? = nil,
                                      scoreBlock: Int = attentionScoreBlock) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention expects [B, N, L, D] tensors")
    let (batch, heads, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let lk = k.shape[2], dv = v.shape[3]
    precondition(k.shape == [batch, heads, lk, d] && v.shape == [batch, heads, lk, dv],
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape)")
    let alpha = scale ?? 1 / Float(d).squareRoot()
    var out = Tensor(uninitialized: [batch, heads, lq, dv])
    let pairs = batch * heads
    let flopsPerPair = lq * lk * (d + dv)
    q.withUnsafePointer { pq in
        k.withUnsafePointer { pk in
            v.withUnsafePointer { pv in
                out.withUnsafeMutablePointer { po in
                    // One (batch, head) pair, query block by query block. `softmaxWorkers` spreads the
                    // softmax rows over the cores when the products themselves run on OpenBLAS threads.
                    let attend = { (pair: Int, scores: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                                    blockRows: Int, parallelSoftmax: Bool) in
                        let qBase = pq + pair * lq * d, kBase = pk + pair * lk * d
                        let vBase = pv + pair * lk * dv, oBase = po + pair * lq * dv
                        var start = 0
                        while start < lq {
                            let rows = min(blockRows, lq - start)
                            sgemm(transposeA: false, transposeB: true, m: rows, n: lk, k: d, alpha: alpha,
                                  a: qBase + start * d, lda: d, b: kBase, ldb: d, c: scores, ldc: lk)
                            // exp(s - max) in place; the division by the row sum is applied to the
                            // [rows, Dv] output instead of the [rows, Lk] scores.
                            if parallelSoftmax {
                                Parallel.forEach(rows, grain: max(1, 8192 / max(lk, 1))) { r in
                                    for row in r { sums[row] = exponentiateRow(scores + row * lk, lk) }
                                }
                            } else {
                                for row in 0..<rows { sums[row] = exponentiateRow(scores + row * lk, lk) }
                            }
                            let out = oBase + start * dv
                            sgemm(transposeA: false, transposeB: false, m: rows, n: dv, k: lk,
                                  a: scores, lda: lk, b: vBase, ldb: dv, c: out, ldc: dv)
                            for row in 0..<rows {
                                let inverse = 1 / sums[row]
                                let o = out + row * dv
                                for j in 0..<dv { o[j] *= inverse }
                            }
                            start += rows
                        }
                    }
                    let blockRows = max(1, min(lq, scoreBlock / max(lk, 1)))
                    if flopsPerPair <= smallProductThreshold && pairs > 1 {
                        // Many small problems (windowed attention): one per worker.
                        Parallel.withSerialBLAS {
                            Parallel.forEach(pairs) { range in
                                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * lk)
                                let sums = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
                                defer { scores.deallocate(); sums.deallocate() }
                                for pair in range { attend(pair, scores, sums, blockRows, false) }
                            }
                        }
                    } else {
                        // Large problems: OpenBLAS threads each product; softmax rows run in parallel.
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * lk)
                        let sums = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
                        defer { scores.deallocate(); sums.deallocate() }
                        for pair in 0..<pairs { attend(pair, scores, sums, blockRows, true) }
                    }
                }
            }
        }
    }
    return out
}
