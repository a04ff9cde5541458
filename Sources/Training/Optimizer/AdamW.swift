// AdamW: `torch.optim.AdamW` (decoupled weight decay; the single-tensor CPU path of
// `torch/optim/adam.py`) over named parameter groups, each with its own learning rate and
// weight decay. Per parameter:
//
//   p = p (1 - lr wd);  m = m + (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2
//   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// with the tensor operations in Float and the scalars in Double, as PyTorch computes them. A
// parameter without a gradient this step is skipped (its step count does not advance), as a
// PyTorch parameter whose `.grad` is None.

import Foundation
import Tensor

/// A set of parameters sharing a learning rate and a weight decay.
public struct ParameterGroup: Sendable, Equatable, Codable {
    public var name: String
    public var keys: [String]
    public var learningRate: Double
    public var weightDecay: Double

    public init(name: String, keys: [String], learningRate: Double, weightDecay: Double) {
        self.name = name
        self.keys = keys
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }
}

public struct AdamW: Sendable {
    public var beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8
    /// First and second moments and step counts per parameter key.
    public private(set) var firstMoments: [String: Tensor] = [:]
    public private(set) var secondMoments: [String: Tensor] = [:]
    public private(set) var steps: [String: Int] = [:]

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
    }

    /// Restores a saved state (`firstMoments`, `secondMoments`, `steps`).
    public init(firstMoments: [String: Tensor], secondMoments: [String: Tensor], steps: [String: Int],
                beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.init(beta1: beta1, beta2: beta2, eps: eps)
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
        self.steps = steps
    }

    /// One step over `groups` (learning rates as given: the caller applies the schedule).
    public mutating func step(_ parameters: inout Parameters, gradients: Gradients, groups: [ParameterGroup]) {
        for group in groups {
            for key in group.keys {
                guard let gradient = gradients.values[key] else { continue }
                var param = parameters[key]
                var m = firstMoments[key] ?? Tensor(zeros: param.shape)
                var v = secondMoments[key] ?? Tensor(zeros: param.shape)
                let t = (steps[key] ?? 0) + 1
                steps[key] = t
                let lr = group.learningRate
                let decay = Float(1 - lr * group.weightDecay)
                let oneMinusBeta1 = Float(1 - beta1), beta2f = Float(beta2), oneMinusBeta2 = Float(1 - beta2)
                let biasCorrection1 = 1 - pow(beta1, Double(t))
                let biasCorrection2Sqrt = (1 - pow(beta2, Double(t))).squareRoot()
                let stepSize = Float(lr / biasCorrection1)
                let correction = Float(biasCorrection2Sqrt), epsf = Float(eps)
                let count = param.count
                param.withUnsafeMutablePointer { p in
                    m.withUnsafeMutablePointer { pm in
                        v.withUnsafeMutablePointer { pv in
                            gradient.withUnsafePointer { g in
                                for i in 0..<count {
                                    if group.weightDecay != 0 { p[i] *= decay }
                                    pm[i] = pm[i] + oneMinusBeta1 * (g[i] - pm[i])
                                    pv[i] = pv[i] * beta2f + oneMinusBeta2 * (g[i] * g[i])
                                    let denominator = pv[i].squareRoot() / correction + epsf
                                    p[i] = p[i] + (-stepSize) * (pm[i] / denominator)
                                }
                            }
                        }
                    }
                }
                parameters[key] = param
                firstMoments[key] = m
                secondMoments[key] = v
            }
        }
    }
}
