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
        /// Stop tracking the object from this frame on (a running job's object removed).
        case removal
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

    /// What the prompt rules look at: the clicks and box, or only a mask's size.
    public enum Shape: Sendable {
        case points(ImagePrompt)
        case mask(width: Int, height: Int)
    }

    /// Checks the prompt against a `width` x `height` source of `frameCount` frames (nil:
    /// unknown, e.g. live) with `PromptRules`, the one owner of these rules.
    public func check(width: Int, height: Int, frameCount: Int? = nil) throws(RunError) {
        let shape: Shape
        switch kind {
        case let .points(prompt): shape = .points(prompt)
        case let .mask(mask): shape = .mask(width: mask.width, height: mask.height)
        case .removal:
            do { try PromptRules.checkObjectID(objectID) } catch { throw .prompt(objectID: objectID, frame: frame, error) }
            return
        }
        try Self.check(objectID: objectID, frame: frame, shape: shape, width: width, height: height, frameCount: frameCount)
    }

    /// `check(width:height:frameCount:)` for a prompt not built yet (e.g. a mask not decoded).
    public static func check(objectID: Int, frame: Int, shape: Shape, width: Int, height: Int,
                             frameCount: Int? = nil) throws(RunError) {
        do {
            try PromptRules.checkObjectID(objectID)
            try PromptRules.checkFrame(frame, frameCount: frameCount)
            switch shape {
            case let .points(prompt): try PromptRules.check(prompt, width: width, height: height)
            case let .mask(maskWidth, maskHeight):
                try PromptRules.checkMask(width: maskWidth, height: maskHeight, sourceWidth: width, sourceHeight: height)
            }
        } catch {
            throw .prompt(objectID: objectID, frame: frame, error)
        }
    }

    /// The tracker's form of the prompt (nil for a removal).
    var objectPrompt: ObjectPrompt? {
        switch kind {
        case let .points(prompt): return .points(prompt)
        case let .mask(mask):
            let values = mask.withUnsafeBufferPointer { $0.map { Float($0) } }
            return .mask(Tensor(shape: [mask.height, mask.width], values: values))
        case .removal: return nil
        }
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

    /// Largest object id the format can hold (a palette PNG stores ids as 8-bit pixel values).
    public var maxObjectID: Int? { self == .palette ? 255 : nil }
}

/// Where and how results are written.
public struct OutputOptions: Sendable {
    /// Directory for masks (created if missing); nil writes no masks.
    public var directory: String?
    /// Mask formats written into `directory`, each at most once, in the order given (their files
    /// do not collide: `OutputLayout`). Never empty.
    public var formats: [MaskFormat] = [.rle]
    /// The first (main) format; setting it makes it the only one.
    public var format: MaskFormat {
        get { formats.first ?? .rle }
        set { formats = [newValue] }
    }
    /// Largest object id every format can hold (nil: no limit).
    public var maxObjectID: Int? { formats.compactMap(\.maxObjectID).min() }
    /// Overlay video path (.mp4), or nil.
    public var overlay: String?
    /// Directory for low-res logits as .npy, or nil.
    public var logitsDirectory: String?
    /// Also write masks.jsonl when the format is png or palette (the daemon serves every export
    /// format from it).
    public var recordJSONL = false

    public init(directory: String?, format: MaskFormat = .rle, overlay: String? = nil, logitsDirectory: String? = nil) {
        self.init(directory: directory, formats: [format], overlay: overlay, logitsDirectory: logitsDirectory)
    }

    /// Several formats at once (duplicates are dropped; an empty list means rle).
    public init(directory: String?, formats: [MaskFormat], overlay: String? = nil, logitsDirectory: String? = nil) {
        self.directory = directory
        var unique: [MaskFormat] = []
        for format in formats where !unique.contains(format) { unique.append(format) }
        self.formats = unique.isEmpty ? [.rle] : unique
        self.overlay = overlay
        self.logitsDirectory = logitsDirectory
    }
}

/// Which way a file is tracked from its prompts.
public enum TrackingDirection: String, Sendable, Codable, CaseIterable {
    /// From the earliest prompted frame to the end.
    case forward
    /// From the earliest prompted frame back to frame 0.
    case backward
    /// Forward, then backward: every frame of the file.
    case both
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
    /// Keep the newest frame's RGB at source size for `TrackingRun.latestFrame` (a live view).
    public var keepLatestFrame = false
    /// Which way to track (nil: both for files, forward for live sources). Prompts after frame 0
    /// and backward tracking use the official predictor's semantics on a file read at random
    /// (`PredictorRun`); prompts on frame 0 tracked forward stream with bounded memory.
    public var direction: TrackingDirection?

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
