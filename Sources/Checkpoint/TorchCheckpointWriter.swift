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
// local header's extra field, as torch does. No ZIP64: a file past 4 GiB is refused.

import FileIO
import Foundation
import Tensor

public enum TorchCheckpointWriter {
    /// Writes `tensors` (in the given order, float32) under the top-level key `"model"`
    /// (nil: the state dict itself is the saved object) to `path`, atomically. Throws
    /// `TorchCheckpointWriteError` for an archive zip cannot hold without ZIP64, `FileError` when
    /// the file cannot be written.
    public static func write(_ tensors: [(key: String, tensor: Tensor)], to path: String, topLevelKey: String? = "model") throws {
        let archive = try encode(tensors, topLevelKey: topLevelKey, serialization: serializationID(for: tensors))
        try AtomicFile.write(archive, to: path)
    }

    /// The archive's bytes.
    public static func encode(_ tensors: [(key: String, tensor: Tensor)], topLevelKey: String? = "model",
                              serialization: String = String(repeating: "0", count: 40)) throws -> [UInt8] {
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
        var zip = ZipWriter()
        zip.add("archive/data.pkl", pickle)
        zip.add("archive/.format_version", Array("1".utf8))
        zip.add("archive/.storage_alignment", Array("64".utf8))
        zip.add("archive/byteorder", Array("little".utf8))
        for (index, entry) in tensors.enumerated() {
            var bytes = [UInt8](repeating: 0, count: entry.tensor.count * 4)
            entry.tensor.withUnsafeBufferPointer { values in
                bytes.withUnsafeMutableBytes { raw in
                    for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
                }
            }
            zip.add("archive/data/\(index)", bytes)
        }
        zip.add("archive/version", Array("3\n".utf8))
        zip.add("archive/.data/serialization_id", Array(serialization.utf8))
        return try zip.finish()
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

/// Why a checkpoint could not be encoded.
public enum TorchCheckpointWriteError: Error, CustomStringConvertible, Equatable {
    /// The archive would need ZIP64 records (over 4 GiB or 65,535 entries), which are not written.
    case tooLarge(bytes: Int, entries: Int)

    public var description: String {
        switch self {
        case let .tooLarge(bytes, entries):
            return "the checkpoint would be \(bytes) bytes in \(entries) entries; files over 4 GiB or 65,535 entries need ZIP64, which samtrack does not write (save as safetensors instead)"
        }
    }
}

/// A minimal zip writer: stored entries, data aligned to 64 bytes, no ZIP64.
struct ZipWriter {
    private var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0
    static let alignment = 64

    mutating func add(_ name: String, _ data: [UInt8]) {
        let nameBytes = Array(name.utf8)
        let crc = data.withUnsafeBytes { CRC32.checksum($0) }
        let offset = bytes.count
        // Local header (30 bytes) + name + extra field padding the data to the alignment.
        let headerEnd = offset + 30 + nameBytes.count
        let padding = (Self.alignment - (headerEnd + 4) % Self.alignment) % Self.alignment
        let extraLength = 4 + padding
        var header: [UInt8] = []
        append32(0x0403_4B50, &header)
        append16(20, &header)  // version needed
        append16(0, &header)  // flags
        append16(0, &header)  // stored
        append16(0, &header); append16(0x21, &header)  // time, date (1980-01-01)
        append32(crc, &header)
        append32(UInt32(data.count), &header)
        append32(UInt32(data.count), &header)
        append16(UInt16(nameBytes.count), &header)
        append16(UInt16(extraLength), &header)
        header += nameBytes
        append16(0x4246, &header)  // "FB", torch's padding record
        append16(UInt16(padding), &header)
        header += [UInt8](repeating: 0x5A, count: padding)
        bytes += header
        bytes += data
        // Central directory record.
        append32(0x0201_4B50, &central)
        append16(20, &central); append16(20, &central)
        append16(0, &central); append16(0, &central)
        append16(0, &central); append16(0x21, &central)
        append32(crc, &central)
        append32(UInt32(data.count), &central)
        append32(UInt32(data.count), &central)
        append16(UInt16(nameBytes.count), &central)
        append16(0, &central); append16(0, &central)  // extra, comment
        append16(0, &central); append16(0, &central)  // disk, internal attributes
        append32(0, &central)  // external attributes
        append32(UInt32(truncatingIfNeeded: offset), &central)
        central += nameBytes
        count += 1
        tooLarge = tooLarge || offset > Int(UInt32.max) || bytes.count > Int(UInt32.max)
    }
    private var tooLarge = false

    mutating func finish() throws -> [UInt8] {
        guard !tooLarge, bytes.count + central.count <= Int(UInt32.max), count < 65535 else {
            throw TorchCheckpointWriteError.tooLarge(bytes: bytes.count + central.count, entries: count)
        }
        let directoryOffset = bytes.count
        var out = bytes + central
        append32(0x0605_4B50, &out)
        append16(0, &out); append16(0, &out)
        append16(UInt16(count), &out); append16(UInt16(count), &out)
        append32(UInt32(central.count), &out)
        append32(UInt32(directoryOffset), &out)
        append16(0, &out)
        return out
    }

    private func append16(_ v: UInt16, _ out: inout [UInt8]) { out += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func append32(_ v: UInt32, _ out: inout [UInt8]) {
        out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }
}
