// TorchCheckpointWriter: writes `{"model": state_dict}` as `torch.save` does (PyTorch >= 1.6 zip
// format), so that `torch.load(..., weights_only=True)` and the official `build_sam2` read it, and
// so does this module's reader:
//
//   archive/data.pkl               the pickle (protocol 2): a dict whose "model" entry maps each
//                                  key to torch._utils._rebuild_tensor_v2(storage, 0, size,
//                                  stride, False, OrderedDict()); the storage is a persistent id
//                                  ("storage", torch.FloatStorage, "<n>", "cpu", numel)
//   archive/.format_version        "1"
//   archive/.storage_alignment     "64"
//   archive/byteorder              "little"
//   archive/data/<n>               tensor n's float32 values, little-endian, contiguous
//   archive/version                "3"
//   archive/.data/serialization_id a 40-digit id
//
// Entries are stored (no compression) with their data aligned to 64 bytes through padding in the
// local header's extra field, as torch does: FileIO's `ZipWriter` with `alignment` 64 (ZIP64
// records where a file passes 4 GiB, which torch reads too), dated 1980-01-01 as torch dates them.

import FileIO
import Foundation
import Tensor

public enum TorchCheckpointWriter {
    /// Writes `tensors` (in the given order, float32) under the top-level key `"model"`
    /// (nil: the state dict itself is the saved object) to `path`, atomically, streaming the
    /// tensors' bytes to the file. Throws `FileError` when the file cannot be written.
    public static func write(_ tensors: [(key: String, tensor: Tensor)], to path: String, topLevelKey: String? = "model") throws {
        try AtomicFile.write(to: path) { sink in
            try encode(tensors, topLevelKey: topLevelKey, serialization: serializationID(for: tensors)) { try sink.write($0) }
        }
    }

    /// The archive's bytes.
    public static func encode(_ tensors: [(key: String, tensor: Tensor)], topLevelKey: String? = "model",
                              serialization: String = String(repeating: "0", count: 40)) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(tensors, topLevelKey: topLevelKey, serialization: serialization) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The entries' dates: torch writes 1980-01-01 00:00, the earliest DOS date.
    static let zipOptions = ZipWriter.Options(modified: Date(timeIntervalSince1970: 315_532_800),
                                              timeZone: TimeZone(identifier: "UTC")!, alignment: 64)

    /// The archive, handed to `output` front to back.
    static func encode(_ tensors: [(key: String, tensor: Tensor)], topLevelKey: String?, serialization: String,
                       output: @escaping ZipWriter.Output) throws {
        var items: [(String, PickleWriterValue)] = []
        for (index, entry) in tensors.enumerated() {
            let shape = entry.tensor.shape
            let strides = Tensor.strides(of: shape)
            let storage = PickleWriterValue.persistentID([.string("storage"), .global(module: "torch", name: "FloatStorage"),
                                                          .string(String(index)), .string("cpu"), .int(entry.tensor.count)])
            let rebuild = PickleWriterValue.call(module: "torch._utils", name: "_rebuild_tensor_v2", arguments: [
                storage, .int(0), .tuple(shape.map { .int($0) }), .tuple(strides.map { .int($0) }), .bool(false),
                .call(module: "collections", name: "OrderedDict", arguments: []),
            ])
            items.append((entry.key, rebuild))
        }
        let stateDict = PickleWriterValue.orderedDict(items)
        let pickle = PickleWriter.encode(topLevelKey.map { .dict([($0, stateDict)]) } ?? stateDict)
        let zip = ZipWriter(options: zipOptions, output: output)
        try zip.add("archive/data.pkl", contents: pickle)
        try zip.add("archive/.format_version", contents: Array("1".utf8))
        try zip.add("archive/.storage_alignment", contents: Array("64".utf8))
        try zip.add("archive/byteorder", contents: Array("little".utf8))
        for (index, entry) in tensors.enumerated() {
            var bytes = [UInt8](repeating: 0, count: entry.tensor.count * 4)
            entry.tensor.withUnsafeBufferPointer { values in
                bytes.withUnsafeMutableBytes { raw in
                    for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
                }
            }
            try zip.add("archive/data/\(index)", contents: bytes)
        }
        try zip.add("archive/version", contents: Array("3\n".utf8))
        try zip.add("archive/.data/serialization_id", contents: Array(serialization.utf8))
        try zip.finish()
    }

    /// A deterministic 40-digit id from the tensors' keys and sizes (torch uses a random one).
    static func serializationID(for tensors: [(key: String, tensor: Tensor)]) -> String {
        var crc: UInt32 = 0
        for entry in tensors {
            crc = Array(entry.key.utf8).withUnsafeBytes { CRC32.update(crc, $0) }
            crc = withUnsafeBytes(of: UInt64(entry.tensor.count).littleEndian) { CRC32.update(crc, $0) }
        }
        let digits = String(crc)
        return String(repeating: "0", count: 40 - digits.count) + digits
    }
}
