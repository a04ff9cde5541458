// ExportError: every failure of the Export module, as a Swift value.
//
// System calls report failures through errno; they become ExportError at the boundary, with the
// path involved, the system's own text (strerror) and, where there is one, what to do about it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure while writing or reading an output file (masks, PNGs, logits, videos).
public enum ExportError: Error, Equatable, CustomStringConvertible {
    /// The directory that should hold `path` does not exist (and creating it was not asked for).
    case directoryNotFound(path: String)
    /// Creating the directory `path` (or one of its parents) failed.
    case cannotCreateDirectory(path: String, reason: String)
    /// Creating, writing, syncing or renaming the file `path` failed; `reason` is the system's text.
    case writeFailed(path: String, reason: String)
    /// Opening or reading the file `path` failed.
    case readFailed(path: String, reason: String)
    /// A file this module reads back (`.npy`, a partial `masks.jsonl`) is not in the expected format.
    case malformedFile(path: String, reason: String)
    /// A COCO RLE string or count list is invalid (bad character, truncated value, wrong total).
    case invalidRLE(String)
    /// A COCO RLE describes a mask of more than `maximumPixels` pixels (or so many that H * W
    /// overflows); it is refused before anything is decoded.
    case rleTooLarge(height: Int, width: Int, maximumPixels: Int)
    /// `MaskJSONLWriter.resume` found no partial file to continue.
    case nothingToResume(path: String)
    /// The PNG encoder (libavcodec, through Media) failed for `path`.
    case encodeFailed(path: String, reason: String)
    /// A caller passed arguments this module cannot honour (sizes, ids, frame order...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .directoryNotFound(path):
            return "cannot write into '\(path)': the directory does not exist (create it first)"
        case let .cannotCreateDirectory(path, reason):
            return "cannot create directory '\(path)': \(reason) (check the permissions of its parent)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason) (check that the directory is writable and the disk is not full)"
        case let .readFailed(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .malformedFile(path, reason):
            return "'\(path)' is malformed: \(reason)"
        case let .invalidRLE(reason):
            return "invalid COCO RLE: \(reason)"
        case let .rleTooLarge(height, width, maximumPixels):
            return "COCO RLE mask of size [\(height), \(width)] is larger than the \(maximumPixels) pixels allowed (send a mask the size of the video frame)"
        case let .nothingToResume(path):
            return "cannot resume: '\(path)' does not exist (start a new output instead)"
        case let .encodeFailed(path, reason):
            return "encoding '\(path)' failed: \(reason)"
        case let .invalidArgument(message):
            return message
        }
    }
}

/// The system's text for `code`, e.g. "Permission denied (errno 13)".
func systemErrorText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
