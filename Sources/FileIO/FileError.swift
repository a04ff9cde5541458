// FileError: every failure of a file-system call made through FileIO, as a value: the path the
// caller asked for (never a temporary name), the operation, and the system's errno and text.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file-system operation (see the file comment).
public enum FileError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The directory that should hold `path` does not exist (and creating it was not asked for).
    case directoryNotFound(path: String)
    /// Creating the directory `path` (or one of its parents) failed.
    case cannotCreateDirectory(path: String, reason: String)
    /// Creating, writing, syncing or renaming the file `path` failed.
    case writeFailed(path: String, reason: String, code: Int32)
    /// Opening or reading the file `path` failed.
    case readFailed(path: String, reason: String, code: Int32)
    /// `path` (or a directory on the way to it) is a symbolic link where a real file or directory
    /// was expected: outputs never follow links.
    case symbolicLink(path: String)

    public var description: String {
        switch self {
        case let .directoryNotFound(path):
            return "cannot write into '\(path)': the directory does not exist (create it first)"
        case let .cannotCreateDirectory(path, reason):
            return "cannot create directory '\(path)': \(reason) (check the permissions of its parent)"
        case let .writeFailed(path, reason, code):
            let remedy = Self.isOutOfSpace(code) ? "free some disk space" : "check that the directory is writable"
            return "cannot write '\(path)': \(reason) (\(remedy))"
        case let .readFailed(path, reason, _):
            return "cannot read '\(path)': \(reason)"
        case let .symbolicLink(path):
            return "'\(path)' is a symbolic link; outputs are never written through links (remove it or choose another output)"
        }
    }

    /// True when the disk (or the user's quota) is full.
    public var isOutOfSpace: Bool {
        switch self {
        case let .writeFailed(_, _, code): return Self.isOutOfSpace(code)
        default: return false
        }
    }

    static func isOutOfSpace(_ code: Int32) -> Bool { code == ENOSPC || code == EDQUOT }

    /// The same failure reported for `path` (a temporary's error named after its destination).
    func reported(as path: String) -> FileError {
        switch self {
        case .directoryNotFound: return .directoryNotFound(path: path)
        case let .cannotCreateDirectory(_, reason): return .cannotCreateDirectory(path: path, reason: reason)
        case let .writeFailed(_, reason, code): return .writeFailed(path: path, reason: reason, code: code)
        case let .readFailed(_, reason, code): return .readFailed(path: path, reason: reason, code: code)
        case .symbolicLink: return .symbolicLink(path: path)
        }
    }
}

/// The system's text for `code`, e.g. "Permission denied (errno 13)".
public func systemErrorText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
