// WeightStore: the tensors of one checkpoint, handed out strictly by key.

import Tensor

/// The named tensors of a checkpoint. Models take each tensor once by its dotted key with the
/// shape they expect; `finish()` then fails if any tensor was left unused. Shapes and keys are
/// checked at load time, never guessed.
public final class WeightStore: @unchecked Sendable {
    /// File the tensors came from (for error messages).
    public let path: String
    /// Tensors by dotted key (e.g. "image_encoder.trunk.patch_embed.proj.weight").
    public private(set) var tensors: [String: Tensor]
    /// Keys in the order the file lists them.
    public let orderedKeys: [String]
    private var taken: Set<String> = []

    public init(path: String, tensors: [String: Tensor], orderedKeys: [String]) {
        self.path = path
        self.tensors = tensors
        self.orderedKeys = orderedKeys
    }

    /// True when the checkpoint holds `key`.
    public func contains(_ key: String) -> Bool { tensors[key] != nil }

    /// The shape of `key`, or nil when absent.
    public func shape(of key: String) -> [Int]? { tensors[key]?.shape }

    /// Takes the tensor `key`, checking its shape when `shape` is given.
    public func take(_ key: String, shape: [Int]? = nil) throws -> Tensor {
        guard let tensor = tensors[key] else {
            throw CheckpointError.missingTensor(path: path, key: key)
        }
        if let shape, shape != tensor.shape {
            throw CheckpointError.shapeMismatch(path: path, key: key, expected: shape, actual: tensor.shape)
        }
        taken.insert(key)
        return tensor
    }

    /// Keys not yet taken, in file order.
    public var untakenKeys: [String] { orderedKeys.filter { !taken.contains($0) } }

    /// Fails with `unusedTensors` if any tensor was not taken.
    public func finish() throws {
        let unused = untakenKeys
        if !unused.isEmpty { throw CheckpointError.unusedTensors(path: path, keys: unused) }
    }

    /// Total number of scalars over all tensors.
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }
}
