// Backward+Interpolation: the reverse of bilinear resizing, `F.interpolate(x, size, mode="bilinear",
// align_corners=False)` without antialias, which turns the decoder's low-resolution logits into
// image-size logits for the loss. The forward is Tensor's `interpolate`; this is its adjoint:
// each output pixel's gradient goes back to its two x two source pixels with the same weights.
//
// Taps as PyTorch computes them: scale = in / out (Float), src = max(scale (i + 0.5) - 0.5, 0),
// i0 = floor(src), i1 = min(i0 + 1, in - 1), weights (1 - (src - i0), src - i0).

import Tensor

extension Backward {
    /// dy [B, C, Ho, Wo] of a bilinear resize from [B, C, height, width] -> dx [B, C, height, width].
    public static func bilinearResize(dy: Tensor, height: Int, width: Int) -> Tensor {
        precondition(dy.rank == 4, "Backward.bilinearResize: dy \(dy.shape)")
        let (planes, ho, wo) = (dy.shape[0] * dy.shape[1], dy.shape[2], dy.shape[3])
        let rowsTaps = BilinearTaps(inputSize: height, outputSize: ho)
        let columnTaps = BilinearTaps(inputSize: width, outputSize: wo)
        var dx = Tensor(zeros: [dy.shape[0], dy.shape[1], height, width])
        dy.withUnsafePointer { pg in
            dx.withUnsafeMutablePointer { pd in
                Parallel.forEach(planes) { range in
                    var along = [Float](repeating: 0, count: ho * width)  // dy A_w: [Ho, W]
                    for plane in range {
                        let g = pg + plane * ho * wo, d = pd + plane * height * width
                        for i in 0..<along.count { along[i] = 0 }
                        for r in 0..<ho {
                            let grow = g + r * wo
                            let base = r * width
                            for c in 0..<wo {
                                along[base + columnTaps.i0[c]] += columnTaps.w0[c] * grow[c]
                                along[base + columnTaps.i1[c]] += columnTaps.w1[c] * grow[c]
                            }
                        }
                        for r in 0..<ho {
                            let d0 = d + rowsTaps.i0[r] * width, d1 = d + rowsTaps.i1[r] * width
                            let w0 = rowsTaps.w0[r], w1 = rowsTaps.w1[r]
                            let base = r * width
                            for c in 0..<width {
                                d0[c] += w0 * along[base + c]
                                d1[c] += w1 * along[base + c]
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Source taps of bilinear resizing along one axis (align_corners = false, no antialias).
struct BilinearTaps {
    var i0: [Int] = [], i1: [Int] = []
    var w0: [Float] = [], w1: [Float] = []

    init(inputSize: Int, outputSize: Int) {
        let scale = Float(inputSize) / Float(outputSize)
        for i in 0..<outputSize {
            let source = max(scale * (Float(i) + 0.5) - 0.5, 0)
            let first = Int(source)
            let lambda = source - Float(first)
            i0.append(first)
            i1.append(first + (first < inputSize - 1 ? 1 : 0))
            w0.append(1 - lambda)
            w1.append(lambda)
        }
    }
}
