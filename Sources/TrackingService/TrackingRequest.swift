// TrackingRequest: what to track (source, prompts) and where the results go, independent of
// whether the CLI or the daemon asked.

import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker

/// A prompt for one object on one frame, in source pixels.
public struct TrackingPrompt: Sendable {
    public enum Kind: Sendable {
        /// Clicks and/or a box.
        case points(ImagePrompt)
        /// A binary mask at the source resolution.
        case mask(BinaryMask)
    }
    /// Positive object id.
    public var objectID: Int
    /// Frame index (in tracked frames, 0 = first) the prompt applies to.
    public var frame: Int
    public var kind: Kind

    public init(objectID: Int, frame: Int = 0, kind: Kind) {
        self.objectID = objectID
        self.frame = frame
        self.kind = kind
    }
}

/// Mask output formats (DESIGN §6).
public enum MaskFormat: String, Sendable, Codable, CaseIterable {
    /// `DIR/masks.jsonl`: COCO RLE per object per frame.
    case rle
    /// `DIR/<id>/<frame>.png`: 8-bit grey per object.
    case png
    /// `DIR/<frame>.png`: palette-indexed, pixel = object id.
    case palette
}

/// Where and how results are written.
public struct OutputOptions: Sendable {
    /// Directory for masks (created if missing); nil writes no masks.
    public var directory: String?
    public var format: MaskFormat = .rle
    /// Overlay video path (.mp4), or nil.
    public var overlay: String?
    /// Directory for low-res logits as .npy, or nil.
    public var logitsDirectory: String?

    public init(directory: String?, format: MaskFormat = .rle, overlay: String? = nil, logitsDirectory: String? = nil) {
        self.directory = directory
        self.format = format
        self.overlay = overlay
        self.logitsDirectory = logitsDirectory
    }
}

/// Everything a tracking run needs.
public struct TrackingRequest: Sendable {
    /// Anything FFmpeg opens.
    public var input: String
    public var inputOptions: InputOptions
    public var prompts: [TrackingPrompt]
    public var output: OutputOptions
    /// Stop after this many frames.
    public var maxFrames: Int?
    /// Live mode (newest frame wins); nil = decided by the source.
    public var live: Bool?
    public var trackerOptions: TrackerOptions

    public init(input: String, inputOptions: InputOptions = InputOptions(), prompts: [TrackingPrompt], output: OutputOptions,
                maxFrames: Int? = nil, live: Bool? = nil, trackerOptions: TrackerOptions = TrackerOptions()) {
        self.input = input
        self.inputOptions = inputOptions
        self.prompts = prompts
        self.output = output
        self.maxFrames = maxFrames
        self.live = live
        self.trackerOptions = trackerOptions
    }
}

/// Errors of a tracking run that are not the modules' own.
public enum TrackingError: Error, Equatable, CustomStringConvertible {
    case noPrompts
    case invalidObjectID(Int)
    case promptOutsideFrame(objectID: Int, reason: String)
    case maskSize(objectID: Int, expected: [Int], actual: [Int])
    case noPromptOnFirstFrame(frame: Int)
    case cancelled
    /// A saved state or partial output could not be used to resume a run.
    case resumeFailed(reason: String)

    public var description: String {
        switch self {
        case .noPrompts: return "no prompts: give at least one object (box, point or mask)"
        case let .invalidObjectID(id): return "object id \(id) is invalid: ids are positive integers"
        case let .promptOutsideFrame(id, reason): return "prompt for object \(id): \(reason)"
        case let .maskSize(id, expected, actual):
            return "mask for object \(id) is \(actual[1])x\(actual[0]) but the video is \(expected[1])x\(expected[0])"
        case let .noPromptOnFirstFrame(frame): return "the first prompt is on frame \(frame); at least one object must be prompted on frame 0"
        case .cancelled: return "cancelled"
        case let .resumeFailed(reason): return "cannot resume: \(reason)"
        }
    }
}
