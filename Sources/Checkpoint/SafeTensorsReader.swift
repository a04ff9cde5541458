// SafeTensorsReader: reads `.safetensors` files (8-byte little-endian header length, JSON header,
// raw little-endian data) into a WeightStore. Float32 tensors borrow the mapping without copying.

import Foundation
import Tensor

/// Reader for the safetensors format.
public enum SafeTensorsReader {
    /// Reads every tensor of `path`. Throws a `CheckpointError` naming the file (and tensor).
    public static func load(path: String) throws -> WeightStore {
        let file = try MappedFile(path: path)
        return try load(file: file).store
    }

    /// Reads every tensor and the string metadata (`__metadata__`) of a mapped safetensors file.
    public static func load(file: MappedFile) throws -> (store: WeightStore, metadata: [String: String]) {
        let path = file.path
        guard let lengthBytes = file.bytes(0..<8) else {
            throw CheckpointError.corrupt(path: path, reason: "file is \(file.size) bytes, shorter than the 8-byte safetensors header length")
        }
        let declaredLength = UInt64(littleEndian: lengthBytes.loadUnaligned(as: UInt64.self))
        guard let headerLength = Int(exactly: declaredLength), headerLength > 0, headerLength <= file.size - 8,
              let headerBytes = file.bytes(8..<(8 + headerLength)) else {
            throw CheckpointError.corrupt(path: path, reason: "safetensors header length \(declaredLength) exceeds the file size \(file.size)")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw CheckpointError.corrupt(path: path, reason: "safetensors header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw CheckpointError.corrupt(path: path, reason: "safetensors header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        var order: [(key: String, offset: Int)] = []
        var metadata: [String: String] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has a malformed header entry")
            }
            let dtype: StoredDType
            switch dtypeName {
            case "F32": dtype = .float32
            case "F16": dtype = .float16
            case "BF16": dtype = .bfloat16
            default: throw CheckpointError.unsupportedDType(path: path, tensor: key, dtype: dtypeName)
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has a negative extent in \(shape)")
            }
            guard let count = TorchTensorMaterializer.product(shape),
                  case let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size), !overflow else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has an impossibly large shape \(shape)")
            }
            // Offsets are relative to the data section; bound them so that adding cannot overflow
            // (data past the end of the file is reported below as a truncated tensor).
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= Int.max / 4 else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has impossible data offsets \(offsets)")
            }
            let begin = dataStart + offsets[0], end = dataStart + offsets[1]
            guard end - begin == byteCount else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' spans \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(byteCount)")
            }
            guard let bytes = file.bytes(begin..<end) else {
                throw CheckpointError.truncatedTensor(path: path, tensor: key, reason: "its data ends at byte \(end) but the file has \(file.size) bytes")
            }
            tensors[key] = makeTensor(bytes: bytes, dtype: dtype, shape: shape, file: file)
            order.append((key, begin))
        }
        let keys = order.sorted { $0.offset < $1.offset || ($0.offset == $1.offset && $0.key < $1.key) }.map(\.key)
        return (WeightStore(path: path, tensors: tensors, orderedKeys: keys), metadata)
    }

    /// Borrows aligned float32 data from the mapping; converts everything else into new storage.
    static func makeTensor(bytes: UnsafeRawBufferPointer, dtype: StoredDType, shape: [Int], file: MappedFile) -> Tensor {
        let count = shape.reduce(1, *)
        if dtype == .float32, count > 0, let base = bytes.baseAddress,
           Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            let pointer = UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: Float.self)
            return Tensor(shape: shape, storage: TensorStorage(borrowing: pointer, count: count, owner: file))
        }
        var tensor = Tensor(uninitialized: shape)
        if count > 0, let base = bytes.baseAddress {
            tensor.withUnsafeMutablePointer { dtype.convert(from: base, count: count, into: $0) }
        }
        return tensor
    }
}
