// WeightStore: the tensors of one checkpoint, handed out strictly by key.

import Tensor

/// The named tensors of a checkpoint. Models take each tensor once by its dotted key with the
/// shape they expect; `finish()` then fails if any tensor was left unused. Shapes and keys are
/// checked at load time, never guessed.
public final class WeightStore {
    /// File the tensors came from (for error messages).
    public let path: String
    /// Tensors by dotted key (e.g. "image_encoder.trunk.patch_embed.proj.weight").
    public private(set) var tensors: [String: Tensor]
    /// Keys in the order the file lists them.
    public private(set) var orderedKeys: [String]
    private var taken: Set<String> = []
    /// When set, `take` makes up tensors it does not hold (see `init(synthesizingWithSeed:)`).
    private let synthesisSeed: UInt64?

    public init(path: String, tensors: [String: Tensor], orderedKeys: [String]) {
        self.path = path
        self.tensors = tensors
        self.orderedKeys = orderedKeys
        synthesisSeed = nil
    }

    /// A store that invents every tensor asked for: deterministic pseudo-random values from
    /// `seed` and the key, scaled like PyTorch's default initialisation (weights uniform in
    /// +-1/sqrt(fan_in), 1-D weights near 1, biases near 0). For benchmarks and shape tests of
    /// full-size configs when no checkpoint is at hand.
    public init(synthesizingWithSeed seed: UInt64, name: String = "(random weights)") {
        path = name
        tensors = [:]
        orderedKeys = []
        synthesisSeed = seed
    }

    /// True when the checkpoint holds `key`.
    public func contains(_ key: String) -> Bool { tensors[key] != nil }

    /// The shape of `key`, or nil when absent.
    public func shape(of key: String) -> [Int]? { tensors[key]?.shape }

    /// Takes the tensor `key`, checking its shape when `shape` is given.
    public func take(_ key: String, shape: [Int]? = nil) throws -> Tensor {
        if let seed = synthesisSeed, tensors[key] == nil, let shape {
            let tensor = WeightStore.synthesize(key: key, shape: shape, seed: seed)
            tensors[key] = tensor
            orderedKeys.append(key)
            taken.insert(key)
            return tensor
        }
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

    /// A made-up tensor for `key` (SplitMix64 stream seeded by the seed and the key's bytes).
    static func synthesize(key: String, shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        for byte in key.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01B3 }
        func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 24) * 2 - 1  // uniform in [-1, 1)
        }
        let count = shape.reduce(1, *)
        let fanIn = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : max(shape.first ?? 1, 1)
        let isBias = key.hasSuffix("bias")
        let (scale, offset): (Float, Float) = shape.count >= 2 ? (1 / Float(fanIn).squareRoot(), 0)
            : isBias ? (0.02, 0) : key.hasSuffix("weight") ? (0.1, 1) : (0.02, 0)
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count { values[i] = next() * scale + offset }
        return Tensor(shape: shape, values: values)
    }

    /// Total number of scalars over all tensors.
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }
}
