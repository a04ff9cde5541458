// TorchCheckpointReader: reads a PyTorch checkpoint written by `torch.save` (zip format,
// PyTorch >= 1.6) into a `WeightStore`, without Python.
//
// Archive layout (the top folder is the file stem at save time, e.g. "sam2.1_hiera_large"):
//   <top>/data.pkl     pickle of the saved object; tensors refer to storages by key
//   <top>/data/<key>   raw little-endian bytes of storage <key>
//   <top>/byteorder    "little" or "big" (absent in files from torch < 1.10: little)
//   <top>/version, <top>/.format_version, <top>/.storage_alignment, <top>/.data/...  (ignored)
//
// Which tensors are read (the "flattening rule"):
//   1. If the saved object is a dict with a "model" entry that is a dict (the official SAM 2
//      layout, `{"model": state_dict}`), only that dict is read; other top-level entries
//      (optimizer state, epoch...) are decoded but ignored.
//   2. Otherwise the saved object itself must be a dict (a plain `state_dict()`).
//   3. Tensors are collected recursively: a tensor under nested dicts, lists or tuples gets
//      the keys/indices on its path joined with ".", e.g. {"encoder": {"weight": t}} gives
//      "encoder.weight". Integer keys are written in decimal. Leaves that are not tensors
//      (numbers, strings, None) are skipped.
//   4. Two paths that flatten to the same key are an error.
//
// Integrity: the pickle and the byte-order record are CRC-checked before they are read; once the
// pickle has said which tensors live in which storage, every entry of the archive is CRC-checked
// (`ZipArchive.checksums(of:)`, streamed over the mapping on the thread pool) before any tensor
// is built, so a damaged storage is reported with the keys of the tensors it holds.

import Tensor

/// Reader for PyTorch `.pt` checkpoints in the zip format.
public enum TorchCheckpointReader {
    /// Deepest nesting of dicts/lists followed when collecting tensors.
    static let maximumDepth = 64

    /// Reads every tensor of the checkpoint at `path` (see the flattening rule above). Throws a
    /// `CheckpointError` naming the file, and the tensor where one is at fault.
    public static func load(path: String) throws -> WeightStore {
        try load(file: MappedFile(path: path))
    }

    /// Reads every tensor of a mapped checkpoint. Contiguous float32 tensors borrow `file`'s
    /// memory; the store keeps the mapping alive through them.
    public static func load(file: MappedFile) throws -> WeightStore {
        let archive = try ZipArchive(file: file)
        let pickleEntry = try findPickle(in: archive)
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        try checkByteOrder(in: archive, prefix: prefix)

        let pickle = try archive.verifiedContents(of: pickleEntry)
        return try load(pickle: pickle, streamName: pickleEntry.name, archive: archive, prefix: prefix)
    }

    /// Decodes `pickle` and builds its tensors from the storages of `archive` under `prefix`.
    static func load(pickle: UnsafeRawBufferPointer, streamName: String, archive: ZipArchive,
                     prefix: String) throws -> WeightStore {
        let path = archive.file.path
        let root = try Unpickler.load(pickle, path: path, streamName: streamName)
        let references = try collectTensors(root, path: path)
        try verifyEntries(of: archive, storagePrefix: prefix + "data/", references: references)
        let materializer = TorchTensorMaterializer(archive: archive, storagePrefix: prefix + "data/")
        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(references.count)
        for (key, reference) in references {
            tensors[key] = try materializer.tensor(reference, name: key)
        }
        return WeightStore(path: path, tensors: tensors, orderedKeys: references.map(\.key))
    }

    /// Checks the CRC-32 of every entry of `archive`; the first damaged one (in directory order)
    /// is thrown as `checksumMismatch` naming the tensors whose storage it is.
    static func verifyEntries(of archive: ZipArchive, storagePrefix: String,
                              references: [(key: String, reference: TorchTensorReference)]) throws {
        let crcs = try archive.checksums(of: archive.entries)
        guard let damaged = zip(archive.entries, crcs).first(where: { $0.crc32 != $1 }) else { return }
        let tensors = references.filter { storagePrefix + $0.reference.storage.key == damaged.0.name }.map(\.key)
        throw CheckpointError.checksumMismatch(path: archive.file.path, entry: damaged.0.name, tensors: tensors,
                                               expected: damaged.0.crc32, actual: damaged.1)
    }

    /// The `<top>/data.pkl` entry (the top folder has no "/" in its name).
    static func findPickle(in archive: ZipArchive) throws -> ZipArchive.Entry {
        let candidates = archive.entries.filter {
            $0.name == "data.pkl" || ($0.name.hasSuffix("/data.pkl") && $0.name.dropLast(9).firstIndex(of: "/") == nil)
        }
        guard let entry = candidates.first else {
            throw CheckpointError.unrecognizedFormat(
                path: archive.file.path,
                reason: "the zip archive has no '<name>/data.pkl' entry, so it was not written by torch.save")
        }
        return entry
    }

    /// Accepts a missing or "little" byte-order record; refuses "big".
    static func checkByteOrder(in archive: ZipArchive, prefix: String) throws {
        guard let entry = archive.entry(named: prefix + "byteorder") else { return }
        let text = try archive.verifiedContents(of: entry).utf8String.trimmingWhitespace
        switch text {
        case "little":
            return
        case "big":
            throw CheckpointError.unsupportedFeature(
                path: archive.file.path,
                reason: "the tensors were saved on a big-endian machine; load and re-save the checkpoint with torch on a little-endian machine")
        default:
            throw CheckpointError.corrupt(path: archive.file.path, reason: "unknown byte order record '\(text)'")
        }
    }

    // MARK: - Flattening

    /// The (dotted key, tensor) pairs of the state dict inside `root`, in pickle order.
    static func collectTensors(_ root: PickleValue, path: String) throws -> [(key: String, reference: TorchTensorReference)] {
        guard case let .dict(top) = root else {
            throw CheckpointError.unrecognizedFormat(
                path: path, reason: "the saved object is a \(root.typeName), not a dict of tensors (state_dict)")
        }
        var stateDict = top
        if case let .dict(model)? = top["model"] { stateDict = model }
        var collected: [(key: String, reference: TorchTensorReference)] = []
        var seen: Set<String> = []
        var budget = maximumVisits
        try collect(.dict(stateDict), prefix: nil, depth: 0, into: &collected, seen: &seen, budget: &budget, path: path)
        return collected
    }

    /// Most values visited while collecting tensors. A pickle can reference one container from
    /// many places (memo), so a small stream can describe an exponentially large tree; real
    /// checkpoints hold a few thousand values.
    static let maximumVisits = 1 << 20

    private static func collect(_ value: PickleValue, prefix: String?, depth: Int,
                                into collected: inout [(key: String, reference: TorchTensorReference)],
                                seen: inout Set<String>, budget: inout Int, path: String) throws {
        guard depth <= maximumDepth else {
            throw CheckpointError.unsupportedPickle(path: path, reason: "containers nested deeper than \(maximumDepth) levels at '\(prefix ?? "")'")
        }
        budget -= 1
        guard budget >= 0 else {
            throw CheckpointError.unsupportedPickle(path: path, reason: "the saved object expands to more than \(maximumVisits) values (containers shared many times over)")
        }
        func join(_ component: String) -> String { prefix.map { "\($0).\(component)" } ?? component }
        switch value {
        case let .tensor(reference):
            let key = prefix ?? ""
            guard seen.insert(key).inserted else {
                throw CheckpointError.corrupt(path: path, reason: "two tensors have the key '\(key)'")
            }
            collected.append((key, reference))
        case let .dict(dict):
            for (key, child) in dict.entries {
                let component: String
                switch key {
                case let .string(text): component = text
                case let .int(number): component = String(number)
                default:
                    throw CheckpointError.unsupportedPickle(path: path, reason: "a dict under '\(prefix ?? "")' has a key of type \(key.typeName); tensor names must be strings")
                }
                try collect(child, prefix: join(component), depth: depth + 1, into: &collected, seen: &seen, budget: &budget, path: path)
            }
        case .tuple, .list:
            for (index, child) in (value.sequence ?? []).enumerated() {
                try collect(child, prefix: join(String(index)), depth: depth + 1, into: &collected, seen: &seen, budget: &budget, path: path)
            }
        case .none, .bool, .int, .bigInt, .float, .string, .bytes, .global, .storage:
            return
        }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
