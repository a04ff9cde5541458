// ExportError: the Export module's own failures (formats, arguments), as Swift values. File-system
// failures are `FileError`s from FileIO, which every writer here goes through.

/// A failure of an output format (masks, PNGs, logits): bad data or arguments, not I/O.
public enum ExportError: Error, Equatable, CustomStringConvertible, Sendable {    /// A file this module reads back (`.npy`, a partial `masks.jsonl`) is not in the expected format.
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

