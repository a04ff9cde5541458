// WindowPartition: window partition and unpartition for windowed attention over a channels-last
// map, fused with the head split / merge and (optionally) a k x k max-pool, so that a block moves
// its tokens between the map and the attention layout in one copy each way.
//
// Legend: B batch, H/W map extents, C channels, N heads, D = channels per head,
// (wh, ww) window extents, (nWh, nWw) = (ceil(H / wh), ceil(W / ww)) window grid.
// Channels-last map: x [B, H, W, C]. Attention layout: windows [B * nWh * nWw, N, wh * ww, D], the
// windows in row-major order over the grid (batch outermost), the tokens of a window row-major.
// This is the official `window_partition` ([B * nW, wh, ww, C]) followed by the head split
// `reshape(..., N, D).transpose(1, 2)` that attention does, in one pass.

extension Tensor {
    /// Cuts a channel range of the channels-last map self [B, H, W, Ctot] into windows, heads first:
    /// -> [B * nWh * nWw, N, wh * ww, D] with N = `heads` and D = `channels.count / heads`.
    ///
    /// With `pool` = k > 1 the map is first max-pooled k x k with stride k (floor mode, NaN
    /// propagating, as `nn.MaxPool2d(k, k)`), so H and W above are `H / k` and `W / k`.
    /// Windows that reach past the map are padded: the padded tokens take `padding` [channels.count]
    /// (e.g. the projection bias that the official code gets by projecting zero padding), or 0.
    public func windowPartition(channels: Range<Int>, heads: Int, window: (height: Int, width: Int),
                                pool: Int = 1, padding: Tensor? = nil) -> Tensor {
        precondition(rank == 4, "windowPartition expects [B, H, W, C], got \(shape)")
        let (batch, h, w, total) = (shape[0], shape[1], shape[2], shape[3])
        precondition(channels.lowerBound >= 0 && channels.upperBound <= total && !channels.isEmpty,
                     "windowPartition: channels \(channels) of \(total)")
        precondition(heads > 0 && channels.count % heads == 0,
                     "windowPartition: \(channels.count) channels do not split into \(heads) heads")
        precondition(pool >= 1 && window.height > 0 && window.width > 0, "windowPartition: window \(window), pool \(pool)")
        precondition(padding == nil || padding!.shape == [channels.count],
                     "windowPartition: padding \(padding!.shape) for \(channels.count) channels")
        let (ph, pw) = (h / pool, w / pool)
        let (wh, ww) = window
        let (gridH, gridW) = ((ph + wh - 1) / wh, (pw + ww - 1) / ww)
        let d = channels.count / heads
        let windows = batch * gridH * gridW
        var out = Tensor(uninitialized: [windows, heads, wh * ww, d])
        let fill = padding ?? Tensor(zeros: [channels.count])
        let c0 = channels.lowerBound
        withUnsafePointer { px in
            fill.withUnsafePointer { pf in
                out.withUnsafeMutablePointer { po in
                    // One item = one row of one window for one head: ww tokens of d channels.
                    let items = windows * heads * wh
                    Parallel.forEach(items, grain: max(1, elementwiseGrain / max(ww * d * pool * pool, 1))) { range in
                        for item in range {
                            let a = item % wh
                            let n = (item / wh) % heads
                            let win = item / (wh * heads)
                            let b = win / (gridH * gridW)
                            let gy = (win / gridW) % gridH, gx = win % gridW
                            let y = gy * wh + a
                            let dst = po + item * ww * d
                            let pad = pf + n * d
                            for c in 0..<ww {
                                let o = dst + c * d
                                let x = gx * ww + c
                                if y >= ph || x >= pw {
                                    copyTokenChannels(o, pad, d)
                                    continue
                                }
                                if pool == 1 {
                                    copyTokenChannels(o, px + ((b * h + y) * w + x) * total + c0 + n * d, d)
                                    continue
                                }
                                let corner = px + ((b * h + y * pool) * w + x * pool) * total + c0 + n * d
                                maxPoolTokenChannels(o, corner, rowStride: w * total, columnStride: total,
                                                     pool: pool, count: d)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Reassembles windows [B * nWh * nWw, N, wh * ww, D] (as `windowPartition` lays them out) into the
/// channels-last map [B, height, width, N * D], dropping the padded tokens; nWh = ceil(height / wh),
/// nWw = ceil(width / ww). The official `window_unpartition` after the head merge
/// `transpose(1, 2).reshape(..., N * D)`, in one pass.
public func windowUnpartition(_ windows: Tensor, batch: Int, height: Int, width: Int,
                              window: (height: Int, width: Int)) -> Tensor {
    precondition(windows.rank == 4, "windowUnpartition expects [B * nW, N, wh * ww, D], got \(windows.shape)")
    let (wh, ww) = window
    let (gridH, gridW) = ((height + wh - 1) / wh, (width + ww - 1) / ww)
    let (heads, tokens, d) = (windows.shape[1], windows.shape[2], windows.shape[3])
    precondition(windows.shape[0] == batch * gridH * gridW && tokens == wh * ww,
                 "windowUnpartition: \(windows.shape) is not \(batch) x \(gridH) x \(gridW) windows of \(wh) x \(ww)")
    let channels = heads * d
    var out = Tensor(uninitialized: [batch, height, width, channels])
    windows.withUnsafePointer { pw in
        out.withUnsafeMutablePointer { po in
            // One item = one output row (b, y): width tokens of N * D channels.
            Parallel.forEach(batch * height, grain: max(1, elementwiseGrain / max(width * channels, 1))) { range in
                for item in range {
                    let b = item / height, y = item % height
                    let gy = y / wh, a = y % wh
                    let dstRow = po + item * width * channels
                    for x in 0..<width {
                        let win = (b * gridH + gy) * gridW + x / ww
                        let token = a * ww + x % ww
                        for n in 0..<heads {
                            copyTokenChannels(dstRow + x * channels + n * d, pw + ((win * heads + n) * tokens + token) * d, d)
                        }
                    }
                }
            }
        }
    }
    return out
}

/// dst[0..<count] = src[0..<count] for one token's channels of one head (48 floats in the default
/// model): inline 16-float vector moves. A call to memmove per token cost more than the copy
/// (memmove was 2% of a frame's samples, nearly all from these two loops).
@inline(__always)
func copyTokenChannels(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
    var i = 0
    let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
    while i + 16 <= count {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), toByteOffset: i * 4,
                      as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        dst[i] = src[i]
        i += 1
    }
}

/// dst[j] = the maximum of src[dy * rowStride + dx * columnStride + j] over the pool x pool cells
/// (NaN propagating, as `nn.MaxPool2d`: a NaN cell wins, the first NaN met), for j < count; 16
/// channels at a time.
@inline(__always)
func maxPoolTokenChannels(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rowStride: Int,
                          columnStride: Int, pool: Int, count: Int) {
    var j = 0
    while j + 16 <= count {
        var best = SIMD16<Float>(repeating: -.infinity)
        for dy in 0..<pool {
            for dx in 0..<pool {
                let v = UnsafeRawPointer(src + dy * rowStride + dx * columnStride + j).loadUnaligned(as: SIMD16<Float>.self)
                // Where best is NaN it stays (NaN > x and x > NaN are both false); v wins where it
                // is larger or NaN.
                best.replace(with: v, where: (v .> best) .| (v .!= v) .& (best .== best))
            }
        }
        UnsafeMutableRawPointer(dst + j).storeBytes(of: best, as: SIMD16<Float>.self)
        j += 16
    }
    while j < count {
        var best = -Float.infinity
        for dy in 0..<pool {
            for dx in 0..<pool {
                let v = src[dy * rowStride + dx * columnStride + j]
                if v > best || (v.isNaN && !best.isNaN) { best = v }
            }
        }
        dst[j] = best
        j += 1
    }
}
