// PathPolicy: where job sources may come from and where outputs may go (DESIGN §7, security).
//
// Sources: a file must resolve (after symlinks) to a path under one of the configured roots; an
// image-sequence pattern (`frames/%05d.png`) is checked through its directory. Anything else —
// devices and stream URLs — must match one of the configured fnmatch(3) patterns (with
// FNM_PATHNAME, so `*` never crosses a `/`), and may not contain a `..` component.
// Outputs: a relative path of plain components (no `..`, no `.`, no empty or hidden-by-`~` parts,
// no absolute path); the deepest existing ancestor must resolve under the output root, so a
// symlink inside the root cannot lead out of it. Checked when a job is submitted and again when it
// starts.
// Several nodes (a shared store with `shared_roots`): a file source must also lie under a shared
// root, since whichever node claims the job must read it.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What kind of source a job names.
public enum SourceKind: Sendable, Equatable {
    /// A file (or image sequence) under an allowed root: real path.
    case file(String)
    /// A device or stream URL matched by an allowed pattern: live by nature.
    case stream(String)
}

/// Source and output path checks.
public struct PathPolicy: Sendable {
    public let sourceRoots: [String]
    public let sourcePatterns: [String]
    public let outputRoot: String
    /// With several nodes: directories every node sees (empty: no such rule).
    public let sharedRoots: [String]

    public init(sourceRoots: [String], sourcePatterns: [String], outputRoot: String, sharedRoots: [String] = []) {
        self.sourceRoots = sourceRoots
        self.sourcePatterns = sourcePatterns
        self.outputRoot = outputRoot
        self.sharedRoots = sharedRoots
    }

    public init(config: DaemonConfig) {
        self.init(sourceRoots: config.readableRoots, sourcePatterns: config.sourcePatterns, outputRoot: config.outputRoot,
                  sharedRoots: config.store.isShared ? config.sharedRoots : [])
    }

    /// Checks `source` and says what it is; throws 403 `source_not_allowed` (or 400 for a
    /// malformed value, 422 `source_not_found` for a missing file under a root).
    public func checkSource(_ source: String) throws -> SourceKind {
        guard !source.isEmpty, !source.contains("\0"), source.utf8.count <= 4096 else {
            throw APIError(.invalidRequest, "source: give a file path, device or URL (at most 4096 bytes)")
        }
        if source.hasPrefix("/") && !source.hasPrefix("/dev/") {
            let real = try checkFile(source)
            if !sharedRoots.isEmpty && !Self.isUnder(real, roots: sharedRoots) {
                throw APIError(.sourceNotAllowed, "source '\(source)' is not under a shared root (shared_roots in the config): "
                               + "other nodes could not read it")
            }
            return .file(real)
        }
        let components = source.split(separator: "/", omittingEmptySubsequences: false)
        if !components.contains("..") {
            for pattern in sourcePatterns where fnmatch(pattern, source, FNM_PATHNAME) == 0 {
                return .stream(source)
            }
        }
        if source.hasPrefix("/dev/") {
            throw APIError(.sourceNotAllowed, "source '\(source)' matches no allowed device pattern (sources.patterns in the config)")
        }
        if source.contains("://") || source.contains(":") {
            throw APIError(.sourceNotAllowed, "source '\(source)' matches no allowed URL pattern (sources.patterns in the config)")
        }
        throw APIError(.sourceNotAllowed, "source '\(source)': give an absolute path under an allowed root (sources.roots in the config)")
    }

    /// The real path of a file source, which must lie under a root.
    private func checkFile(_ path: String) throws -> String {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        let isSequence = name.range(of: "%[0-9]*d", options: .regularExpression) != nil
        let target = isSequence ? url.deletingLastPathComponent().path : path
        guard let real = Self.realPath(target) else {
            // Say "not allowed" rather than "not found" for paths outside the roots, so that the
            // API does not reveal which files exist elsewhere.
            let lexical = (target as NSString).standardizingPath
            if sourceRoots.contains(where: { Self.isInside(lexical, root: $0) }) {
                throw APIError(.sourceNotFound, "source '\(path)' does not exist")
            }
            throw APIError(.sourceNotAllowed, "source '\(path)' is not under an allowed root (sources.roots in the config)")
        }
        // An image sequence's folder may be a root itself (`/srv/videos/%05d.png`).
        guard sourceRoots.contains(where: { Self.isInside(real, root: $0) || (isSequence && real == $0) }) else {
            throw APIError(.sourceNotAllowed, "source '\(path)' resolves to a path outside the allowed roots (sources.roots in the config)")
        }
        if !isSequence && Self.isDirectory(real) {
            throw APIError(.sourceNotFound, "source '\(path)' is a directory, not a video or image")
        }
        return isSequence ? (real as NSString).appendingPathComponent(name) : real
    }

    /// The absolute output directory for the relative `path`; throws 400 `invalid_output_path`.
    public func outputDirectory(_ path: String) throws -> String {
        guard !path.isEmpty, path.utf8.count <= 1024, !path.contains("\0") else {
            throw APIError(.invalidOutputPath, "output.path must be a non-empty relative path (at most 1024 bytes)")
        }
        guard !path.hasPrefix("/") && !path.hasPrefix("~") else {
            throw APIError(.invalidOutputPath, "output.path '\(path)' is absolute: give a path relative to the daemon's output root")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts where part == ".." || part == "." || part.isEmpty {
            throw APIError(.invalidOutputPath, "output.path '\(path)' contains '\(part.isEmpty ? "//" : String(part))': use plain directory names")
        }
        let directory = (outputRoot as NSString).appendingPathComponent(path)
        // The deepest part that exists (a link counts, even a dangling one) must resolve inside
        // the root; a dangling link cannot be resolved and is refused.
        var existing = directory
        while !Self.exists(existing) && existing != outputRoot {
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard let real = Self.realPath(existing) else {
            throw APIError(.invalidOutputPath, "output.path '\(path)' leads through a dangling symbolic link")
        }
        guard Self.isInside(real, root: outputRoot) || real == outputRoot else {
            throw APIError(.invalidOutputPath, "output.path '\(path)' leads outside the output root through a symbolic link")
        }
        if existing == directory && !Self.isDirectory(real) {
            throw APIError(.invalidOutputPath, "output.path '\(path)' exists and is not a directory")
        }
        return directory
    }

    // MARK: Helpers

    /// realpath(3), or nil when the path does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` exists, not following a final symbolic link (lstat).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// True when `path` is one of `roots` or below one.
    static func isUnder(_ path: String, roots: [String]) -> Bool {
        roots.contains { path == $0 || isInside(path, root: $0) }
    }

    /// True when `path` is strictly below `root` (component-wise, so /srv/videos2 is not in /srv/videos).
    static func isInside(_ path: String, root: String) -> Bool {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) && path.count > prefix.count
    }
}
