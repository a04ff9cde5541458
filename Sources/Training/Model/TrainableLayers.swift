// TrainableLayers: `nn.Linear`, SAM's `MLP`, `nn.LayerNorm`, `LayerNorm2d`, non-overlapping
// `nn.Conv2d` and `nn.ConvTranspose2d` as key-holding modules with a forward pass that returns
// what its backward pass needs, and a backward pass that adds parameter gradients.
//
// Legend as Tensor's: Linear weight [out, in], Conv2d [Co, Ci, k, k], ConvTranspose2d
// [Ci, Co, k, k]; maps [B, C, H, W]; tokens [B, L, C].

import Tensor

/// `nn.Linear` at `prefix` (`<prefix>.weight` [out, in], `<prefix>.bias` [out]).
public struct TrainableLinear: Sendable {
    public let prefix: String
    public init(_ prefix: String) { self.prefix = prefix }
    var weightKey: String { prefix + ".weight" }
    var biasKey: String { prefix + ".bias" }

    /// x [..., in] -> [..., out].
    public func forward(_ x: Tensor, _ p: Parameters) -> Tensor {
        x.linear(weight: p[weightKey], bias: p[biasKey])
    }

    /// dy [..., out] for input x -> dx; adds dWeight and dBias to `g`.
    public func backward(x: Tensor, dy: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        let (dx, dw, db) = Backward.linear(x: x, weight: p[weightKey], dy: dy)
        g.add(weightKey, dw)
        g.add(biasKey, db)
        return dx
    }
}

/// SAM's `MLP` (`<prefix>.layers.i`): ReLU between layers, optional sigmoid on the output.
public struct TrainableMLP: Sendable {
    public let layers: [TrainableLinear]
    public let sigmoidOutput: Bool

    public init(_ prefix: String, layers count: Int, sigmoidOutput: Bool = false) {
        layers = (0..<count).map { TrainableLinear("\(prefix).layers.\($0)") }
        self.sigmoidOutput = sigmoidOutput
    }

    /// What the backward pass needs: every layer's input and the output.
    public struct Saved: Sendable {
        var inputs: [Tensor]
        var output: Tensor
    }

    public func forward(_ x: Tensor, _ p: Parameters) -> (Tensor, Saved) {
        var inputs: [Tensor] = []
        var h = x
        for (i, layer) in layers.enumerated() {
            inputs.append(h)
            h = layer.forward(h, p)
            if i < layers.count - 1 { h.apply(.relu) }
        }
        if sigmoidOutput { h.apply(.sigmoid) }
        return (h, Saved(inputs: inputs, output: h))
    }

    public func backward(_ saved: Saved, dy: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        var d = sigmoidOutput ? Backward.sigmoid(y: saved.output, dy: dy) : dy
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            if i < layers.count - 1 {
                // The next layer's input is relu(this layer's output): same sign pattern.
                d = Backward.relu(x: saved.inputs[i + 1], dy: d)
            }
            d = layers[i].backward(x: saved.inputs[i], dy: d, p, &g)
        }
        return d
    }
}

/// `nn.LayerNorm` over the last axis.
public struct TrainableLayerNorm: Sendable {
    public let prefix: String
    public let eps: Float
    public init(_ prefix: String, eps: Float = 1e-5) { self.prefix = prefix; self.eps = eps }

    public func forward(_ x: Tensor, _ p: Parameters) -> Tensor {
        x.layerNorm(weight: p[prefix + ".weight"], bias: p[prefix + ".bias"], eps: eps)
    }

    public func backward(x: Tensor, dy: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        let (dx, dw, db) = Backward.layerNorm(x: x, weight: p[prefix + ".weight"], eps: eps, dy: dy)
        g.add(prefix + ".weight", dw)
        g.add(prefix + ".bias", db)
        return dx
    }
}

/// SAM's `LayerNorm2d` (channel axis of [B, C, H, W], eps 1e-6).
public struct TrainableLayerNorm2d: Sendable {
    public let prefix: String
    public let eps: Float
    public init(_ prefix: String, eps: Float = 1e-6) { self.prefix = prefix; self.eps = eps }

    public func forward(_ x: Tensor, _ p: Parameters) -> Tensor {
        x.layerNorm2d(weight: p[prefix + ".weight"], bias: p[prefix + ".bias"], eps: eps)
    }

    public func backward(x: Tensor, dy: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        let (dx, dw, db) = Backward.layerNorm2d(x: x, weight: p[prefix + ".weight"], eps: eps, dy: dy)
        g.add(prefix + ".weight", dw)
        g.add(prefix + ".bias", db)
        return dx
    }
}

/// `nn.Conv2d` with kernel = stride (1x1 included), no padding, one group.
public struct TrainablePatchConv2d: Sendable {
    public let prefix: String
    public init(_ prefix: String) { self.prefix = prefix }

    public func forward(_ x: Tensor, _ p: Parameters) -> Tensor {
        let w = p[prefix + ".weight"]
        return x.conv2d(weight: w, bias: p[prefix + ".bias"], options: Conv2dOptions(stride: w.shape[2]))
    }

    /// dx is nil when `inputGradient` is false (the input is a constant, e.g. cached features).
    public func backward(x: Tensor, dy: Tensor, _ p: Parameters, _ g: inout Gradients, inputGradient: Bool = true) -> Tensor? {
        let (dx, dw, db) = Backward.patchConv2d(x: x, weight: p[prefix + ".weight"], dy: dy, inputGradient: inputGradient)
        g.add(prefix + ".weight", dw)
        g.add(prefix + ".bias", db)
        return dx
    }
}

/// `nn.ConvTranspose2d` with kernel = stride.
public struct TrainableConvTranspose2d: Sendable {
    public let prefix: String
    public init(_ prefix: String) { self.prefix = prefix }

    public func forward(_ x: Tensor, _ p: Parameters) -> Tensor {
        x.convTranspose2d(weight: p[prefix + ".weight"], bias: p[prefix + ".bias"])
    }

    public func backward(x: Tensor, dy: Tensor, _ p: Parameters, _ g: inout Gradients) -> Tensor {
        let (dx, dw, db) = Backward.convTranspose2d(x: x, weight: p[prefix + ".weight"], dy: dy)
        g.add(prefix + ".weight", dw)
        g.add(prefix + ".bias", db)
        return dx
    }
}
