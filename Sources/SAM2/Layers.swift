// Layers: the PyTorch building blocks SAM 2 is made of (Linear, LayerNorm, Conv2d, MLP), each
// bound to its checkpoint tensors by dotted key once, with shapes checked at load time.
//
// Legend: B batch, L tokens, C channels, H/W spatial extents.

import Checkpoint
import Tensor

/// Reads a module's tensors from a `WeightStore` under a dotted key prefix.
public struct WeightLoader {
    public let store: WeightStore
    public let prefix: String

    public init(store: WeightStore, prefix: String = "") {
        self.store = store
        self.prefix = prefix
    }

    /// A loader for the child module `name` ("blocks.3" -> "<prefix>.blocks.3").
    public func child(_ name: String) -> WeightLoader {
        WeightLoader(store: store, prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
    }

    /// The full dotted key of a parameter of this module.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// Takes the tensor `name` with exactly `shape`.
    public func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        try store.take(key(name), shape: shape)
    }

    /// True when the checkpoint has the parameter `name` of this module.
    public func has(_ name: String) -> Bool { store.contains(key(name)) }
}

/// `nn.Linear`: y = x W^T + b, weight [out, in].
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    /// The weight packed for bf16 products, made on the first call in a bf16 scope (`Precision`).
    let packedWeight = PackedWeightCache()

    public init(_ loader: WeightLoader, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try loader.take("weight", [outFeatures, inFeatures])
        self.bias = bias ? try loader.take("bias", [outFeatures]) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// x [..., in] -> [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias, packed: packedWeight) }

    /// The layer followed by `activation` (fused into the product's blocks in a bf16 scope).
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        x.linear(weight: weight, bias: bias, packed: packedWeight, activation: activation)
    }
}

/// `nn.LayerNorm` over the last axis.
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ loader: WeightLoader, dim: Int, eps: Float = 1e-5) throws {
        weight = try loader.take("weight", [dim])
        bias = try loader.take("bias", [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// SAM's `LayerNorm2d`: normalises [B, C, H, W] over C.
public struct LayerNorm2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ loader: WeightLoader, channels: Int, eps: Float = 1e-6) throws {
        weight = try loader.take("weight", [channels])
        bias = try loader.take("bias", [channels])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm2d(weight: weight, bias: bias, eps: eps) }
}

/// `nn.Conv2d` with square kernels: weight [out, in/groups, k, k].
public struct Conv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let options: Conv2dOptions

    public init(_ loader: WeightLoader, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, groups: Int = 1, bias: Bool = true) throws {
        weight = try loader.take("weight", [outChannels, inChannels / groups, kernel, kernel])
        self.bias = bias ? try loader.take("bias", [outChannels]) : nil
        options = Conv2dOptions(stride: stride, padding: padding, groups: groups)
    }

    /// x [B, in, H, W] -> [B, out, H', W'].
    public func callAsFunction(_ x: Tensor) -> Tensor { x.conv2d(weight: weight, bias: bias, options: options) }
}

/// `nn.ConvTranspose2d(in, out, kernel_size=k, stride=k)`: weight [in, out, k, k].
public struct ConvTranspose2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ loader: WeightLoader, inChannels: Int, outChannels: Int, kernel: Int) throws {
        weight = try loader.take("weight", [inChannels, outChannels, kernel, kernel])
        bias = try loader.take("bias", [outChannels])
    }

    /// x [B, in, H, W] -> [B, out, H*k, W*k].
    public func callAsFunction(_ x: Tensor) -> Tensor { x.convTranspose2d(weight: weight, bias: bias) }
}

/// SAM's `MLP`: `layers.0 ... layers.{n-1}` Linear layers with an activation between them and an
/// optional sigmoid on the output.
public struct MLP: Sendable {
    public let layers: [Linear]
    public let activation: Activation
    public let sigmoidOutput: Bool

    public init(_ loader: WeightLoader, inputDim: Int, hiddenDim: Int, outputDim: Int, numLayers: Int,
                activation: Activation = .relu, sigmoidOutput: Bool = false) throws {
        let dims = [inputDim] + Array(repeating: hiddenDim, count: numLayers - 1) + [outputDim]
        layers = try (0..<numLayers).map { i in
            try Linear(loader.child("layers.\(i)"), inFeatures: dims[i], outFeatures: dims[i + 1])
        }
        self.activation = activation
        self.sigmoidOutput = sigmoidOutput
    }

    /// Rows per block when a two-layer MLP runs block by block: at 1024 px Hiera's first stage
    /// (65,536 tokens) runs in 4 blocks. Measured on tiny (4-frame bench, two runs each): resident
    /// memory 598-622 -> 464 MiB (60 frames: 706 -> 567 MiB), encoder time within the runs' noise
    /// (3.47-3.67 s unblocked, 3.64-3.79 s) but possibly up to ~0.3 s slower (Tools/bench/README);
    /// blocks of 4096 rows were slower (3.98 s).
    static let blockRows = 16384

    /// x [..., in] -> [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let rows = x.count / max(x.shape.last ?? 1, 1)
        if layers.count == 2 && rows >= 2 * Self.blockRows { return blockwise(x, rows: rows) }
        var h = x
        for (i, layer) in layers.enumerated() {
            h = i < layers.count - 1 ? layer(h, then: activation) : layer(h)
        }
        if sigmoidOutput { h.apply(.sigmoid) }
        return h
    }

    /// A two-layer MLP over many rows (Hiera's first stage at 1024 px: 65,536 tokens, a 384-wide
    /// hidden layer of 100 MB), one block of rows at a time: a block's hidden activations stay in
    /// cache and the peak memory is one block's. Rows are independent, so the result is the same.
    func blockwise(_ x: Tensor, rows: Int) -> Tensor {
        let inDim = x.shape.last!, outDim = layers[1].outFeatures
        let flat = x.reshaped([rows, inDim])
        var out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outDim])
        var start = 0
        while start < rows {
            let end = min(rows, start + Self.blockRows)
            let h = layers[0](flat.slice(axis: 0, start..<end), then: activation)
            var y = layers[1](h)
            if sigmoidOutput { y.apply(.sigmoid) }
            out.withUnsafeMutablePointer { o in
                y.withUnsafePointer { (o + start * outDim).update(from: $0, count: (end - start) * outDim) }
            }
            start = end
        }
        return out
    }
}
