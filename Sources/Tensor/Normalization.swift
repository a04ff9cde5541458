// Normalization: LayerNorm over the last axis, and LayerNorm2d over the channel axis of [B, C, H, W].

extension Tensor {
    /// LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias, with the biased
    /// variance, as `torch.nn.LayerNorm`. weight and bias are [D] (D = last extent) or nil.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let d = shape.last ?? 1
        precondition(weight == nil || weight!.shape == [d], "layerNorm: weight \(weight!.shape) for width \(d)")
        precondition(bias == nil || bias!.shape == [d], "layerNorm: bias \(bias!.shape) for width \(d)")
        let rows = count / max(d, 1)
        var out = Tensor(uninitialized: shape)
        let ones = Tensor(repeating: 1, shape: [d]), zeros = Tensor(zeros: [d])
        let w = weight ?? ones, b = bias ?? zeros
        withUnsafePointer { x in
            w.withUnsafePointer { pw in
                b.withUnsafePointer { pb in
                    out.withUnsafeMutablePointer { y in
                        Parallel.forEach(rows, grain: max(1, 4096 / max(d, 1))) { range in
                            for row in range {
                                normalizeRow(x + row * d, y + row * d, d, pw, pb, eps)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// LayerNorm2d of SAM: normalises each pixel of x [B, C, H, W] over C, then applies
    /// weight [C] and bias [C] per channel.
    public func layerNorm2d(weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        precondition(rank == 4, "layerNorm2d expects [B, C, H, W], got \(shape)")
        let (batch, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        precondition(weight.shape == [channels] && bias.shape == [channels], "layerNorm2d: weight/bias for \(channels) channels")
        var out = Tensor(uninitialized: shape)
        // Parallel over (batch, pixel block); each block accumulates mean and variance over C with
        // contiguous vector loads along the pixels.
        let block = 256
        let blocksPerImage = (plane + block - 1) / block
        withUnsafePointer { x in
            weight.withUnsafePointer { pw in
                bias.withUnsafePointer { pb in
                    out.withUnsafeMutablePointer { y in
                        Parallel.forEach(batch * blocksPerImage) { range in
                            var mean = [Float](repeating: 0, count: block)
                            var variance = [Float](repeating: 0, count: block)
                            for item in range {
                                let image = item / blocksPerImage
                                let start = (item % blocksPerImage) * block
                                let width = min(block, plane - start)
                                let base = image * channels * plane + start
                                for p in 0..<width { mean[p] = 0; variance[p] = 0 }
                                for c in 0..<channels {
                                    let row = x + base + c * plane
                                    for p in 0..<width { mean[p] += row[p] }
                                }
                                let invC = 1 / Float(channels)
                                for p in 0..<width { mean[p] *= invC }
                                for c in 0..<channels {
                                    let row = x + base + c * plane
                                    for p in 0..<width {
                                        let dlt = row[p] - mean[p]
                                        variance[p] += dlt * dlt
                                    }
                                }
                                for p in 0..<width { variance[p] = 1 / (variance[p] * invC + eps).squareRoot() }
                                for c in 0..<channels {
                                    let row = x + base + c * plane
                                    let dst = y + base + c * plane
                                    let scale = pw[c], shift = pb[c]
                                    for p in 0..<width { dst[p] = (row[p] - mean[p]) * variance[p] * scale + shift }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Normalises one row of `d` values (two passes: mean, then variance of the deviations).
@inline(__always)
func normalizeRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int,
                  _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ eps: Float) {
    var sum = FloatVector(repeating: 0)
    var i = 0
    while i + vectorWidth <= d {
        sum += UnsafeRawPointer(x + i).loadUnaligned(as: FloatVector.self)
        i += vectorWidth
    }
    var total = sum.sum()
    while i < d { total += x[i]; i += 1 }
    let mean = total / Float(d)
    var squares = FloatVector(repeating: 0)
    i = 0
    while i + vectorWidth <= d {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: FloatVector.self) - mean
        squares += v * v
        i += vectorWidth
    }
    var varianceSum = squares.sum()
    while i < d { let v = x[i] - mean; varianceSum += v * v; i += 1 }
    let inv = 1 / (varianceSum / Float(d) + eps).squareRoot()
    for j in 0..<d { y[j] = (x[j] - mean) * inv * weight[j] + bias[j] }
}
