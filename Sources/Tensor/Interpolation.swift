// Interpolation: resizing [B, C, H, W] tensors exactly as `torch.nn.functional.interpolate` with a
// target `size` (align_corners = false): bilinear (optionally antialiased), bicubic (A = -0.75,
// border-clamped taps) and nearest (floor of dst * in/out).
//
// Every mode is separable: each axis gets a table of (first tap, weights), then the image is
// resampled along W and then along H.

/// The resampling filter of `interpolate`.
public enum InterpolationMode: Sendable, Equatable {
    /// Bilinear; with `antialias` the triangle filter widens when downsampling (PyTorch's
    /// `antialias=True`, which SAM uses to shrink masks).
    case bilinear(antialias: Bool)
    case bicubic
    case nearest
}

/// Per-output-index taps along one axis: input indices start at `first[i]` and `weights` holds
/// `width` weights for each output index (zero-padded).
struct AxisTaps {
    var first: [Int]
    var indices: [Int]  // explicit input index per tap (already clamped), width per output
    var weights: [Float]
    var width: Int

    init(inputSize: Int, outputSize: Int, mode: InterpolationMode) {
        let scale = Float(inputSize) / Float(outputSize)
        switch mode {
        case .nearest:
            width = 1
            first = (0..<outputSize).map { i in
                if outputSize == inputSize { return i }
                if outputSize == 2 * inputSize { return i >> 1 }
                return min(Int((Float(i) * scale).rounded(.down)), inputSize - 1)
            }
            indices = first
            weights = [Float](repeating: 1, count: outputSize)
        case .bilinear(let antialias) where antialias && scale > 1:
            // Triangle filter stretched by the scale, weights normalised to sum 1.
            let support = scale
            var firsts: [Int] = [], sizes: [Int] = []
            var rawWeights: [[Float]] = []
            for i in 0..<outputSize {
                let center = scale * (Float(i) + 0.5)
                let lo = max(Int(center - support + 0.5), 0)
                let hi = min(Int(center + support + 0.5), inputSize)
                var ws: [Float] = []
                var total: Float = 0
                for j in 0..<(hi - lo) {
                    let x = (Float(j + lo) - center + 0.5) / scale
                    let w = max(0, 1 - abs(x))
                    ws.append(w)
                    total += w
                }
                if total != 0 { ws = ws.map { $0 / total } }
                firsts.append(lo); sizes.append(hi - lo); rawWeights.append(ws)
            }
            width = max(sizes.max() ?? 1, 1)
            first = firsts
            indices = []; weights = []
            for i in 0..<outputSize {
                for t in 0..<width {
                    indices.append(min(firsts[i] + t, inputSize - 1))
                    weights.append(t < sizes[i] ? rawWeights[i][t] : 0)
                }
            }
        case .bilinear:
            width = 2
            first = []; indices = []; weights = []
            for i in 0..<outputSize {
                let source = max(scale * (Float(i) + 0.5) - 0.5, 0)
                let i0 = Int(source)
                let i1 = i0 + (i0 < inputSize - 1 ? 1 : 0)
                let lambda1 = source - Float(i0)
                first.append(i0)
                indices += [i0, i1]
                weights += [1 - lambda1, lambda1]
            }
        case .bicubic:
            width = 4
            first = []; indices = []; weights = []
            let a: Float = -0.75
            func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            for i in 0..<outputSize {
                let source = scale * (Float(i) + 0.5) - 0.5
                let base = Int(source.rounded(.down))
                let t = source - Float(base)
                first.append(base - 1)
                for k in 0..<4 { indices.append(min(max(base - 1 + k, 0), inputSize - 1)) }
                weights += [far(t + 1), near(t), near(1 - t), far(2 - t)]
            }
        }
    }
}

extension Tensor {
    /// Resizes x [B, C, H, W] to [B, C, height, width].
    public func interpolate(height: Int, width: Int, mode: InterpolationMode) -> Tensor {
        precondition(rank == 4 && height > 0 && width > 0, "interpolate expects [B, C, H, W], got \(shape)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let tapsX = AxisTaps(inputSize: w, outputSize: width, mode: mode)
        let tapsY = AxisTaps(inputSize: h, outputSize: height, mode: mode)
        // Pass 1: along W, [planes, H, W] -> [planes, H, width].
        var horizontal = Tensor(uninitialized: [planes, h, width])
        withUnsafePointer { src in
            horizontal.withUnsafeMutablePointer { dst in
                Parallel.forEach(planes * h, grain: max(1, elementwiseGrain / max(width * tapsX.width, 1))) { range in
                    tapsX.indices.withUnsafeBufferPointer { idx in
                        tapsX.weights.withUnsafeBufferPointer { wts in
                            for row in range {
                                let input = src + row * w, output = dst + row * width
                                for x in 0..<width {
                                    var acc: Float = 0
                                    for t in 0..<tapsX.width {
                                        acc += wts[x * tapsX.width + t] * input[idx[x * tapsX.width + t]]
                                    }
                                    output[x] = acc
                                }
                            }
                        }
                    }
                }
            }
        }
        // Pass 2: along H, [planes, H, width] -> [planes, height, width], row by row (vectorisable).
        var out = Tensor(uninitialized: [shape[0], shape[1], height, width])
        horizontal.withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                Parallel.forEach(planes * height, grain: max(1, elementwiseGrain / max(width * tapsY.width, 1))) { range in
                    for item in range {
                        let plane = item / height, y = item % height
                        let output = dst + item * width
                        output.update(repeating: 0, count: width)
                        for t in 0..<tapsY.width {
                            let weight = tapsY.weights[y * tapsY.width + t]
                            if weight == 0 { continue }
                            let input = src + (plane * h + tapsY.indices[y * tapsY.width + t]) * width
                            for x in 0..<width { output[x] += weight * input[x] }
                        }
                    }
                }
            }
        }
        return out
    }
}
