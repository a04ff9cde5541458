// OutputDirectory: what a new run may find in the directories it writes into (`--output`,
// `--save-logits`). Two runs' files mixed in one directory are a silent wrong result (frames
// 250-299 of an older, longer run beside this run's 0-199), so a directory that holds anything
// is refused, unless the caller asks to overwrite: then samtrack's own outputs (every name
// `OutputLayout` recognises: masks.jsonl and its partial file, run.json, palette PNGs, object
// folders of grey PNGs, logits, temporaries of interrupted writes) are removed first, and a
// directory that also holds anything else is still refused, so that no file samtrack did not
// write is ever deleted. Symbolic links are never followed or removed.

import Foundation
import Export
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an output directory cannot be used as it is.
public enum OutputDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory holds `count` entries (the first few named) and overwriting was not asked for.
    case notEmpty(path: String, count: Int, names: [String])
    /// Overwriting was asked for, but the directory holds entries samtrack did not write.
    case foreignEntries(path: String, names: [String])
    /// The path exists and is not a directory (or is a link).
    case notADirectory(path: String)
    /// Listing or removing failed.
    case failed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notEmpty(path, count, names):
            return "the output directory '\(path)' is not empty (\(count) entries: \(Self.list(names, of: count))); "
                + "a new run would mix its files with these"
        case let .foreignEntries(path, names):
            return "the output directory '\(path)' holds files samtrack did not write (\(Self.list(names, of: names.count))); "
                + "they are not removed: choose an empty or new directory"
        case let .notADirectory(path):
            return "the output path '\(path)' exists and is not a directory"
        case let .failed(path, reason):
            return "cannot clear the output directory '\(path)': \(reason)"
        }
    }

    private static func list(_ names: [String], of count: Int) -> String {
        let shown = names.prefix(5).joined(separator: ", ")
        return count > 5 ? shown + ", ..." : shown
    }
}

/// Checks and clears output directories (see the file comment).
public enum OutputDirectory {
    /// Makes `path` ready for a new run: missing or empty is fine; otherwise, with `overwrite`,
    /// removes samtrack's outputs from it (returning how many entries were removed), else throws
    /// `.notEmpty`. Throws `.foreignEntries` (before removing anything) when it holds other files.
    /// - Parameter ownFiles: names of other files the new run writes into `path` (an overlay
    ///   video placed beside the masks), removed with the outputs.
    @discardableResult
    public static func prepare(_ path: String, overwrite: Bool, ownFiles: Set<String> = []) throws(OutputDirectoryError) -> Int {
        var info = stat()
        // Missing (or unreachable: the writers then report why it cannot be created).
        guard lstat(path, &info) == 0 else { return 0 }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .notADirectory(path: path) }
        let names = try list(path).sorted()
        guard !names.isEmpty else { return 0 }
        guard overwrite else { throw .notEmpty(path: path, count: names.count, names: names) }
        // Everything is classified first: nothing is removed from a directory refused as a whole.
        var files: [String] = []
        var foreign: [String] = []
        for name in names {
            let full = OutputLayout.join(path, name)
            switch OutputLayout.classify(name, isDirectory: kind(full) == S_IFDIR) {
            case .outputFile where kind(full) == S_IFREG: files.append(full)
            case .other where ownFiles.contains(name) && kind(full) == S_IFREG: files.append(full)
            case .objectFolder:
                let inside = try list(full)
                let stray = inside.filter { !OutputLayout.isObjectFolderFile($0) || kind(OutputLayout.join(full, $0)) != S_IFREG }
                if stray.isEmpty {
                    files += inside.map { OutputLayout.join(full, $0) }
                    files.append(full)
                } else {
                    foreign += stray.map { "\(name)/\($0)" }
                }
            default: foreign.append(name)
            }
        }
        guard foreign.isEmpty else { throw .foreignEntries(path: path, names: foreign) }
        for file in files {  // an object folder comes after its files
            let removed = kind(file) == S_IFDIR ? rmdir(file) : unlink(file)
            if removed != 0 { throw .failed(path: path, reason: "\(file): \(String(cString: strerror(errno)))") }
        }
        return names.count
    }

    private static func list(_ path: String) throws(OutputDirectoryError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw .failed(path: path, reason: "cannot list it (\(error.localizedDescription))")
        }
    }

    /// The file type bits of `path` without following a link (S_IFLNK for a link), 0 if missing.
    private static func kind(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }
}
