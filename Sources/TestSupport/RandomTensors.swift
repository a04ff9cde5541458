// RandomTensors: deterministic pseudo-random tensors for kernel tests (SplitMix64 + Box-Muller).

import Foundation
import Tensor

/// A seeded generator so every test run sees the same inputs.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard-normal tensor times `scale`.
    public mutating func normal(_ shape: [Int], scale: Float = 1) -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
            let u2 = Double.random(in: 0..<1, using: &self)
            values[i] = Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * .pi * u2)) * scale
        }
        return Tensor(shape: shape, values: values)
    }
}
