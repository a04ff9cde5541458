// Pooling: max-pool with kernel == stride (floor mode), as Hiera's q-pooling uses.

extension Tensor {
    /// Max-pool of x [B, C, H, W] with a k x k window and stride k (ceil_mode false):
    /// -> [B, C, H/k, W/k].
    public func maxPool2d(kernel k: Int) -> Tensor {
        precondition(rank == 4 && k >= 1, "maxPool2d expects [B, C, H, W], got \(shape)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let (ho, wo) = (h / k, w / k)
        var out = Tensor(uninitialized: [shape[0], shape[1], ho, wo])
        withUnsafePointer { px in
            out.withUnsafeMutablePointer { po in
                Parallel.forEach(planes, grain: max(1, elementwiseGrain / max(h * w, 1))) { range in
                    for plane in range {
                        let src = px + plane * h * w, dst = po + plane * ho * wo
                        for oy in 0..<ho {
                            for ox in 0..<wo {
                                var best = -Float.infinity
                                for dy in 0..<k {
                                    let row = src + (oy * k + dy) * w + ox * k
                                    for dx in 0..<k where row[dx] > best || row[dx].isNaN { best = row[dx] }  // NaN propagates
                                }
                                dst[oy * wo + ox] = best
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Max-pool of channels-last x [B, H, W, C] with a k x k window and stride k -> [B, H/k, W/k, C].
    /// Same values as `maxPool2d` on the permuted tensor, without the two permutes.
    public func maxPool2dChannelsLast(kernel k: Int) -> Tensor {
        precondition(rank == 4 && k >= 1, "maxPool2dChannelsLast expects [B, H, W, C], got \(shape)")
        let (batch, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (ho, wo) = (h / k, w / k)
        var out = Tensor(uninitialized: [batch, ho, wo, c])
        withUnsafePointer { px in
            out.withUnsafeMutablePointer { po in
                Parallel.forEach(batch * ho, grain: max(1, elementwiseGrain / max(wo * c * k * k, 1))) { range in
                    for item in range {
                        let b = item / ho, oy = item % ho
                        for ox in 0..<wo {
                            let dst = po + ((b * ho + oy) * wo + ox) * c
                            for ch in 0..<c { dst[ch] = -.infinity }
                            for dy in 0..<k {
                                for dx in 0..<k {
                                    let src = px + ((b * h + oy * k + dy) * w + ox * k + dx) * c
                                    for ch in 0..<c where src[ch] > dst[ch] || src[ch].isNaN { dst[ch] = src[ch] }  // NaN propagates
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
