// TrainingDataError: every way a training set can be unusable, each naming the file at fault
// and saying what to do.

/// A training set that cannot be read or used.
public enum TrainingDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file or folder the layout needs is missing.
    case missing(path: String, what: String)
    /// The folder holds no usable frames (no annotated frame, no annotation).
    case empty(path: String, reason: String)
    /// An image or video that FFmpeg cannot open or decode.
    case unreadableImage(path: String, reason: String)
    /// A mask whose size differs from its image's.
    case maskSize(path: String, expectedWidth: Int, expectedHeight: Int, width: Int, height: Int, image: String)
    /// A palette annotation pixel whose colour is not a DAVIS palette entry.
    case unknownColour(path: String, x: Int, y: Int, red: UInt8, green: UInt8, blue: UInt8)
    /// An annotation or object that refers to an image id no image has.
    case unknownImage(path: String, annotation: String, imageID: Int)
    /// An object id listed without a mask (a COCO annotation without segmentation, a masks.jsonl
    /// object without "rle").
    case noMask(path: String, location: String, objectID: Int)
    /// A file that is not what the format says (bad JSON, bad RLE, bad polygon).
    case malformed(path: String, reason: String)
    /// A masks.jsonl frame past the end of its video.
    case frameOutOfRange(path: String, frame: Int, frames: Int, video: String)
    /// The format could not be told from the folder's content.
    case unknownLayout(path: String)

    public var description: String {
        switch self {
        case let .missing(path, what):
            return "\(path): \(what) not found"
        case let .empty(path, reason):
            return "\(path): no training data (\(reason))"
        case let .unreadableImage(path, reason):
            return "\(path): the image cannot be read (\(reason)); replace or remove it"
        case let .maskSize(path, ew, eh, w, h, image):
            return "\(path): mask is \(w)x\(h) but its image \(image) is \(ew)x\(eh); masks must have their image's size"
        case let .unknownColour(path, x, y, r, g, b):
            return "\(path): pixel (\(x), \(y)) has colour (\(r), \(g), \(b)), which is not in the DAVIS palette; "
                + "annotations are palette PNGs whose index is the object id"
        case let .unknownImage(path, annotation, imageID):
            return "\(path): \(annotation) refers to image id \(imageID), which no image in the file has"
        case let .noMask(path, location, objectID):
            return "\(path): \(location): object \(objectID) has no mask"
        case let .malformed(path, reason):
            return "\(path): \(reason)"
        case let .frameOutOfRange(path, frame, frames, video):
            return "\(path): frame \(frame) is past the end of \(video) (\(frames) frames)"
        case let .unknownLayout(path):
            return "\(path): cannot tell the data format: expected JPEGImages/ and Annotations/ (DAVIS), a COCO "
                + "instances .json, or masks.jsonl with a video (jsonl); or give --format"
        }
    }
}
