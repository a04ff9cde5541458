// MemoryEncoder: turns a frame's features and its predicted mask into a memory
// (`modeling/memory_encoder.py`): the mask is downsampled by strided convolutions, added to the
// projected pixel features, fused by ConvNeXt blocks, projected to the memory width, and given a
// sine position encoding.
//
// Shapes: pixel features [B, C, h, w]; mask [B, 1, S, S] (already scaled/biased, no sigmoid here);
// output features and position encoding [B, Cm, h, w] (Cm = memory width, 64 for official models).

import Tensor

/// `CXBlock`: depthwise conv -> LayerNorm2d -> Linear x4 -> GELU -> Linear -> layer scale, residual
/// (channels-last throughout).
struct CXBlock: Sendable {
    let dwconv: Conv2d, norm: LayerNorm2d, pwconv1: Linear, pwconv2: Linear, gamma: Tensor

    init(_ loader: WeightLoader, dim: Int, kernel: Int) throws {
        dwconv = try Conv2d(loader.child("dwconv"), inChannels: dim, outChannels: dim, kernel: kernel,
                            padding: kernel / 2, groups: dim)
        // callAsFunction runs it as a channels-last depthwise convolution of stride 1 and equal
        // padding on every side, which is what this construction gives.
        precondition(dwconv.options == Conv2dOptions(stride: 1, padding: kernel / 2, groups: dim))
        norm = try LayerNorm2d(loader.child("norm"), channels: dim)
        pwconv1 = try Linear(loader.child("pwconv1"), inFeatures: dim, outFeatures: 4 * dim)
        pwconv2 = try Linear(loader.child("pwconv2"), inFeatures: 4 * dim, outFeatures: dim)
        gamma = try loader.take("gamma", [dim])
    }

    /// x and the result are channels-last [B, h, w, C] (the official block permutes to that
    /// layout after its norm; here the whole fuser stays in it, so the depthwise convolution
    /// sweeps channels and LayerNorm2d over C is the last axis's LayerNorm).
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x.depthwiseConv2dChannelsLast(weight: dwconv.weight, bias: dwconv.bias, padding: dwconv.options.paddingH)
        h = h.layerNorm(weight: norm.weight, bias: norm.bias, eps: norm.eps)
        h = pwconv1(h, then: .gelu)
        h = pwconv2(h) * gamma
        var out = x
        out.add(h)
        return out
    }
}

/// The memory encoder (`memory_encoder.*`).
public struct MemoryEncoder: Sendable {
    /// The sine encoding [Cm, h, w] of the model's feature grid (config.embeddingSize), computed
    /// once: per call it cost ~0.1 ms of sines and cosines per object and frame at 16 x 16.
    private let cachedPosition: Tensor
    let downsampleConvs: [Conv2d], downsampleNorms: [LayerNorm2d], downsampleOut: Conv2d
    let pixFeatProj: Conv2d
    let fuser: [CXBlock]
    let outProj: Conv2d?
    public let outDim: Int

    public init(_ loader: WeightLoader, config: SAM2Config) throws {
        let c = config.neck.dModel, m = config.memoryEncoder
        var convs: [Conv2d] = [], norms: [LayerNorm2d] = []
        var layers = 0, stride = 1
        while stride < m.maskDownsamplerTotalStride { stride *= m.maskDownsamplerStride; layers += 1 }
        var inChannels = 1
        let encoder = loader.child("mask_downsampler.encoder")
        for i in 0..<layers {
            let outChannels = inChannels * m.maskDownsamplerStride * m.maskDownsamplerStride
            convs.append(try Conv2d(encoder.child("\(3 * i)"), inChannels: inChannels, outChannels: outChannels,
                                    kernel: m.maskDownsamplerKernelSize, stride: m.maskDownsamplerStride,
                                    padding: m.maskDownsamplerPadding))
            norms.append(try LayerNorm2d(encoder.child("\(3 * i + 1)"), channels: outChannels))
            inChannels = outChannels
        }
        downsampleConvs = convs
        downsampleNorms = norms
        downsampleOut = try Conv2d(encoder.child("\(3 * layers)"), inChannels: inChannels, outChannels: c, kernel: 1)
        pixFeatProj = try Conv2d(loader.child("pix_feat_proj"), inChannels: c, outChannels: c, kernel: 1)
        fuser = try (0..<m.fuserLayers).map { try CXBlock(loader.child("fuser.layers.\($0)"), dim: c, kernel: m.fuserKernelSize) }
        outProj = m.outDim != c ? try Conv2d(loader.child("out_proj"), inChannels: c, outChannels: m.outDim, kernel: 1) : nil
        outDim = m.outDim
        let grid = config.embeddingSize
        cachedPosition = PositionEncoding.sine2D(channels: m.outDim, height: grid, width: grid)
    }

    /// Memory features [B, Cm, h, w] and their position encoding [B, Cm, h, w].
    public func callAsFunction(pixelFeatures: Tensor, mask: Tensor) -> (features: Tensor, position: Tensor) {
        var m = mask
        for (conv, norm) in zip(downsampleConvs, downsampleNorms) {
            m = norm(conv(m))
            m.apply(.gelu)
        }
        m = downsampleOut(m)
        var x = pixFeatProj(pixelFeatures)
        x.add(m)
        // The fuser runs channels-last; out_proj (a 1x1 convolution) reads that layout and writes
        // channels-first.
        var tokens = x.permuted([0, 2, 3, 1])
        for block in fuser { tokens = block(tokens) }
        if let outProj {
            x = tokens.pointwiseConv2dChannelsLast(weight: outProj.weight, bias: outProj.bias)
        } else {
            x = tokens.permuted([0, 3, 1, 2])
        }
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let pe = cachedPosition.shape == [outDim, h, w] ? cachedPosition
            : PositionEncoding.sine2D(channels: outDim, height: h, width: w)
        let position = b == 1 ? pe.reshaped([1, outDim, h, w])
            : Tensor.concatenate(Array(repeating: pe.reshaped([1, outDim, h, w]), count: b), axis: 0)
        return (x, position)
    }
}
