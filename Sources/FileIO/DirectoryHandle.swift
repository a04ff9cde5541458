// DirectoryHandle: an open directory that files are created in relative to its descriptor
// (openat, renameat, mkdirat), never through symbolic links: the directory itself is opened
// with O_NOFOLLOW, and every file and subdirectory in it too. A link planted where an output
// file or folder will be (`masks.jsonl.partial -> /etc/passwd`) is refused, not followed; and
// once the handle is open, renaming or replacing its path cannot redirect later writes.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open directory (see the file comment). Immutable; safe to share between threads.
public final class DirectoryHandle: @unchecked Sendable {  // immutable: a path and a descriptor
    /// The path the directory was opened by (used in errors and for display).
    public let path: String
    /// The directory's descriptor (O_DIRECTORY | O_NOFOLLOW), closed on deinit.
    public let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { _ = closeDescriptor(descriptor) }

    /// Opens `path`, creating it and its missing parents when `create` is true (mode 0755 before
    /// the umask). The last component must not be a symbolic link.
    /// - Throws: `FileError.directoryNotFound`, `.cannotCreateDirectory`, `.symbolicLink`.
    public static func open(_ path: String, create: Bool) throws -> DirectoryHandle {
        let target = path.isEmpty ? "." : path
        var fd = openDirectory(AT_FDCWD, target)
        if fd < 0 && errno == ENOENT {
            guard create else { throw FileError.directoryNotFound(path: target) }
            try makeDirectories(target)
            fd = openDirectory(AT_FDCWD, target)
        }
        guard fd >= 0 else { throw openError(errno, path: target) }
        return DirectoryHandle(path: target, descriptor: fd)
    }

    /// The subdirectory `name` (a single component), created when missing and `create` is true.
    public func subdirectory(_ name: String, create: Bool) throws -> DirectoryHandle {
        let full = child(name)
        var fd = Self.openDirectory(descriptor, name)
        if fd < 0 && errno == ENOENT {
            guard create else { throw FileError.directoryNotFound(path: full) }
            if mkdirat(descriptor, name, 0o755) != 0 && errno != EEXIST {
                throw FileError.cannotCreateDirectory(path: full, reason: systemErrorText(errno))
            }
            fd = Self.openDirectory(descriptor, name)
        }
        guard fd >= 0 else { throw Self.openError(errno, path: full) }
        return DirectoryHandle(path: full, descriptor: fd)
    }

    /// `path/name`.
    public func child(_ name: String) -> String {
        path == "." ? name : (path.hasSuffix("/") ? path + name : path + "/" + name)
    }

    /// Opens the file `name` with `flags` (O_NOFOLLOW and O_CLOEXEC are always added); returns
    /// the descriptor. A symbolic link in its place is `FileError.symbolicLink`.
    public func openFile(_ name: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        let fd = openat(descriptor, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || (code == EMLINK && isSymbolicLink(name)) { throw FileError.symbolicLink(path: child(name)) }
            if flags & (O_WRONLY | O_RDWR | O_CREAT) != 0 {
                throw FileError.writeFailed(path: child(name), reason: systemErrorText(code), code: code)
            }
            throw FileError.readFailed(path: child(name), reason: systemErrorText(code), code: code)
        }
        return fd
    }

    /// Whether `name` exists in the directory (a link counts as existing; it is not followed).
    public func contains(_ name: String) -> Bool {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// Whether `name` is a symbolic link.
    public func isSymbolicLink(_ name: String) -> Bool {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// Renames `from` to `to` inside the directory (atomically replacing `to`, link or not).
    public func rename(_ from: String, to: String) throws {
        if renameat(descriptor, from, descriptor, to) != 0 {
            let code = errno
            throw FileError.writeFailed(path: child(to), reason: systemErrorText(code), code: code)
        }
    }

    /// Removes the file `name` (not a directory); a missing file is not an error.
    public func removeFile(_ name: String) {
        _ = unlinkat(descriptor, name, 0)
    }

    /// Flushes the directory's entries to disk (after a rename that must survive a power loss).
    public func sync() {
        _ = fsync(descriptor)
    }

    // MARK: - Helpers

    private static func openDirectory(_ base: Int32, _ path: String) -> Int32 {
        openat(base, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }

    private static func openError(_ code: Int32, path: String) -> FileError {
        var info = stat()
        if (code == ELOOP || code == ENOTDIR) && lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
            return .symbolicLink(path: path)
        }
        if code == ENOENT { return .directoryNotFound(path: path) }
        return .cannotCreateDirectory(path: path, reason: systemErrorText(code))
    }

    /// mkdir -p: creates `path` and its missing parents; a non-directory in the way is an error.
    public static func makeDirectories(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw FileError.cannotCreateDirectory(path: path, reason: systemErrorText(ENOTDIR))
            }
            return
        }
        let code = errno
        guard code == ENOENT else { throw FileError.cannotCreateDirectory(path: path, reason: systemErrorText(code)) }
        // The parent by hand: Foundation's `deletingLastPathComponent` traps on one-letter names ("t").
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parent = trimmed.lastIndex(of: "/").map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? ""
        if !parent.isEmpty, parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw FileError.cannotCreateDirectory(path: path, reason: systemErrorText(errno))
        }
    }
}

#if canImport(Glibc)
@discardableResult func closeDescriptor(_ fd: Int32) -> Int32 { Glibc.close(fd) }
let systemWrite = Glibc.write
#else
@discardableResult func closeDescriptor(_ fd: Int32) -> Int32 { Darwin.close(fd) }
let systemWrite = Darwin.write
#endif
