// NaiveBackward: slow, obviously correct twins of the backward passes whose fast paths go through
// OpenBLAS or gather/scatter tables (linear, the batched product, attention, the patch and
// transposed convolutions, bilinear resizing), written from the definitions element by element
// with Double sums. Test oracles only.

import Foundation
import Tensor

public enum NaiveBackward {
    /// y[n, o] = sum_i x[n, i] W[o, i] + b[o].
    public static func linear(x: Tensor, weight: Tensor, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let (o, i) = (weight.shape[0], weight.shape[1])
        let n = x.count / i
        let xs = x.scalars, ws = weight.scalars, gs = dy.scalars
        var dx = [Float](repeating: 0, count: n * i), dw = [Float](repeating: 0, count: o * i), db = [Float](repeating: 0, count: o)
        for r in 0..<n {
            for c in 0..<i {
                var s = 0.0
                for k in 0..<o { s += Double(gs[r * o + k]) * Double(ws[k * i + c]) }
                dx[r * i + c] = Float(s)
            }
        }
        for k in 0..<o {
            var bs = 0.0
            for r in 0..<n { bs += Double(gs[r * o + k]) }
            db[k] = Float(bs)
            for c in 0..<i {
                var s = 0.0
                for r in 0..<n { s += Double(gs[r * o + k]) * Double(xs[r * i + c]) }
                dw[k * i + c] = Float(s)
            }
        }
        return (Tensor(shape: x.shape, values: dx), Tensor(shape: weight.shape, values: dw), Tensor(shape: [o], values: db))
    }

    /// c[b, m, n] = sum_k a[b, m, k] b[b, k, n].
    public static func product(a: Tensor, b: Tensor, dc: Tensor) -> (da: Tensor, db: Tensor) {
        let (batch, m, k, n) = (a.shape[0], a.shape[1], a.shape[2], b.shape[2])
        let av = a.scalars, bv = b.scalars, gv = dc.scalars
        var da = [Float](repeating: 0, count: a.count), db = [Float](repeating: 0, count: b.count)
        for z in 0..<batch {
            for r in 0..<m {
                for j in 0..<k {
                    var s = 0.0
                    for c in 0..<n { s += Double(gv[(z * m + r) * n + c]) * Double(bv[(z * k + j) * n + c]) }
                    da[(z * m + r) * k + j] = Float(s)
                }
            }
            for j in 0..<k {
                for c in 0..<n {
                    var s = 0.0
                    for r in 0..<m { s += Double(av[(z * m + r) * k + j]) * Double(gv[(z * m + r) * n + c]) }
                    db[(z * k + j) * n + c] = Float(s)
                }
            }
        }
        return (Tensor(shape: a.shape, values: da), Tensor(shape: b.shape, values: db))
    }

    /// Attention q [G, Lq, D], k [G, Lk, D], v [G, Lk, Dv]: everything recomputed in Double.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let (g, lq, d) = (q.shape[0], q.shape[1], q.shape[2])
        let (lk, dvw) = (k.shape[1], v.shape[2])
        let scale = 1 / Double(d).squareRoot()
        let qs = q.scalars.map(Double.init), ks = k.scalars.map(Double.init), vs = v.scalars.map(Double.init)
        let gs = dOut.scalars.map(Double.init)
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
        var dv = [Double](repeating: 0, count: v.count)
        for z in 0..<g {
            for i in 0..<lq {
                var scores = [Double](repeating: 0, count: lk)
                for j in 0..<lk {
                    var s = 0.0
                    for c in 0..<d { s += qs[(z * lq + i) * d + c] * ks[(z * lk + j) * d + c] }
                    scores[j] = s * scale
                }
                let top = scores.max() ?? 0
                var p = scores.map { exp($0 - top) }
                let total = p.reduce(0, +)
                p = p.map { $0 / total }
                var dp = [Double](repeating: 0, count: lk)
                for j in 0..<lk {
                    for c in 0..<dvw {
                        let go = gs[(z * lq + i) * dvw + c]
                        dv[(z * lk + j) * dvw + c] += p[j] * go
                        dp[j] += go * vs[(z * lk + j) * dvw + c]
                    }
                }
                let dot = zip(p, dp).reduce(0) { $0 + $1.0 * $1.1 }
                for j in 0..<lk {
                    let ds = p[j] * (dp[j] - dot) * scale
                    for c in 0..<d {
                        dq[(z * lq + i) * d + c] += ds * ks[(z * lk + j) * d + c]
                        dk[(z * lk + j) * d + c] += ds * qs[(z * lq + i) * d + c]
                    }
                }
            }
        }
        return (Tensor(shape: q.shape, values: dq.map(Float.init)), Tensor(shape: k.shape, values: dk.map(Float.init)),
                Tensor(shape: v.shape, values: dv.map(Float.init)))
    }

    /// y[b, o, i, j] = sum_{c,u,v} W[o, c, u, v] x[b, c, i k + u, j k + v] + bias[o].
    public static func patchConv2d(x: Tensor, weight: Tensor, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let (b, ci, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k) = (weight.shape[0], weight.shape[2])
        let (ho, wo) = (h / k, w / k)
        let xs = x.scalars, ws = weight.scalars, gs = dy.scalars
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: weight.count)
        var db = [Double](repeating: 0, count: co)
        for n in 0..<b { for o in 0..<co { for i in 0..<ho { for j in 0..<wo {
            let g = Double(gs[((n * co + o) * ho + i) * wo + j])
            db[o] += g
            for c in 0..<ci { for u in 0..<k { for v in 0..<k {
                let xi = ((n * ci + c) * h + i * k + u) * w + j * k + v
                let wi = ((o * ci + c) * k + u) * k + v
                dx[xi] += g * Double(ws[wi])
                dw[wi] += g * Double(xs[xi])
            } } }
        } } } }
        return (Tensor(shape: x.shape, values: dx.map(Float.init)), Tensor(shape: weight.shape, values: dw.map(Float.init)),
                Tensor(shape: [co], values: db.map(Float.init)))
    }

    /// y[b, o, i k + u, j k + v] = sum_c x[b, c, i, j] W[c, o, u, v] + bias[o].
    public static func convTranspose2d(x: Tensor, weight: Tensor, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let (b, ci, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k) = (weight.shape[1], weight.shape[2])
        let xs = x.scalars, ws = weight.scalars, gs = dy.scalars
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: weight.count)
        var db = [Double](repeating: 0, count: co)
        for n in 0..<b { for o in 0..<co { for i in 0..<h { for j in 0..<w { for u in 0..<k { for v in 0..<k {
            let g = Double(gs[((n * co + o) * h * k + i * k + u) * w * k + j * k + v])
            for c in 0..<ci {
                let xi = ((n * ci + c) * h + i) * w + j
                let wi = ((c * co + o) * k + u) * k + v
                dx[xi] += g * Double(ws[wi])
                dw[wi] += g * Double(xs[xi])
            }
        } } } } } }
        for n in 0..<b { for o in 0..<co { for p in 0..<(h * k * w * k) { db[o] += Double(gs[(n * co + o) * h * k * w * k + p]) } } }
        return (Tensor(shape: x.shape, values: dx.map(Float.init)), Tensor(shape: weight.shape, values: dw.map(Float.init)),
                Tensor(shape: [co], values: db.map(Float.init)))
    }

    /// Adjoint of bilinear resizing (align_corners false), source index and weights per output
    /// pixel computed in Double from the definition.
    public static func bilinearResize(dy: Tensor, height: Int, width: Int) -> Tensor {
        let (b, c, ho, wo) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
        func source(_ i: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Double) {
            let s = max((Double(i) + 0.5) * Double(inSize) / Double(outSize) - 0.5, 0)
            let i0 = min(Int(s.rounded(.down)), inSize - 1)
            return (i0, min(i0 + 1, inSize - 1), s - Double(i0))
        }
        let gs = dy.scalars
        var dx = [Double](repeating: 0, count: b * c * height * width)
        for plane in 0..<(b * c) { for oy in 0..<ho { for ox in 0..<wo {
            let g = Double(gs[(plane * ho + oy) * wo + ox])
            let (y0, y1, ly) = source(oy, height, ho), (x0, x1, lx) = source(ox, width, wo)
            let base = plane * height * width
            dx[base + y0 * width + x0] += g * (1 - ly) * (1 - lx)
            dx[base + y0 * width + x1] += g * (1 - ly) * lx
            dx[base + y1 * width + x0] += g * ly * (1 - lx)
            dx[base + y1 * width + x1] += g * ly * lx
        } } }
        return Tensor(shape: [b, c, height, width], values: dx.map(Float.init))
    }
}

