// AtomicFile: the one way samtrack writes a whole file. The content goes to a temporary name in
// the destination's directory (created relative to an open `DirectoryHandle`, O_EXCL, so never
// through a link), then `renameat` puts it in place: readers see either the old file or the
// complete new one, and a crash or a failed write leaves the old file (if any) untouched. The
// temporary is `.<name>.tmp-<pid>-<random>`: hidden, and on the same file system.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `AtomicFile` writes.
public struct AtomicWriteOptions: Sendable, Equatable {
    /// Create the destination directory and its missing parents (mode 0755 before the umask).
    /// When false a missing directory is `FileError.directoryNotFound`.
    public var createParents: Bool
    /// `fsync` the file before the rename and its directory after it, so the new content
    /// survives a power loss (slower: one disk flush per file).
    public var fsync: Bool
    /// Mode of the new file before the umask.
    public var permissions: mode_t

    public init(createParents: Bool = false, fsync: Bool = false, permissions: mode_t = 0o644) {
        self.createParents = createParents
        self.fsync = fsync
        self.permissions = permissions
    }
}

/// Atomic whole-file writes (see the file comment).
public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(to: path, options: options) { sink in try sink.write(data) }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(to: path, options: options) { sink in try sink.write(bytes) }
    }

    /// Writes raw `bytes` to `path` atomically.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(to: path, options: options) { sink in try sink.write(bytes) }
    }

    /// Streams the content of `path` through `body`, then renames the finished temporary onto
    /// `path`. If `body` (or any write) throws, the temporary is removed, `path` is left as it
    /// was, and the error is rethrown.
    public static func write(to path: String, options: AtomicWriteOptions = .init(),
                             _ body: (FileSink) throws -> Void) throws {
        let (directory, name) = split(path)
        let handle = try DirectoryHandle.open(directory.isEmpty ? "." : directory, create: options.createParents)
        try write(name, in: handle, options: options, body)
    }

    /// Writes the file `name` in `directory` atomically (see `write(to:options:_:)`).
    public static func write(_ name: String, in directory: DirectoryHandle, options: AtomicWriteOptions = .init(),
                             _ body: (FileSink) throws -> Void) throws {
        let temporary = temporaryName(for: name)
        let fd: Int32
        do {
            fd = try directory.openFile(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: options.permissions)
        } catch let error as FileError {
            throw error.reported(as: directory.child(name))
        }
        let sink = FileSink(descriptor: fd, path: directory.child(name))
        do {
            try body(sink)
            try sink.flush()
            if options.fsync { try sink.sync() }
            try sink.close()
            try directory.rename(temporary, to: name)
            if options.fsync { directory.sync() }
        } catch {
            try? sink.close()
            directory.removeFile(temporary)
            throw error
        }
    }

    /// Writes `bytes` as the file `name` in `directory` atomically.
    public static func write(_ bytes: [UInt8], named name: String, in directory: DirectoryHandle,
                             options: AtomicWriteOptions = .init()) throws {
        try write(name, in: directory, options: options) { sink in try sink.write(bytes) }
    }

    /// Makes sure the directory `path` exists: creates it and its parents when `create` is true,
    /// else throws `FileError.directoryNotFound`. A non-directory in the way is an error.
    public static func ensureDirectory(_ path: String, create: Bool) throws {
        _ = try DirectoryHandle.open(path, create: create)
    }

    /// A fresh hidden temporary name for `name`: `.<name>.tmp-<pid>-<random>`; with
    /// `keepExtension` the extension is repeated at the end (muxers guess formats from names).
    public static func temporaryName(for name: String, keepExtension: Bool = false) -> String {
        let random = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        var temporary = ".\(name).tmp-\(getpid())-\(random)"
        let ext = (name as NSString).pathExtension
        if keepExtension, !ext.isEmpty { temporary += ".\(ext)" }
        return temporary
    }

    /// The name a temporary from `temporaryName` stands for (`.<name>.tmp-<pid>-<random>[.ext]`
    /// -> `<name>`), nil for any other name: what an interrupted write left behind.
    public static func finalName(ofTemporary temporary: String) -> String? {
        guard temporary.hasPrefix("."), let marker = temporary.range(of: ".tmp-", options: .backwards) else { return nil }
        let name = String(temporary[temporary.index(after: temporary.startIndex)..<marker.lowerBound])
        let tail = temporary[marker.upperBound...].split(separator: "-", maxSplits: 1)
        guard !name.isEmpty, tail.count == 2, Int32(tail[0]) != nil else { return nil }
        return name
    }

    /// A fresh temporary path next to `path` (see `temporaryName`).
    public static func temporaryPath(for path: String, keepExtension: Bool = false) -> String {
        let (directory, name) = split(path)
        let temporary = temporaryName(for: name, keepExtension: keepExtension)
        return directory.isEmpty ? temporary : (directory == "/" ? "/" + temporary : "\(directory)/\(temporary)")
    }

    /// Renames the finished temporary file `temporary` (made by `temporaryPath(for: path)`) onto
    /// `path`, in their directory, removing the temporary on failure.
    public static func commit(_ temporary: String, to path: String, syncDirectory: Bool = false) throws {
        let (directory, name) = split(path)
        let handle = try DirectoryHandle.open(directory.isEmpty ? "." : directory, create: false)
        let temporaryName = split(temporary).name
        do {
            try handle.rename(temporaryName, to: name)
        } catch {
            handle.removeFile(temporaryName)
            throw error
        }
        if syncDirectory { handle.sync() }
    }

    /// (directory, last component) of `path`; the directory is "" for a bare name.
    public static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
