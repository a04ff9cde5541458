// CheckpointLoader: the one entry point callers use. Picks the reader from the file's content,
// never from its extension:
//   "PK\x03\x04" (zip local header) or "PK\x05\x06" (empty zip)  -> PyTorch zip (torch.save >= 1.6)
//   0x80 <protocol 2...5> (a bare pickle)                          -> legacy torch.save: refused
//   u64 little-endian header length n (2 <= n <= 256 MiB), then "{" -> safetensors
//   anything else                                                  -> unrecognizedFormat

/// Loads a checkpoint of any supported format into a strict `WeightStore`.
public enum CheckpointLoader {
    /// The formats `load(path:)` reads.
    public enum Format: String, Sendable {
        /// `torch.save` zip archive (`.pt`, `.pth`).
        case pytorch
        /// Hugging Face safetensors.
        case safetensors
    }

    /// Reads the checkpoint at `path` (PyTorch zip or safetensors, chosen by content). Throws a
    /// `CheckpointError` naming the file (and tensor) for anything it cannot read.
    public static func load(path: String) throws -> WeightStore {
        try load(file: MappedFile(path: path))
    }

    /// Reads a mapped (or in-memory) checkpoint of any supported format, chosen by content.
    public static func load(file: MappedFile) throws -> WeightStore {
        switch try detectFormat(of: file) {
        case .pytorch: return try TorchCheckpointReader.load(file: file)
        case .safetensors: return try SafeTensorsReader.load(file: file).store
        }
    }

    /// The format of `file` from its first bytes. Throws `corrupt` for an empty or cut-off file
    /// and `unrecognizedFormat` for legacy torch pickles and unknown content.
    public static func detectFormat(of file: MappedFile) throws -> Format {
        let path = file.path
        guard file.size > 0 else {
            throw CheckpointError.corrupt(path: path, reason: "the file is empty (0 bytes)")
        }
        let head = file.bytes(0..<min(file.size, 16)) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let bytes = Array(head)
        let zipMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
        let emptyZipMagic: [UInt8] = [0x50, 0x4B, 0x05, 0x06]
        if bytes.starts(with: zipMagic) || bytes.starts(with: emptyZipMagic) {
            return .pytorch
        }
        if bytes.count < 4, zipMagic.starts(with: bytes) {
            throw CheckpointError.corrupt(path: path, reason: "the file is \(file.size) bytes long, a cut-off zip header (truncated?)")
        }
        if bytes.count >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]) {
            throw CheckpointError.unrecognizedFormat(
                path: path,
                reason: "this is a PyTorch checkpoint in the legacy (pre-1.6) serialization; re-save it with torch >= 1.6: torch.save(torch.load(path), path)")
        }
        if looksLikeSafetensors(file) {
            return .safetensors
        }
        let shown = bytes.prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        throw CheckpointError.unrecognizedFormat(
            path: path,
            reason: "it starts with bytes \(shown); expected a zip archive written by torch.save (PK 03 04) or a safetensors header")
    }

    /// True when the file starts with a plausible safetensors header length followed by "{".
    /// The length is not compared with the file size, so that a file cut inside its header is
    /// reported by the safetensors reader as truncated rather than as unknown content.
    static func looksLikeSafetensors(_ file: MappedFile) -> Bool {
        guard let head = file.bytes(0..<min(file.size, 9)), head.count == 9 else { return false }
        let length = UInt64(littleEndian: head.loadUnaligned(as: UInt64.self))
        return length >= 2 && length <= maximumSafetensorsHeader && head[8] == UInt8(ascii: "{")
    }

    /// Largest header length taken as safetensors (real headers are kilobytes to a few megabytes).
    static let maximumSafetensorsHeader: UInt64 = 1 << 28
}
