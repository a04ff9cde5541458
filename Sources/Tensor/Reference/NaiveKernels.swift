// NaiveKernels: slow, obviously-correct twins of the fast kernels, used as test oracles.
// They loop over output elements with Double accumulation and share no code with the fast paths.

import Foundation

/// Reference implementations for tests. Never call these on a hot path.
public enum NaiveKernels {
    /// [M, K] x [K, N] (2-D only).
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        var out = Tensor(zeros: [m, n])
        for i in 0..<m { for j in 0..<n {
            var acc = 0.0
            for p in 0..<k { acc += Double(a[i, p]) * Double(b[p, j]) }
            out[i, j] = Float(acc)
        } }
        return out
    }

    /// Direct 2-D convolution with stride, padding and groups.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, groups: Int) -> Tensor {
        let (batch, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cpg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let ho = (h + 2 * padding - kh) / stride + 1, wo = (w + 2 * padding - kw) / stride + 1
        let coutPerGroup = cout / groups
        _ = cin
        var out = Tensor(zeros: [batch, cout, ho, wo])
        for b in 0..<batch { for co in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
            let g = co / coutPerGroup
            var acc = Double(bias?[co] ?? 0)
            for ci in 0..<cpg { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                acc += Double(x[b, g * cpg + ci, iy, ix]) * Double(weight[co, ci, ky, kx])
            } } }
            out[b, co, oy, ox] = Float(acc)
        } } } }
        return out
    }

    /// Transposed convolution with kernel == stride: each input pixel scatters a k x k patch.
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let (batch, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, k) = (weight.shape[1], weight.shape[2])
        var out = Tensor(zeros: [batch, cout, h * k, w * k])
        for b in 0..<batch { for co in 0..<cout { for oy in 0..<(h * k) { for ox in 0..<(w * k) {
            var acc = Double(bias?[co] ?? 0)
            for ci in 0..<cin { acc += Double(x[b, ci, oy / k, ox / k]) * Double(weight[ci, co, oy % k, ox % k]) }
            out[b, co, oy, ox] = Float(acc)
        } } } }
        return out
    }

    /// Layer norm over the last axis with Double statistics.
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let d = x.shape.last!
        let v = x.scalars
        var out = [Float](repeating: 0, count: v.count)
        for row in 0..<(v.count / d) {
            let slice = v[(row * d)..<((row + 1) * d)].map(Double.init)
            let mean = slice.reduce(0, +) / Double(d)
            let variance = slice.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            for j in 0..<d {
                let n = (slice[j] - mean) / (variance + Double(eps)).squareRoot()
                out[row * d + j] = Float(n * Double(weight?.scalars[j] ?? 1) + Double(bias?.scalars[j] ?? 0))
            }
        }
        return Tensor(shape: x.shape, values: out)
    }

    /// Softmax over the last axis with Double sums.
    public static func softmax(_ x: Tensor) -> Tensor {
        let d = x.shape.last!
        let v = x.scalars
        var out = [Float](repeating: 0, count: v.count)
        for row in 0..<(v.count / d) {
            let slice = v[(row * d)..<((row + 1) * d)].map(Double.init)
            let m = slice.max()!
            let e = slice.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for j in 0..<d { out[row * d + j] = Float(e[j] / s) }
        }
        return Tensor(shape: x.shape, values: out)
    }

    /// Full-matrix attention softmax(q k^T * scale) v over [B, N, L, D].
    public static func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float) -> Tensor {
        let (b, n, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (lk, dv) = (k.shape[2], v.shape[3])
        var out = Tensor(zeros: [b, n, lq, dv])
        for bi in 0..<b { for h in 0..<n { for i in 0..<lq {
            var scores = [Double](repeating: 0, count: lk)
            for j in 0..<lk {
                var acc = 0.0
                for c in 0..<d { acc += Double(q[bi, h, i, c]) * Double(k[bi, h, j, c]) }
                scores[j] = acc * Double(scale)
            }
            let m = scores.max()!
            let e = scores.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<dv {
                var acc = 0.0
                for j in 0..<lk { acc += e[j] / s * Double(v[bi, h, j, c]) }
                out[bi, h, i, c] = Float(acc)
            }
        } } }
        return out
    }

    /// Bilinear resize (align_corners false, no antialias) of [B, C, H, W], computed per output pixel.
    public static func bilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = Tensor(zeros: [b, c, height, width])
        func source(_ i: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Double) {
            let s = max((Double(i) + 0.5) * Double(inSize) / Double(outSize) - 0.5, 0)
            let i0 = min(Int(s.rounded(.down)), inSize - 1)
            return (i0, min(i0 + 1, inSize - 1), s - Double(i0))
        }
        for bi in 0..<b { for ci in 0..<c { for oy in 0..<height { for ox in 0..<width {
            let (y0, y1, ly) = source(oy, h, height), (x0, x1, lx) = source(ox, w, width)
            let top = Double(x[bi, ci, y0, x0]) * (1 - lx) + Double(x[bi, ci, y0, x1]) * lx
            let bottom = Double(x[bi, ci, y1, x0]) * (1 - lx) + Double(x[bi, ci, y1, x1]) * lx
            out[bi, ci, oy, ox] = Float(top * (1 - ly) + bottom * ly)
        } } } }
        return out
    }

    /// GELU (exact erf form) with Foundation's erf.
    public static func gelu(_ x: Float) -> Float {
        Float(0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot())))
    }
}
