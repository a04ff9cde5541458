// Backward+Activation: reverse-mode derivatives of the element-wise functions on the decoder
// path: exact GELU (the upscaling and the mask-downscaling convolutions), ReLU (the MLPs) and the
// sigmoid (the IoU head's output).
//
//   GELU(x) = x Phi(x)        -> dx = dy (Phi(x) + x phi(x)), in Double
//   ReLU(x) = max(x, 0)       -> dx = dy [x > 0]  (0 at x = 0, as PyTorch's threshold_backward)
//   s = sigmoid(x)            -> dx = dy s (1 - s)

import Foundation
import Tensor

extension Backward {
    /// Exact GELU: x (the forward input) and dy of the same shape -> dx.
    public static func gelu(x: Tensor, dy: Tensor) -> Tensor {
        map(x, dy) { v, g in
            let xd = Double(v)
            let cdf = 0.5 * (1 + erf(xd / 2.0.squareRoot()))
            let pdf = exp(-0.5 * xd * xd) / (2 * Double.pi).squareRoot()
            return Float(Double(g) * (cdf + xd * pdf))
        }
    }

    /// ReLU: x (the forward input, or its output: the sign pattern is the same) and dy -> dx.
    public static func relu(x: Tensor, dy: Tensor) -> Tensor {
        map(x, dy) { v, g in v > 0 ? g : 0 }
    }

    /// Sigmoid: y (the forward output) and dy -> dx.
    public static func sigmoid(y: Tensor, dy: Tensor) -> Tensor {
        map(y, dy) { s, g in g * s * (1 - s) }
    }

    /// Element-wise f(a, b) over two tensors of one shape.
    static func map(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "Backward: shapes \(a.shape) and \(b.shape) differ")
        var out = Tensor(uninitialized: a.shape)
        a.withUnsafePointer { pa in
            b.withUnsafePointer { pb in
                out.withUnsafeMutablePointer { po in
                    for i in 0..<a.count { po[i] = f(pa[i], pb[i]) }
                }
            }
        }
        return out
    }
}
