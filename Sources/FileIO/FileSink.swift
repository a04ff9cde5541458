// FileSink: a buffered writer over an open descriptor (used by `AtomicFile`), and the low-level
// helpers that retry short writes and EINTR. Errors name the destination path, not a temporary.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writer over an open file descriptor (see the file comment).
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
        if fsync(fd) != 0 { throw FileError.writeFailed(path: path, reason: systemErrorText(errno), code: errno) }
    }

    /// Flushes and closes the descriptor (idempotent).
    func close() throws {
        guard fd >= 0 else { return }
        defer { fd = -1 }
        do { try flush() } catch {
            _ = closeDescriptor(fd)
            throw error
        }
        if closeDescriptor(fd) != 0 { throw FileError.writeFailed(path: path, reason: systemErrorText(errno), code: errno) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw FileError.writeFailed(path: path, reason: "the file is already closed", code: EBADF) }
        try writeFully(fd, bytes, path: path)
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR; errors name `path`.
public func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            let code = errno
            throw FileError.writeFailed(path: path, reason: systemErrorText(code), code: code)
        }
        offset += written
    }
}

/// The whole content of the open file `fd` (read from offset 0 with pread).
public func readFully(_ fd: Int32, path: String) throws -> [UInt8] {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileError.readFailed(path: path, reason: systemErrorText(errno), code: errno) }
    var content = [UInt8](repeating: 0, count: Int(info.st_size))
    var offset = 0
    while offset < content.count {
        let got = content.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
        if got < 0 {
            if errno == EINTR { continue }
            throw FileError.readFailed(path: path, reason: systemErrorText(errno), code: errno)
        }
        if got == 0 { break }
        offset += got
    }
    content.removeSubrange(offset...)
    return content
}

/// The whole content of the file at `path`.
public func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError.readFailed(path: path, reason: systemErrorText(errno), code: errno) }
    defer { closeDescriptor(fd) }
    return try readFully(fd, path: path)
}
