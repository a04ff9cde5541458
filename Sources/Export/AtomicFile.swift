// AtomicFile: write a file under a temporary name in its final directory, then rename(2) it into
// place. Readers see either the old file or the complete new one, never a half-written file; a
// crash or a failed write leaves the old file (if any) untouched. The temporary is
// `<dir>/.<name>.tmp-<pid>-<random>`: hidden, and on the same file system, so the rename is atomic.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `AtomicFile` writes.
public struct AtomicWriteOptions: Sendable, Equatable {
    /// Create the destination directory and its missing parents (mode 0755 before the umask).
    /// When false a missing directory is `ExportError.directoryNotFound`.
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

/// Atomic whole-file writes: a temporary file in the destination's directory, then `rename(2)`.
public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(to: path, options: options) { sink in try sink.write(data) }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(to: path, options: options) { sink in try sink.write(bytes) }
    }

    /// Streams the content of `path` through `body`, then renames the finished temporary onto
    /// `path`. If `body` (or any write) throws, the temporary is removed, `path` is left as it
    /// was, and the error is rethrown.
    public static func write(to path: String, options: AtomicWriteOptions = .init(),
                             _ body: (FileSink) throws -> Void) throws {
        try prepareDirectory(of: path, create: options.createParents)
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, options.permissions)
        guard fd >= 0 else { throw ExportError.writeFailed(path: path, reason: systemErrorText(errno)) }
        let sink = FileSink(descriptor: fd, path: path)
        do {
            try body(sink)
            try sink.flush()
            if options.fsync { try sink.sync() }
            try sink.close()
            try commit(temporary, to: path, syncDirectory: options.fsync)
        } catch {
            try? sink.close()
            unlink(temporary)
            throw error
        }
    }

    /// Makes sure the directory `path` exists: creates it and its parents when `create` is true,
    /// else throws `ExportError.directoryNotFound`. A non-directory in the way is an error.
    public static func ensureDirectory(_ path: String, create: Bool) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw ExportError.cannotCreateDirectory(path: path, reason: systemErrorText(ENOTDIR))
            }
            return
        }
        let code = errno
        guard code == ENOENT else { throw ExportError.cannotCreateDirectory(path: path, reason: systemErrorText(code)) }
        guard create else { throw ExportError.directoryNotFound(path: path) }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try ensureDirectory(parent, create: true) }
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw ExportError.cannotCreateDirectory(path: path, reason: systemErrorText(errno))
        }
    }

    /// A fresh temporary path next to `path`: `<dir>/.<name>.tmp-<pid>-<random>`.
    public static func temporaryPath(for path: String) -> String {
        let (directory, name) = split(path)
        let random = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        let temporary = ".\(name).tmp-\(getpid())-\(random)"
        return directory.isEmpty ? temporary : "\(directory)/\(temporary)"
    }

    /// Renames `temporary` onto `path` (removing `temporary` on failure); with `syncDirectory`
    /// the directory entry is flushed to disk too.
    static func commit(_ temporary: String, to path: String, syncDirectory: Bool) throws {
        if rename(temporary, path) != 0 {
            let reason = systemErrorText(errno)
            unlink(temporary)
            throw ExportError.writeFailed(path: path, reason: reason)
        }
        if syncDirectory {
            let directory = split(path).directory
            let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                _ = fsync(fd)
                closeDescriptor(fd)
            }
        }
    }

    /// Checks (or creates) the directory that will hold `path`.
    static func prepareDirectory(of path: String, create: Bool) throws {
        let directory = split(path).directory
        try ensureDirectory(directory.isEmpty ? "." : directory, create: create)
    }

    /// (directory, last component) of `path`; the directory is "" for a bare name.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}

/// Buffered writer over an open file descriptor, used by `AtomicFile` (and the JSON Lines
/// writer). Errors name the final path, not the temporary one.
public final class FileSink {
    /// Path named in errors (the destination the caller asked for).
    public let path: String
    /// Bytes accepted so far (buffered or written).
    public private(set) var bytesWritten = 0

    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let bufferSize = 1 << 16

    init(descriptor: Int32, path: String) {
        fd = descriptor
        self.path = path
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit { try? close() }

    /// Appends raw bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        bytesWritten += bytes.count
        if buffer.count + bytes.count <= Self.bufferSize {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= Self.bufferSize {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends `data`.
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Appends the UTF-8 bytes of `string`.
    public func write(_ string: String) throws {
        var copy = string
        try copy.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Hands everything buffered to the kernel.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and asks the kernel to put the file on disk (`fsync`).
    public func sync() throws {
        try flush()
        guard fd >= 0 else { return }
        if fsync(fd) != 0 { throw ExportError.writeFailed(path: path, reason: systemErrorText(errno)) }
    }

    /// Flushes and closes the descriptor (idempotent).
    func close() throws {
        guard fd >= 0 else { return }
        defer { fd = -1 }
        do { try flush() } catch {
            _ = closeDescriptor(fd)
            throw error
        }
        if closeDescriptor(fd) != 0 { throw ExportError.writeFailed(path: path, reason: systemErrorText(errno)) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw ExportError.writeFailed(path: path, reason: "the file is already closed") }
        try writeFully(fd, bytes, path: path)
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw ExportError.writeFailed(path: path, reason: systemErrorText(errno))
        }
        offset += written
    }
}

/// The whole content of the open file `fd` (read from offset 0 with pread).
func readFully(_ fd: Int32, path: String) throws -> [UInt8] {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw ExportError.readFailed(path: path, reason: systemErrorText(errno)) }
    var content = [UInt8](repeating: 0, count: Int(info.st_size))
    var offset = 0
    while offset < content.count {
        let got = content.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
        if got < 0 {
            if errno == EINTR { continue }
            throw ExportError.readFailed(path: path, reason: systemErrorText(errno))
        }
        if got == 0 { break }
        offset += got
    }
    content.removeSubrange(offset...)
    return content
}

/// The whole content of the file at `path`.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ExportError.readFailed(path: path, reason: systemErrorText(errno)) }
    defer { closeDescriptor(fd) }
    return try readFully(fd, path: path)
}

#if canImport(Glibc)
let systemWrite = Glibc.write
@discardableResult func closeDescriptor(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#else
let systemWrite = Darwin.write
@discardableResult func closeDescriptor(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif
