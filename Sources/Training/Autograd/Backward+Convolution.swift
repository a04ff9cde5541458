// Backward+Convolution: reverse-mode derivatives of the decoder path's convolutions, all of them
// non-overlapping: `nn.Conv2d` with kernel = stride and no padding (the mask-downscaling 2x2/2
// convolutions and every 1x1 convolution: conv_s0, conv_s1, the last mask-downscaling layer) and
// `nn.ConvTranspose2d` with kernel = stride (the output upscaling).
//
// Legend: B batch, Ci / Co input / output channels, k kernel = stride, H x W input extent.
// Weights in PyTorch's layouts: Conv2d [Co, Ci, k, k], ConvTranspose2d [Ci, Co, k, k].
// Both are one matrix product per image between the weight as a matrix and the image's
// "patch matrix" [Ci k k, Ho Wo] (conv) or [Co k k, H W] (transposed conv); the backward passes
// gather and scatter those patches.

import Tensor

extension Backward {
    /// Conv2d with kernel = stride = k, padding 0, groups 1: x [B, Ci, H, W] (H, W multiples of k),
    /// weight [Co, Ci, k, k], dy [B, Co, H/k, W/k] -> dx (nil unless `inputGradient`), dWeight, dBias [Co].
    public static func patchConv2d(x: Tensor, weight: Tensor, dy: Tensor,
                                   inputGradient: Bool = true) -> (dx: Tensor?, dWeight: Tensor, dBias: Tensor) {
        let (b, ci, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k) = (weight.shape[0], weight.shape[2])
        precondition(weight.shape == [co, ci, k, k] && h % k == 0 && w % k == 0 && dy.shape == [b, co, h / k, w / k],
                     "Backward.patchConv2d: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
        let (ho, wo) = (h / k, w / k)
        let rows = ci * k * k, cols = ho * wo
        var dx = Tensor(uninitialized: x.shape)
        var dw = Tensor(zeros: [co, rows])
        var db = Tensor(zeros: [co])
        var patches = [Float](repeating: 0, count: rows * cols)
        var dPatches = [Float](repeating: 0, count: rows * cols)
        x.withUnsafePointer { px in
            dy.withUnsafePointer { pg in
                weight.withUnsafePointer { pw in
                    dx.withUnsafeMutablePointer { pdx in
                        dw.withUnsafeMutablePointer { pdw in
                            for image in 0..<b {
                                let xi = px + image * ci * h * w, gi = pg + image * co * cols, di = pdx + image * ci * h * w
                                if k == 1 {
                                    patches.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: xi, count: rows * cols) }
                                } else {
                                    patches.withUnsafeMutableBufferPointer { gatherPatches(xi, $0.baseAddress!, ci, h, w, k) }
                                }
                                // dW += dY P^T: [Co, HoWo] x [HoWo, Ci k k].
                                patches.withUnsafeBufferPointer { pp in
                                    sgemm(transposeA: false, transposeB: true, m: co, n: rows, k: cols, a: gi, lda: cols,
                                          b: pp.baseAddress!, ldb: cols, beta: 1, c: pdw, ldc: rows)
                                }
                                guard inputGradient else { continue }
                                // dP = W^T dY: [Ci k k, Co] x [Co, HoWo].
                                dPatches.withUnsafeMutableBufferPointer { dp in
                                    sgemm(transposeA: true, transposeB: false, m: rows, n: cols, k: co, a: pw, lda: rows,
                                          b: gi, ldb: cols, c: dp.baseAddress!, ldc: cols)
                                }
                                dPatches.withUnsafeBufferPointer { dp in
                                    if k == 1 { di.update(from: dp.baseAddress!, count: rows * cols) } else { scatterPatches(dp.baseAddress!, di, ci, h, w, k) }
                                }
                            }
                        }
                    }
                }
                db.withUnsafeMutablePointer { channelSums(pg, batch: b, channels: co, plane: cols, into: $0) }
            }
        }
        return (inputGradient ? dx : nil, dw.reshaped([co, ci, k, k]), db)
    }

    /// ConvTranspose2d with kernel = stride = k: x [B, Ci, H, W], weight [Ci, Co, k, k],
    /// dy [B, Co, H k, W k] -> dx, dWeight, dBias [Co].
    public static func convTranspose2d(x: Tensor, weight: Tensor, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let (b, ci, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k) = (weight.shape[1], weight.shape[2])
        precondition(weight.shape == [ci, co, k, k] && dy.shape == [b, co, h * k, w * k],
                     "Backward.convTranspose2d: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
        // y = patches^-1(W^T X): the patch matrix of dy is [Co k k, H W].
        let rows = co * k * k, cols = h * w
        var dx = Tensor(uninitialized: x.shape)
        var dw = Tensor(zeros: [ci, rows])
        var db = Tensor(zeros: [co])
        var dPatches = [Float](repeating: 0, count: rows * cols)
        x.withUnsafePointer { px in
            dy.withUnsafePointer { pg in
                weight.withUnsafePointer { pw in
                    dx.withUnsafeMutablePointer { pdx in
                        dw.withUnsafeMutablePointer { pdw in
                            for image in 0..<b {
                                let xi = px + image * ci * cols, gi = pg + image * co * cols * k * k
                                dPatches.withUnsafeMutableBufferPointer { gatherPatches(gi, $0.baseAddress!, co, h * k, w * k, k) }
                                dPatches.withUnsafeBufferPointer { dp in
                                    // dX = W dP: [Ci, Co k k] x [Co k k, HW].
                                    sgemm(transposeA: false, transposeB: false, m: ci, n: cols, k: rows, a: pw, lda: rows,
                                          b: dp.baseAddress!, ldb: cols, c: pdx + image * ci * cols, ldc: cols)
                                    // dW += X dP^T: [Ci, HW] x [HW, Co k k].
                                    sgemm(transposeA: false, transposeB: true, m: ci, n: rows, k: cols, a: xi, lda: cols,
                                          b: dp.baseAddress!, ldb: cols, beta: 1, c: pdw, ldc: rows)
                                }
                            }
                        }
                    }
                }
                db.withUnsafeMutablePointer { channelSums(pg, batch: b, channels: co, plane: cols * k * k, into: $0) }
            }
        }
        return (dx, dw.reshaped([ci, co, k, k]), db)
    }

    /// [C, H, W] -> patch matrix [C k k, (H/k) (W/k)]: row (c, u, v), column (i, j) holds x[c, i k + u, j k + v].
    static func gatherPatches(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ c: Int, _ h: Int, _ w: Int, _ k: Int) {
        let (ho, wo) = (h / k, w / k)
        for ch in 0..<c {
            for u in 0..<k {
                for v in 0..<k {
                    let row = out + ((ch * k + u) * k + v) * ho * wo
                    for i in 0..<ho {
                        let src = x + (ch * h + i * k + u) * w + v
                        for j in 0..<wo { row[i * wo + j] = src[j * k] }
                    }
                }
            }
        }
    }

    /// The inverse of `gatherPatches` (each pixel belongs to exactly one patch).
    static func scatterPatches(_ patches: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ c: Int, _ h: Int, _ w: Int, _ k: Int) {
        let (ho, wo) = (h / k, w / k)
        for ch in 0..<c {
            for u in 0..<k {
                for v in 0..<k {
                    let row = patches + ((ch * k + u) * k + v) * ho * wo
                    for i in 0..<ho {
                        let dst = x + (ch * h + i * k + u) * w + v
                        for j in 0..<wo { dst[j * k] = row[i * wo + j] }
                    }
                }
            }
        }
    }

    /// Sums [B, C, plane] over B and the plane into `out` [C] (bias gradients).
    static func channelSums(_ p: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int, into out: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            var sum = 0.0
            for b in 0..<batch {
                let row = p + (b * channels + c) * plane
                for i in 0..<plane { sum += Double(row[i]) }
            }
            out[c] = Float(sum)
        }
    }
}
