// SafeTensorsReader: reads `.safetensors` files (8-byte little-endian header length, JSON header,
// raw little-endian data) into a WeightStore. Float32 tensors borrow the mapping without copying.
//
// The format has no checksum, so damaged tensor bytes cannot be told from good ones; everything
// structural is checked before any tensor is built: the header length (inside the file, at most
// 256 MiB), the header (a JSON object; `__metadata__` an object of strings; every tensor entry
// with a known dtype, a shape of non-negative integers and two data offsets), each tensor's byte
// span against its shape and dtype (overflow-checked), and the spans themselves, which must tile
// the data section exactly (sorted by start: no gap, no overlap, the last one ending at the end of
// the file), as the safetensors library requires. A cut-off or extended file, a wrong digit in an
// offset or shape, a renamed dtype: each is an error naming the file and the tensor.
//
// Files samtrack writes (`SafeTensorsWriter`, e.g. tracker states) carry their own CRC-32 in the
// metadata key `samtrack.crc32`; when it is present the whole file is verified against it first
// (see `SafeTensorsChecksum`), so any damaged byte, header or data, is detected.

import Foundation
import Tensor

/// A parsed safetensors file.
public struct SafeTensorsContents {
    /// The tensors, in the order of their data in the file.
    public let store: WeightStore
    /// The string metadata (`__metadata__`), without the `samtrack.crc32` checksum entry.
    public let metadata: [String: String]
    /// True when the file carried a `samtrack.crc32` checksum and every byte matched it; false
    /// when it carried none (files written by other tools). A mismatch is an error, never false.
    public let isChecksumVerified: Bool
}

/// Reader for the safetensors format.
public enum SafeTensorsReader {
    /// Largest header accepted (real headers are kilobytes to a few megabytes).
    public static let maximumHeaderLength = Int(CheckpointLoader.maximumSafetensorsHeader)

    /// Reads every tensor of `path`. Throws a `CheckpointError` naming the file (and tensor).
    public static func load(path: String) throws -> WeightStore {
        let file = try MappedFile(path: path)
        return try load(file: file).store
    }

    /// Reads every tensor and the string metadata (`__metadata__`) of a mapped safetensors file,
    /// verifying its `samtrack.crc32` checksum when it has one.
    public static func load(file: MappedFile) throws -> (store: WeightStore, metadata: [String: String]) {
        let contents = try read(file: file)
        return (contents.store, contents.metadata)
    }

    /// Reads a mapped safetensors file: structure checked, checksum verified when present (see
    /// the file comment), then the tensors built. Throws a `CheckpointError` naming the file and,
    /// where one is at fault, the tensor.
    public static func read(file: MappedFile) throws -> SafeTensorsContents {
        let path = file.path
        guard let lengthBytes = file.bytes(0..<8) else {
            throw CheckpointError.corrupt(path: path, reason: "file is \(file.size) bytes, shorter than the 8-byte safetensors header length")
        }
        let declaredLength = UInt64(littleEndian: lengthBytes.loadUnaligned(as: UInt64.self))
        guard declaredLength >= 2, declaredLength <= UInt64(maximumHeaderLength) else {
            throw CheckpointError.corrupt(path: path, reason: "safetensors header length \(declaredLength) is outside 2...\(maximumHeaderLength) bytes")
        }
        let headerLength = Int(declaredLength)
        guard headerLength <= file.size - 8, let headerBytes = file.bytes(8..<(8 + headerLength)) else {
            throw CheckpointError.corrupt(path: path, reason: "safetensors header length \(declaredLength) exceeds the file size \(file.size) (truncated?)")
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
        var metadata: [String: String] = [:]
        if let value = header["__metadata__"] {
            guard let strings = value as? [String: String] else {
                throw CheckpointError.corrupt(path: path, reason: "safetensors __metadata__ is not an object of strings")
            }
            metadata = strings
        }

        // 1. The checksum, over every byte, before anything else is trusted.
        var verified = false
        if let recorded = metadata.removeValue(forKey: SafeTensorsChecksum.metadataKey) {
            try SafeTensorsChecksum.verify(file: file, header: headerBytes, recorded: recorded)
            verified = true
        }

        // 2. Every entry's dtype, shape and span.
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var entries: [Entry] = []
        entries.reserveCapacity(header.count)
        for (key, value) in header where key != "__metadata__" {
            entries.append(try Entry(key: key, value: value, path: path))
        }

        // 3. The spans tile the data section: sorted by start, each begins where the previous
        //    ended, and the last ends at the end of the file.
        entries.sort { $0.begin < $1.begin || ($0.begin == $1.begin && ($0.end < $1.end || ($0.end == $1.end && $0.key < $1.key))) }
        var covered = 0
        for entry in entries {
            guard entry.begin == covered else {
                let what = entry.begin < covered ? "overlaps the previous tensor's data (which ends at \(covered))"
                    : "leaves a gap after the previous tensor's data (which ends at \(covered))"
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(entry.key)' with data offsets [\(entry.begin), \(entry.end)] \(what)")
            }
            guard entry.end <= dataSize else {
                throw CheckpointError.truncatedTensor(
                    path: path, tensor: entry.key,
                    reason: "its data ends at byte \(dataStart + entry.end) but the file has \(file.size) bytes")
            }
            covered = entry.end
        }
        guard covered == dataSize else {
            throw CheckpointError.corrupt(path: path, reason: "the data section has \(dataSize) bytes but the tensors cover \(covered); the file was extended or its header damaged")
        }

        // 4. The tensors.
        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            guard let bytes = file.bytes((dataStart + entry.begin)..<(dataStart + entry.end)) else {
                throw CheckpointError.truncatedTensor(path: path, tensor: entry.key, reason: "its data lies outside the file")
            }
            tensors[entry.key] = makeTensor(bytes: bytes, dtype: entry.dtype, shape: entry.shape, count: entry.count, file: file)
        }
        let store = WeightStore(path: path, tensors: tensors, orderedKeys: entries.map(\.key))
        return SafeTensorsContents(store: store, metadata: metadata, isChecksumVerified: verified)
    }

    /// One tensor's header entry, validated.
    private struct Entry {
        let key: String
        let dtype: StoredDType
        let shape: [Int]
        let count: Int
        /// Byte span in the data section.
        let begin: Int
        let end: Int

        init(key: String, value: Any, path: String) throws {
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int],
                  offsets.count == 2 else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has a malformed header entry (needs dtype, shape and two data_offsets)")
            }
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
            guard offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' has impossible data offsets \(offsets)")
            }
            guard offsets[1] - offsets[0] == byteCount else {
                throw CheckpointError.corrupt(path: path, reason: "tensor '\(key)' spans \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(byteCount)")
            }
            self.key = key
            self.shape = shape
            self.count = count
            begin = offsets[0]
            end = offsets[1]
        }
    }

    /// Borrows aligned float32 data from the mapping; converts everything else into new storage.
    static func makeTensor(bytes: UnsafeRawBufferPointer, dtype: StoredDType, shape: [Int], count: Int,
                           file: MappedFile) -> Tensor {
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
