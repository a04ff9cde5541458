// SafeTensorsWriter: writes named tensors (float32, or raw bfloat16 bits) and string metadata in
// the safetensors format, with a CRC-32 of the whole file in the metadata (`SafeTensorsChecksum`),
// atomically (temp file in the same directory, then rename).

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

    /// The file contents: 8-byte header length, JSON header (padded to 8 bytes), data. The
    /// header's metadata carries the file's CRC-32 under `samtrack.crc32` (`SafeTensorsChecksum`),
    /// which `SafeTensorsReader` verifies; readers that do not know it see one more string.
    /// Throws `CheckpointError.unsupportedFeature` when a metadata key is `samtrack.crc32`.
    public func encoded() throws -> Data {
        guard metadata[SafeTensorsChecksum.metadataKey] == nil else {
            throw CheckpointError.unsupportedFeature(path: "(safetensors writer)", reason: "the metadata key '\(SafeTensorsChecksum.metadataKey)' is reserved for the checksum")
        }
        var header: [String: Any] = [:]
        var offset = 0
        for entry in entries {
            header[entry.name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        var stamped = metadata
        stamped[SafeTensorsChecksum.metadataKey] = SafeTensorsChecksum.placeholder
        header["__metadata__"] = stamped
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for entry in entries { out.append(contentsOf: entry.bytes) }
        guard SafeTensorsChecksum.stamp(&out, headerLength: json.count) else {
            // A tensor name containing the checksum field's exact text would make it ambiguous.
            throw CheckpointError.unsupportedFeature(path: "(safetensors writer)", reason: "a tensor or metadata name contains the text of the checksum field")
        }
        return Data(out)
    }

    /// Writes the file atomically: a temporary file beside `path`, then rename.
    public func write(to path: String) throws {
        // A temporary beside `path`, then rename: readers see the old file or the new one.
        try AtomicFile.write(try encoded(), to: path)
    }
}
