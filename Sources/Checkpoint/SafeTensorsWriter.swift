// SafeTensorsWriter: writes named tensors (float32, or raw bfloat16 bits) and string metadata in
// the safetensors format, atomically (temp file in the same directory, then rename).

import FileIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// Builds a safetensors file in memory and writes it atomically.
public struct SafeTensorsWriter {
    private var entries: [(name: String, dtype: String, shape: [Int], bytes: Data)] = []
    /// String metadata stored under `__metadata__`.
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a float32 tensor.
    public mutating func add(_ name: String, _ tensor: Tensor) {
        let bytes = tensor.withUnsafeBufferPointer { Data(buffer: $0) }
        entries.append((name, "F32", tensor.shape, bytes))
    }

    /// Adds raw bfloat16 values (upper 16 bits of float32) with `shape`.
    public mutating func add(_ name: String, bfloat16Bits: [UInt16], shape: [Int]) {
        precondition(shape.reduce(1, *) == bfloat16Bits.count, "bfloat16 \(name): \(bfloat16Bits.count) values for shape \(shape)")
        let bytes = bfloat16Bits.withUnsafeBufferPointer { Data(buffer: $0) }
        entries.append((name, "BF16", shape, bytes))
    }

    /// The file contents: 8-byte header length, JSON header (padded to 8 bytes), data.
    public func encoded() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for entry in entries {
            header[entry.name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for entry in entries { out.append(entry.bytes) }
        return out
    }

    /// Writes the file atomically: a temporary file beside `path`, then rename.
    public func write(to path: String) throws {
        // A temporary beside `path`, then rename: readers see the old file or the new one.
        try AtomicFile.write(try encoded(), to: path)
    }
}
