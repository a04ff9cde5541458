// TrainingData: annotated frames grouped into sequences, whatever layout they came from (DAVIS
// folders, a COCO instances file, a video with samtrack's masks.jsonl). Masks stay COCO RLE at
// their source resolution until features are computed.

import Export

/// Where a frame's picture comes from.
public enum FrameImage: Sendable, Equatable {
    /// An image file (JPEG, PNG, anything FFmpeg reads).
    case file(String)
    /// Frame `index` (0-based, decode order) of a video file.
    case video(path: String, index: Int)

    /// The file to name in messages.
    public var path: String {
        switch self {
        case let .file(path): return path
        case let .video(path, index): return "\(path) frame \(index)"
        }
    }
}

/// One annotated frame: its picture and every object's mask (an object absent from the frame
/// has an empty mask or no entry).
public struct TrainingFrame: Sendable {
    public var image: FrameImage
    /// The file the masks came from (for messages).
    public var annotation: String
    /// Object id -> mask at the annotation's resolution.
    public var masks: [Int: COCORLE]
    /// The annotation's size; the image must have the same.
    public var width: Int, height: Int

    public init(image: FrameImage, annotation: String, masks: [Int: COCORLE], width: Int, height: Int) {
        self.image = image
        self.annotation = annotation
        self.masks = masks
        self.width = width
        self.height = height
    }
}

/// Frames in time order (a video), or a single image.
public struct TrainingSequence: Sendable {
    public var name: String
    public var frames: [TrainingFrame]
    /// True for video sequences (tracked samples use earlier frames' memories).
    public var isVideo: Bool

    public init(name: String, frames: [TrainingFrame], isVideo: Bool) {
        self.name = name
        self.frames = frames
        self.isVideo = isVideo
    }

    /// Every object id with a non-empty mask on some frame, ascending.
    public var objectIDs: [Int] {
        Set(frames.flatMap { frame in frame.masks.filter { $0.value.area > 0 }.map(\.key) }).sorted()
    }
}

/// The layouts `samtrack finetune` reads.
public enum TrainingDataFormat: String, Sendable, CaseIterable, Codable {
    case davis, coco, jsonl
}

/// A training set.
public struct TrainingData: Sendable {
    public var format: TrainingDataFormat
    public var root: String
    public var sequences: [TrainingSequence]

    public init(format: TrainingDataFormat, root: String, sequences: [TrainingSequence]) {
        self.format = format
        self.root = root
        self.sequences = sequences
    }

    public var frameCount: Int { sequences.reduce(0) { $0 + $1.frames.count } }

    /// Reads `root` in `format` (nil: told from the folder's content).
    public static func load(_ root: String, format: TrainingDataFormat? = nil, video: String? = nil) throws -> TrainingData {
        let chosen = try format ?? detectFormat(root)
        switch chosen {
        case .davis: return try DAVISReader.read(root)
        case .coco: return try COCOReader.read(root)
        case .jsonl: return try JSONLDataReader.read(root, video: video)
        }
    }

    /// DAVIS when `JPEGImages/` and `Annotations/` exist, jsonl when `masks.jsonl` does, COCO when
    /// a `.json` file does.
    public static func detectFormat(_ root: String) throws -> TrainingDataFormat {
        let fm = DataFiles.self
        if fm.isDirectory(root + "/JPEGImages") && fm.isDirectory(root + "/Annotations") { return .davis }
        if fm.isFile(root + "/masks.jsonl") || root.hasSuffix(".jsonl") { return .jsonl }
        if root.hasSuffix(".json") || (try? COCOReader.annotationFile(in: root)) != nil { return .coco }
        guard fm.isDirectory(root) || fm.isFile(root) else { throw TrainingDataError.missing(path: root, what: "the data folder") }
        throw TrainingDataError.unknownLayout(path: root)
    }
}
