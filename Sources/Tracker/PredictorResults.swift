// PredictorResults: what VideoPredictor calls return — every object's result on a frame (as the
// official `add_new_points_or_box`, `add_new_mask` and `propagate_in_video` return every object's
// masks), a prompt's multimask candidates, propagation control — and its errors.
//
// Shapes: low-res logits [S/4, S/4]; `ObjectFrameResult.logits(height:width:)` resizes them to the
// source as the official predictor does (bilinear, align_corners false); mask = logits > 0.

import SAM2
import Tensor

/// Every object's result on one frame.
public struct PredictorFrame: Sendable {
    public var frame: Int
    /// One result per object, ascending id. An object with no output on this frame yet (an
    /// object prompted later and not propagated here) gets the official placeholder: logits and
    /// score `noObjectScore` (-1024), `prompted` false; its id is in `objectsWithoutOutput`.
    public var objects: [ObjectFrameResult]
    /// Ids of the objects whose result is a placeholder.
    public var objectsWithoutOutput: [Int]

    public init(frame: Int, objects: [ObjectFrameResult], objectsWithoutOutput: [Int]) {
        self.frame = frame
        self.objects = objects
        self.objectsWithoutOutput = objectsWithoutOutput
    }

    /// The result of object `id`, if it exists.
    public func result(_ id: Int) -> ObjectFrameResult? { objects.first { $0.objectID == id } }
}

/// One of the masks the decoder proposed for an ambiguous prompt (a single click on a frame the
/// object has no memory for), before the predictor kept the one with the highest predicted IoU.
public struct MaskCandidate: Sendable {
    /// Low-res logits [S/4, S/4] (not hole-filled).
    public var lowResLogits: Tensor
    /// Predicted IoU.
    public var iou: Float

    public init(lowResLogits: Tensor, iou: Float) {
        self.lowResLogits = lowResLogits
        self.iou = iou
    }
}

/// What a prompt returns.
public struct PromptResult: Sendable {
    /// Every object's result on the prompted frame (the prompted object's is the new one).
    public var frame: PredictorFrame
    /// The prompted object's candidates when the decoder gave several (in decoder order; the
    /// result is the one with the highest `iou`, first on ties); empty otherwise.
    public var candidates: [MaskCandidate]

    public init(frame: PredictorFrame, candidates: [MaskCandidate]) {
        self.frame = frame
        self.candidates = candidates
    }
}

/// What a propagation callback tells the predictor after each frame.
public enum PropagationControl: Sendable {
    case `continue`
    /// Stop after this frame (its results are kept).
    case stop
}

/// How a propagation ended.
public struct PropagationSummary: Sendable, Equatable {
    /// Frames processed and handed to the callback, in order.
    public var frames: [Int]
    /// True when the callback stopped it before its last frame.
    public var cancelled: Bool

    public init(frames: [Int], cancelled: Bool) {
        self.frames = frames
        self.cancelled = cancelled
    }
}

/// Errors of `VideoPredictor` calls. Nothing changes in the predictor's state when a call throws
/// before its first frame is processed; a propagation that throws keeps the frames done before.
public enum PredictorError: Error, CustomStringConvertible, Sendable {
    /// A frame index the video does not have (`PromptError.negativeFrame` / `.frameOutOfRange`).
    case invalidFrame(PromptError)
    /// A prompt that breaks `PromptRules` (object id, clicks, box, mask size).
    case prompt(PromptError)
    /// An object id the predictor has no prompt for.
    case unknownObject(Int)
    /// A box added to earlier clicks (`clearOld: false`); the official predictor refuses it too.
    case boxWithoutClearing
    /// Low-res mask logits passed with clicks: the predictor refines from the frame's previous
    /// logits itself; pass a mask prompt with `addMask`.
    case maskLogitsNotSupported
    /// `propagate` before any prompt.
    case noObjects
    /// An object whose prompts were all cleared has nothing to track from.
    case objectWithoutPrompts(Int)
    /// A negative `maxFrames`.
    case invalidFrameLimit(Int)
    /// The frame provider returned a tensor of the wrong shape.
    case frameShape(frame: Int, expected: [Int], actual: [Int])
    /// The frame provider failed to read a frame.
    case frameUnreadable(frame: Int, cause: any Error)

    public var description: String {
        switch self {
        case let .invalidFrame(error): return error.description
        case let .prompt(error): return error.description
        case let .unknownObject(id): return "object \(id) has no prompt in this session: add points, a box or a mask for it first"
        case .boxWithoutClearing:
            return "a box cannot be added to earlier clicks: send the box with clearOld true (it replaces the frame's clicks), then add clicks"
        case .maskLogitsNotSupported:
            return "mask logits cannot be given with clicks here: the previous prediction on the frame is used; use addMask for a mask prompt"
        case .noObjects: return "nothing to propagate: add points, a box or a mask for an object first"
        case let .objectWithoutPrompts(id):
            return "object \(id) has no prompted frame left: prompt it on some frame again or remove it"
        case let .invalidFrameLimit(n): return "maxFrames \(n) is negative"
        case let .frameShape(frame, expected, actual):
            return "frame \(frame) has shape \(actual), expected \(expected): the frame provider must give preprocessed model input"
        case let .frameUnreadable(frame, cause): return "frame \(frame) could not be read: \(cause)"
        }
    }
}
