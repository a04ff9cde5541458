// Convolution: conv2d (stride, padding, groups incl. depthwise) and conv-transpose2d with
// kernel == stride, in PyTorch's layouts.
//
// Shapes: x [B, Cin, H, W]; conv weight [Cout, Cin/groups, kh, kw]; conv-transpose weight
// [Cin, Cout, k, k]; bias [Cout]. Output of conv2d: [B, Cout, Ho, Wo] with
// Ho = (H + 2*padH - kh) / strideH + 1.

/// Spatial hyper-parameters of a 2-D convolution.
public struct Conv2dOptions: Sendable, Equatable {
    public var strideH: Int, strideW: Int, paddingH: Int, paddingW: Int, groups: Int
    public init(stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.init(stride: (stride, stride), padding: (padding, padding), groups: groups)
    }
    public init(stride: (Int, Int), padding: (Int, Int), groups: Int = 1) {
        strideH = stride.0; strideW = stride.1; paddingH = padding.0; paddingW = padding.1
        self.groups = groups
    }
}

extension Tensor {
    /// 2-D cross-correlation as `torch.nn.functional.conv2d`.
    public func conv2d(weight: Tensor, bias: Tensor?, options: Conv2dOptions = Conv2dOptions()) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape), weight \(weight.shape)")
        let (batch, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (cout, cinPerGroup, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let groups = options.groups
        precondition(cin == cinPerGroup * groups && cout % groups == 0,
                     "conv2d: \(cin) input channels, weight \(weight.shape), groups \(groups)")
        precondition(bias == nil || bias!.shape == [cout], "conv2d: bias \(bias!.shape) for \(cout) outputs")
        let ho = (h + 2 * options.paddingH - kh) / options.strideH + 1
        let wo = (w + 2 * options.paddingW - kw) / options.strideW + 1
        precondition(ho > 0 && wo > 0, "conv2d: kernel \(kh)x\(kw) larger than padded input \(h)x\(w)")
        var out = Tensor(uninitialized: [batch, cout, ho, wo])
        if groups == cin && cout == cin && cinPerGroup == 1 {
            depthwiseConv2d(into: &out, weight: weight, bias: bias, options: options)
            return out
        }
        let coutPerGroup = cout / groups
        let columns = ho * wo
        let patch = cinPerGroup * kh * kw
        let isPointwise = kh == 1 && kw == 1 && options.strideH == 1 && options.strideW == 1
            && options.paddingH == 0 && options.paddingW == 0
        let im2col = isPointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: patch * columns)
        defer { im2col?.deallocate() }
        withUnsafePointer { px in
            weight.withUnsafePointer { pw in
                out.withUnsafeMutablePointer { po in
                    for b in 0..<batch {
                        for g in 0..<groups {
                            let input = px + (b * cin + g * cinPerGroup) * h * w
                            let output = po + (b * cout + g * coutPerGroup) * columns
                            var source = UnsafePointer(input)
                            if let cols = im2col {
                                fillColumns(cols, input: input, channels: cinPerGroup, h: h, w: w,
                                            kh: kh, kw: kw, ho: ho, wo: wo, options: options)
                                source = UnsafePointer(cols)
                            }
                            // out[g] [coutPerGroup, columns] = W[g] [coutPerGroup, patch] x cols [patch, columns]
                            sgemm(transposeA: false, transposeB: false, m: coutPerGroup, n: columns, k: patch,
                                  a: pw + g * coutPerGroup * patch, lda: patch, b: source, ldb: columns,
                                  c: output, ldc: columns)
                        }
                    }
                    if let bias { addChannelBias(po, bias: bias, batch: batch, channels: cout, plane: columns) }
                }
            }
        }
        return out
    }

    /// A 1x1 convolution (stride 1, no padding, one group) of a channels-last map self [B, H, W, Cin]
    /// with weight [Cout, Cin, 1, 1] -> channels-first [B, Cout, H, W], as `conv2d` of the
    /// channels-first map: the product reads the tokens transposed (W x X^T), so no permute of the
    /// input is needed.
    public func pointwiseConv2dChannelsLast(weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[1] == shape[3] && weight.shape[2] == 1 && weight.shape[3] == 1,
                     "pointwiseConv2dChannelsLast: input \(shape), weight \(weight.shape)")
        let (batch, h, w, cin) = (shape[0], shape[1], shape[2], shape[3])
        let cout = weight.shape[0], columns = h * w
        precondition(bias == nil || bias!.shape == [cout], "pointwiseConv2dChannelsLast: bias \(bias!.shape) for \(cout) outputs")
        var out = Tensor(uninitialized: [batch, cout, h, w])
        withUnsafePointer { px in
            weight.withUnsafePointer { pw in
                out.withUnsafeMutablePointer { po in
                    for b in 0..<batch {
                        // out[b] [Cout, HW] = W [Cout, Cin] x X[b]^T, X[b] = [HW, Cin]
                        sgemm(transposeA: false, transposeB: true, m: cout, n: columns, k: cin, a: pw, lda: cin,
                              b: px + b * columns * cin, ldb: cin, c: po + b * cout * columns, ldc: columns)
                    }
                    if let bias { addChannelBias(po, bias: bias, batch: batch, channels: cout, plane: columns) }
                }
            }
        }
        return out
    }

    /// A depthwise convolution (stride 1, zero padding `padding` on every side) of a channels-last
    /// map self [B, H, W, C] with weight [C, 1, k, k] (`conv2d`'s groups == C layout) and bias [C]
    /// -> channels-last [B, H', W', C]. The same sum as `conv2d`'s depthwise loop (the bias, then
    /// the taps row by row), but each tap is one multiply-add over all channels of a pixel, 16 at
    /// a time, instead of a pass over a row of one channel (a 16 x 16 map's rows are too short to
    /// vectorise). Parallel over output rows.
    public func depthwiseConv2dChannelsLast(weight: Tensor, bias: Tensor?, padding: Int) -> Tensor {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[0] == shape[3] && weight.shape[1] == 1
                     && weight.shape[2] == weight.shape[3],
                     "depthwiseConv2dChannelsLast: input \(shape), weight \(weight.shape)")
        let (batch, h, w, channels) = (shape[0], shape[1], shape[2], shape[3])
        let k = weight.shape[2]
        precondition(bias == nil || bias!.shape == [channels], "depthwiseConv2dChannelsLast: bias \(bias!.shape)")
        let (ho, wo) = (h + 2 * padding - k + 1, w + 2 * padding - k + 1)
        precondition(ho > 0 && wo > 0, "depthwiseConv2dChannelsLast: kernel \(k) larger than the padded \(h)x\(w) map")
        // Taps [k * k, C]: one row of weights per tap, channels contiguous like the input's.
        var taps = [Float](repeating: 0, count: k * k * channels)
        weight.withUnsafePointer { pw in
            for c in 0..<channels { for t in 0..<(k * k) { taps[t * channels + c] = pw[c * k * k + t] } }
        }
        let biasValues = bias?.scalars ?? [Float](repeating: 0, count: channels)
        var out = Tensor(uninitialized: [batch, ho, wo, channels])
        let vectors = channels / FloatVector.scalarCount * FloatVector.scalarCount
        withUnsafePointer { px in
            out.withUnsafeMutablePointer { po in
                taps.withUnsafeBufferPointer { tapBuffer in
                    biasValues.withUnsafeBufferPointer { biasBuffer in
                        let pt = tapBuffer.baseAddress!, pb = biasBuffer.baseAddress!
                        Parallel.forEach(batch * ho) { range in
                            let pixelBytes = channels * MemoryLayout<Float>.stride
                            // The channels past the last full vector of one pixel: a sum over its taps.
                            func remainingChannels(origin: Int, dst: UnsafeMutablePointer<Float>, rows: Range<Int>,
                                                   columns: Range<Int>) {
                                for c in vectors..<channels {
                                    var acc = pb[c]
                                    for ky in rows { for kx in columns { acc += pt[(ky * k + kx) * channels + c] * px[origin + (ky * w + kx) * channels + c] } }
                                    dst[c] = acc
                                }
                            }
                            for row in range {
                                let (b, oy) = (row / ho, row % ho)
                                // The taps whose input row lies inside the map (the same for the whole output row).
                                let rowsStart = max(0, padding - oy)
                                let rows = rowsStart..<max(rowsStart, min(k, h + padding - oy))
                                var ox = 0
                                while ox < wo {
                                    let dst = po + ((b * ho + oy) * wo + ox) * channels
                                    // The index of tap (0, 0)'s pixel (outside the map when padded).
                                    let origin = ((b * h + oy - padding) * w + ox - padding) * channels
                                    if ox >= padding && ox + 3 + k - padding <= w {
                                        // Four adjacent pixels whose taps all lie inside the map's columns:
                                        // each tap vector is loaded once for four multiply-adds (the same
                                        // sums in the same order as one pixel at a time).
                                        var c = 0
                                        while c < vectors {
                                            let bias = UnsafeRawPointer(pb + c).loadUnaligned(as: FloatVector.self)
                                            var (acc0, acc1, acc2, acc3) = (bias, bias, bias, bias)
                                            for ky in rows {
                                                for kx in 0..<k {
                                                    let t = UnsafeRawPointer(pt + (ky * k + kx) * channels + c).loadUnaligned(as: FloatVector.self)
                                                    let x = UnsafeRawPointer(px + origin + (ky * w + kx) * channels + c)
                                                    acc0 += t * x.loadUnaligned(as: FloatVector.self)
                                                    acc1 += t * x.loadUnaligned(fromByteOffset: pixelBytes, as: FloatVector.self)
                                                    acc2 += t * x.loadUnaligned(fromByteOffset: 2 * pixelBytes, as: FloatVector.self)
                                                    acc3 += t * x.loadUnaligned(fromByteOffset: 3 * pixelBytes, as: FloatVector.self)
                                                }
                                            }
                                            let out = UnsafeMutableRawPointer(dst + c)
                                            out.storeBytes(of: acc0, as: FloatVector.self)
                                            out.storeBytes(of: acc1, toByteOffset: pixelBytes, as: FloatVector.self)
                                            out.storeBytes(of: acc2, toByteOffset: 2 * pixelBytes, as: FloatVector.self)
                                            out.storeBytes(of: acc3, toByteOffset: 3 * pixelBytes, as: FloatVector.self)
                                            c += FloatVector.scalarCount
                                        }
                                        for p in 0..<4 where vectors < channels {
                                            remainingChannels(origin: origin + p * channels, dst: dst + p * channels,
                                                              rows: rows, columns: 0..<k)
                                        }
                                        ox += 4
                                        continue
                                    }
                                    // One pixel: the taps whose input column lies inside the map.
                                    let columnsStart = max(0, padding - ox)
                                    let columns = columnsStart..<max(columnsStart, min(k, w + padding - ox))
                                    var c = 0
                                    while c < vectors {
                                        var acc = UnsafeRawPointer(pb + c).loadUnaligned(as: FloatVector.self)
                                        for ky in rows {
                                            for kx in columns {
                                                let x = UnsafeRawPointer(px + origin + (ky * w + kx) * channels + c)
                                                let t = UnsafeRawPointer(pt + (ky * k + kx) * channels + c)
                                                acc += t.loadUnaligned(as: FloatVector.self) * x.loadUnaligned(as: FloatVector.self)
                                            }
                                        }
                                        UnsafeMutableRawPointer(dst + c).storeBytes(of: acc, as: FloatVector.self)
                                        c += FloatVector.scalarCount
                                    }
                                    remainingChannels(origin: origin, dst: dst, rows: rows, columns: columns)
                                    ox += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Depthwise case (groups == Cin == Cout): a direct loop per channel, parallel over channels.
    private func depthwiseConv2d(into out: inout Tensor, weight: Tensor, bias: Tensor?, options: Conv2dOptions) {
        let (batch, channels, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let (ho, wo) = (out.shape[2], out.shape[3])
        let (sh, sw, ph, pw_) = (options.strideH, options.strideW, options.paddingH, options.paddingW)
        withUnsafePointer { px in
            weight.withUnsafePointer { pw in
                out.withUnsafeMutablePointer { po in
                    let biasValues = bias?.scalars
                    Parallel.forEach(batch * channels) { range in
                        for item in range {
                            let c = item % channels
                            let src = px + item * h * w
                            let dst = po + item * ho * wo
                            let kernel = pw + c * kh * kw
                            let b0 = biasValues?[c] ?? 0
                            for oy in 0..<ho {
                                let row = dst + oy * wo
                                for ox in 0..<wo { row[ox] = b0 }
                                for ky in 0..<kh {
                                    let iy = oy * sh - ph + ky
                                    if iy < 0 || iy >= h { continue }
                                    let srcRow = src + iy * w
                                    for kx in 0..<kw {
                                        let k = kernel[ky * kw + kx]
                                        // Output columns whose input column lies inside the image.
                                        let lo = max(0, (pw_ - kx + sw - 1) / sw)
                                        let hi = min(wo, (w + pw_ - kx + sw - 1) / sw)
                                        if lo >= hi { continue }
                                        if sw == 1 {
                                            let shifted = srcRow + (lo - pw_ + kx)
                                            for ox in lo..<hi { row[ox] += k * shifted[ox - lo] }
                                        } else {
                                            for ox in lo..<hi { row[ox] += k * srcRow[ox * sw - pw_ + kx] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Transposed convolution with kernel == stride and no padding, as
    /// `torch.nn.ConvTranspose2d(cin, cout, kernel_size=k, stride=k)`: weight [Cin, Cout, k, k].
    /// x [B, Cin, H, W] -> [B, Cout, H*k, W*k].
    public func convTranspose2d(weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[0] == shape[1] && weight.shape[2] == weight.shape[3],
                     "convTranspose2d: input \(shape), weight \(weight.shape)")
        let (batch, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (cout, k) = (weight.shape[1], weight.shape[2])
        precondition(bias == nil || bias!.shape == [cout], "convTranspose2d: bias \(bias!.shape)")
        let plane = h * w
        let rows = cout * k * k
        var out = Tensor(uninitialized: [batch, cout, h * k, w * k])
        let products = UnsafeMutablePointer<Float>.allocate(capacity: rows * plane)
        defer { products.deallocate() }
        withUnsafePointer { px in
            weight.withUnsafePointer { pw in
                out.withUnsafeMutablePointer { po in
                    for b in 0..<batch {
                        // products [Cout*k*k, H*W] = W^T [Cout*k*k, Cin] x x[b] [Cin, H*W]
                        sgemm(transposeA: true, transposeB: false, m: rows, n: plane, k: cin,
                              a: pw, lda: rows, b: px + b * cin * plane, ldb: plane, c: products, ldc: plane)
                        let dst = po + b * cout * plane * k * k
                        Parallel.forEach(cout) { range in
                            for co in range {
                                for dy in 0..<k {
                                    for dx in 0..<k {
                                        let src = products + ((co * k + dy) * k + dx) * plane
                                        let plane2 = dst + co * plane * k * k
                                        for y in 0..<h {
                                            let outRow = plane2 + (y * k + dy) * (w * k) + dx
                                            let inRow = src + y * w
                                            for x in 0..<w { outRow[x * k] = inRow[x] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    if let bias { addChannelBias(po, bias: bias, batch: batch, channels: cout, plane: plane * k * k) }
                }
            }
        }
        return out
    }
}

/// Adds bias[c] to every element of channel c of a [B, C, plane] buffer.
func addChannelBias(_ p: UnsafeMutablePointer<Float>, bias: Tensor, batch: Int, channels: Int, plane: Int) {
    bias.withUnsafePointer { pb in
        Parallel.forEach(batch * channels, grain: max(1, elementwiseGrain / max(plane, 1))) { range in
            for item in range {
                let value = pb[item % channels]
                let row = p + item * plane
                for i in 0..<plane { row[i] += value }
            }
        }
    }
}

/// im2col: columns [C*kh*kw, Ho*Wo], zero where the kernel reads padding.
func fillColumns(_ cols: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels: Int, h: Int, w: Int,
                 kh: Int, kw: Int, ho: Int, wo: Int, options: Conv2dOptions) {
    let (sh, sw, ph, pw) = (options.strideH, options.strideW, options.paddingH, options.paddingW)
    Parallel.forEach(channels * kh * kw, grain: max(1, 4096 / max(ho * wo, 1))) { range in
        for rowIndex in range {
            let c = rowIndex / (kh * kw)
            let ky = (rowIndex / kw) % kh
            let kx = rowIndex % kw
            let dst = cols + rowIndex * ho * wo
            let src = input + c * h * w
            for oy in 0..<ho {
                let iy = oy * sh - ph + ky
                let outRow = dst + oy * wo
                if iy < 0 || iy >= h {
                    outRow.update(repeating: 0, count: wo)
                    continue
                }
                let srcRow = src + iy * w
                // Output columns whose input column lies inside the row: [first, end); zeros around.
                let first = min(wo, max(0, (pw - kx + sw - 1) / sw))
                let last = w - 1 + pw - kx  // ox * sw <= last
                let end = last < 0 ? first : max(first, min(wo, last / sw + 1))
                if first > 0 { outRow.update(repeating: 0, count: first) }
                if end < wo { (outRow + end).update(repeating: 0, count: wo - end) }
                guard end > first else { continue }
                let start = srcRow + (first * sw - pw + kx)
                if sw == 1 {
                    (outRow + first).update(from: start, count: end - first)
                } else {
                    for ox in first..<end { outRow[ox] = start[(ox - first) * sw] }
                }
            }
        }
    }
}
