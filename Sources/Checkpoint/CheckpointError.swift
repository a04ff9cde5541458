// CheckpointError: every way reading weights can fail, each naming the file and, where known,
// the tensor.

/// An error while reading or binding checkpoint weights. The message names the file, the tensor
/// key where known, and what to do about it.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file is not in a format this reader understands.
    case unrecognizedFormat(path: String, reason: String)
    /// The file's structure is damaged (bad zip, truncated data, inconsistent header...).
    case corrupt(path: String, reason: String)
    /// The pickle stream uses an opcode or global this reader does not support.
    case unsupportedPickle(path: String, reason: String)
    /// The file is a checkpoint, but uses a feature this reader does not implement (compressed
    /// or encrypted zip entries, big-endian data, multi-volume archives).
    case unsupportedFeature(path: String, reason: String)
    /// A tensor's element type cannot be converted to Float32.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's declared extent needs bytes beyond its storage.
    case truncatedTensor(path: String, tensor: String, reason: String)
    /// A zip entry's bytes fail their CRC-32: `entry` is the entry's name in the archive
    /// (e.g. `sam2.1_hiera_tiny/data/17`), `tensors` the checkpoint keys whose data lies in it
    /// (empty for entries that hold no tensor, such as the pickle).
    case checksumMismatch(path: String, entry: String, tensors: [String], expected: UInt32, actual: UInt32)
    /// A file that carries its own checksum (safetensors written by samtrack) fails it.
    case fileChecksumMismatch(path: String, expected: UInt32, actual: UInt32)
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(path: String, key: String)
    /// A tensor's shape differs from what the model needs.
    case shapeMismatch(path: String, key: String, expected: [Int], actual: [Int])
    /// The checkpoint holds tensors the model did not bind.
    case unusedTensors(path: String, keys: [String])

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open checkpoint: \(reason)"
        case let .unrecognizedFormat(path, reason):
            return "\(path): not a PyTorch (.pt zip) or safetensors checkpoint: \(reason)"
        case let .corrupt(path, reason):
            return "\(path): corrupt checkpoint: \(reason); download or copy the file again"
        case let .unsupportedPickle(path, reason):
            return "\(path): unsupported pickle content: \(reason)"
        case let .unsupportedFeature(path, reason):
            return "\(path): unsupported checkpoint feature: \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has element type \(dtype); only float32, float16 and bfloat16 are supported"
        case let .truncatedTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)' is truncated: \(reason); the file is incomplete"
        case let .checksumMismatch(path, entry, tensors, expected, actual):
            let sums = "CRC-32 0x\(hex8(actual)), expected 0x\(hex8(expected))"
            guard let first = tensors.first else {
                return "\(path): damaged checkpoint: zip entry '\(entry)' fails its checksum (\(sums)); download or copy the file again"
            }
            let others = tensors.count > 1 ? " (and \(tensors.count - 1) other tensor(s) sharing its storage)" : ""
            return "\(path): damaged checkpoint: tensor '\(first)'\(others) has damaged data: its storage '\(entry)' fails its checksum (\(sums)); download or copy the file again"
        case let .fileChecksumMismatch(path, expected, actual):
            return "\(path): damaged file: its bytes fail the checksum it was written with (CRC-32 0x\(hex8(actual)), expected 0x\(hex8(expected))); the file was damaged or cut short after it was written"
        case let .missingTensor(path, key):
            return "\(path): missing tensor '\(key)'; is this checkpoint for the right model?"
        case let .shapeMismatch(path, key, expected, actual):
            return "\(path): tensor '\(key)' has shape \(actual), expected \(expected); the checkpoint does not match the model config"
        case let .unusedTensors(path, keys):
            let shown = keys.prefix(5).joined(separator: ", ")
            let more = keys.count > 5 ? " and \(keys.count - 5) more" : ""
            return "\(path): \(keys.count) tensor(s) not used by the model: \(shown)\(more); the checkpoint does not match the model config"
        }
    }
}

extension CheckpointError {
    /// The file the error is about.
    public var path: String {
        switch self {
        case let .cannotOpen(path, _), let .unrecognizedFormat(path, _), let .corrupt(path, _),
             let .unsupportedPickle(path, _), let .unsupportedFeature(path, _),
             let .unsupportedDType(path, _, _), let .truncatedTensor(path, _, _),
             let .checksumMismatch(path, _, _, _, _), let .fileChecksumMismatch(path, _, _),
             let .missingTensor(path, _), let .shapeMismatch(path, _, _, _), let .unusedTensors(path, _):
            return path
        }
    }

    /// The checkpoint key of the tensor the error is about, when there is one (for a damaged
    /// storage shared by several tensors, the first of them).
    public var tensor: String? {
        switch self {
        case let .unsupportedDType(_, tensor, _), let .truncatedTensor(_, tensor, _): return tensor
        case let .missingTensor(_, key), let .shapeMismatch(_, key, _, _): return key
        case let .checksumMismatch(_, _, tensors, _, _): return tensors.first
        case .cannotOpen, .unrecognizedFormat, .corrupt, .unsupportedPickle, .unsupportedFeature,
             .fileChecksumMismatch, .unusedTensors:
            return nil
        }
    }
}

/// `value` as exactly 8 lowercase hex digits (CRC-32 values in messages and in safetensors metadata).
func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
