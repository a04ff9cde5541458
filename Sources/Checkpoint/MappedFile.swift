// MappedFile: a read-only, private memory mapping of a whole file.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped into memory (read-only, private). Tensors that borrow from it keep it alive.
public final class MappedFile: @unchecked Sendable {  // immutable: a read-only mapping, unmapped on deinit
    /// Path the file was opened from (used in error messages).
    public let path: String
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// Size of the file in bytes.
    public let size: Int
    /// True when `base` is a heap copy (`init(name:bytes:)`) rather than a mapping.
    private let isCopy: Bool

    /// Maps `path`; throws `CheckpointError.cannotOpen` when it cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        isCopy = false
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw CheckpointError.cannotOpen(path: path, reason: "is a directory")
        }
        size = Int(info.st_size)
        if size == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw CheckpointError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    /// The bytes in `range`, or nil when the range does not lie inside the file.
    public func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer? {
        guard range.lowerBound >= 0, range.upperBound <= size, let base else {
            return range.isEmpty && range.lowerBound >= 0 && range.upperBound <= size
                ? UnsafeRawBufferPointer(start: nil, count: 0) : nil
        }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// A "file" held in memory: a copy of `bytes`, named `name` in errors (for tests and fuzzing:
    /// the readers see exactly what they would see in a mapping of a file with these bytes).
    public init(name: String, bytes: [UInt8]) {
        path = name
        size = bytes.count
        isCopy = true
        guard !bytes.isEmpty else {
            base = nil
            return
        }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        base = UnsafeRawPointer(copy)
    }

    deinit {
        guard let base else { return }
        if isCopy {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }
}
