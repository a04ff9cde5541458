// Parameters: the trainable tensors of a SAM 2 model by their official checkpoint keys
// (`sam_prompt_encoder.*`, `sam_mask_decoder.*`), and gradients keyed the same way.
//
// The trainable modules (`TrainableMaskDecoder`, `TrainablePromptEncoder`) hold keys, never
// tensors: their forward passes read the current values here, so an optimizer step is visible
// to the next forward pass without rebuilding anything.

import Checkpoint
import Tensor

/// Named trainable tensors, in checkpoint order.
public struct Parameters: Sendable {
    /// Keys in the checkpoint's order.
    public private(set) var keys: [String]
    private var values: [String: Tensor]

    public init(keys: [String], values: [String: Tensor]) {
        precondition(keys.allSatisfy { values[$0] != nil } && Set(keys).count == keys.count && keys.count == values.count,
                     "Parameters: keys and values differ")
        self.keys = keys
        self.values = values
    }

    /// The prompt encoder's and mask decoder's parameters from a checkpoint's weights, in its
    /// order. The prompt encoder's random Fourier matrix (`pe_layer.positional_encoding_gaussian_matrix`)
    /// is a buffer in the official module, not a parameter, so it is left out.
    public static func promptEncoderAndDecoder(from store: WeightStore) throws -> Parameters {
        var keys: [String] = [], values: [String: Tensor] = [:]
        for key in store.orderedKeys where Parameters.isTrainable(key) {
            keys.append(key)
            values[key] = try store.take(key).materialized()
        }
        return Parameters(keys: keys, values: values)
    }

    /// Whether `key` is one of the tensors fine-tuning trains.
    public static func isTrainable(_ key: String) -> Bool {
        (key.hasPrefix("sam_prompt_encoder.") || key.hasPrefix("sam_mask_decoder."))
            && key != "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
    }

    /// The tensor `key` (a missing key is a programming error: modules are built from the same keys).
    public subscript(key: String) -> Tensor {
        get {
            guard let value = values[key] else { preconditionFailure("no parameter \(key)") }
            return value
        }
        set {
            precondition(values[key]?.shape == newValue.shape, "parameter \(key): shape \(newValue.shape)")
            values[key] = newValue
        }
    }

    public func contains(_ key: String) -> Bool { values[key] != nil }

    /// Total number of scalars.
    public var scalarCount: Int { values.values.reduce(0) { $0 + $1.count } }
}

/// Gradients keyed like `Parameters`; absent keys are zero.
public struct Gradients: Sendable {
    public private(set) var values: [String: Tensor] = [:]

    public init() {}

    /// Adds `gradient` to the gradient of `key`.
    public mutating func add(_ key: String, _ gradient: Tensor) {
        if var existing = values[key] {
            precondition(existing.shape == gradient.shape, "gradient of \(key): \(gradient.shape) vs \(existing.shape)")
            existing.add(gradient)
            values[key] = existing
        } else {
            values[key] = gradient
        }
    }

    /// Adds every gradient of `other`.
    public mutating func add(_ other: Gradients) {
        for (key, value) in other.values { add(key, value) }
    }

    /// The gradient of `key`, or zeros of `shape`.
    public func gradient(_ key: String, shape: [Int]) -> Tensor { values[key] ?? Tensor(zeros: shape) }

    /// Every gradient multiplied by `factor`.
    public mutating func scale(by factor: Float) {
        for key in values.keys { values[key] = values[key]!.scaled(by: factor) }
    }

    /// The L2 norm over all gradients (in Double).
    public var norm: Double {
        var sum = 0.0
        for value in values.values {
            value.withUnsafeBufferPointer { for v in $0 { sum += Double(v) * Double(v) } }
        }
        return sum.squareRoot()
    }
}

extension Tensor {
    /// A copy in owned memory (a tensor read from a checkpoint may borrow the file's mapping).
    func materialized() -> Tensor {
        var copy = self
        copy.makeUnique()
        return copy
    }
}
