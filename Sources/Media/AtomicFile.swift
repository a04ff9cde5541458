// AtomicFile: write a file under a temporary name in the same directory, then rename it into
// place, so readers never see a half-written file and a crash leaves no partial output.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

enum AtomicFile {
    /// A fresh temporary path next to `path`: `<dir>/.<name>.tmp-<random>` (hidden, same file system).
    /// `keepExtension` appends the final extension again so tools that guess formats from names
    /// (libavformat muxers) still recognise it.
    static func temporaryPath(for path: String, keepExtension: Bool = false) -> String {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let random = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        var name = ".\(url.lastPathComponent).tmp-\(getpid())-\(random)"
        if keepExtension, !url.pathExtension.isEmpty { name += ".\(url.pathExtension)" }
        return directory.isEmpty ? name : "\(directory)/\(name)"
    }

    /// Writes `bytes` to `path` atomically (mode 0644 before the umask).
    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MediaError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw MediaError.writeFailed(path: path, reason: reason)
            }
            offset += written
        }
        if close(fd) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw MediaError.writeFailed(path: path, reason: reason)
        }
        try commit(temporary, to: path)
    }

    /// Renames a finished temporary file onto `path` (removing the temporary on failure).
    static func commit(_ temporary: String, to path: String) throws {
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw MediaError.writeFailed(path: path, reason: reason)
        }
    }
}
