// VideoTracker: the streaming inference state of SAM 2 video tracking. Frames arrive one at a
// time (already preprocessed tensors [1, 3, S, S]; the tracker knows nothing of decoding); objects
// are added, corrected and removed on the current frame; each step returns every object's
// low-res logits and presence score. The image encoder runs once per frame for all objects.
//
// Equivalence with the official `SAM2VideoPredictor`: a step is "propagate this frame for every
// known object", then "add the prompts given for this frame" (add_new_points_or_box /
// add_new_mask on an already tracked frame is a correction). Memories of frame t become visible
// from frame t + 1 on, as after the official `propagate_in_video_preflight`.

import Foundation
import SAM2
import Tensor

/// A prompt for one object on the current frame, in source pixels.
public enum ObjectPrompt: Sendable {
    /// Clicks (label 1 foreground, 0 background) and/or a box.
    case points(ImagePrompt)
    /// A binary mask at the source resolution [H, W] (values > 0 are the object).
    case mask(Tensor)
}

/// One object's result on one frame.
public struct ObjectFrameResult: Sendable {
    public var objectID: Int
    public var frame: Int
    /// Low-res mask logits [S/4, S/4] (after hole filling).
    public var lowResLogits: Tensor
    /// Object presence logit (> 0: visible).
    public var objectScore: Float
    /// True when this frame is a prompted (conditioning or corrected) frame of the object.
    public var prompted: Bool

    /// Mask logits at `height` x `width` (bilinear, align_corners false), as the official
    /// predictor resizes to the video resolution.
    public func logits(height: Int, width: Int) -> Tensor {
        let side = lowResLogits.shape
        return lowResLogits.reshaped([1, 1, side[0], side[1]])
            .interpolate(height: height, width: width, mode: .bilinear(antialias: false))
            .reshaped([height, width])
    }
}

/// Errors from tracker calls.
public enum TrackerError: Error, Equatable, CustomStringConvertible, Sendable {
    case noFrame
    case unknownObject(Int)
    case imageShape(expected: [Int], actual: [Int])
    /// A prompt that breaks `PromptRules` (object id, clicks, box or mask size).
    case prompt(PromptError)

    public var description: String {
        switch self {
        case .noFrame: return "no frame yet: call step(frame:) before prompting"
        case let .unknownObject(id): return "object \(id) is not being tracked"
        case let .imageShape(expected, actual): return "frame tensor has shape \(actual), expected \(expected)"
        case let .prompt(error): return error.description
        }
    }
}

/// The streaming tracker. Not thread-safe: drive one tracker from one thread; one `SAM2Model`
/// may serve many trackers.
public final class VideoTracker {
    public let model: SAM2Model
    public let options: TrackerOptions
    /// Source frame size the prompts and masks refer to.
    public let sourceHeight: Int, sourceWidth: Int

    /// Index of the current frame (-1 before the first).
    public private(set) var frameIndex = -1
    /// Memory of every object, by id.
    public private(set) var objects: [Int: ObjectMemory] = [:]
    /// Results of the current frame, by object id (latest prompt or tracking result).
    public private(set) var current: [Int: PendingFrame] = [:]
    private var features: FrameFeatures?
    /// The current frame's object-independent start of memory attention (computed by the first
    /// object that needs it, reused by the others).
    private var memoryAttentionStart: Tensor?
    /// Seconds spent per stage since the tracker was created (or `timings` was reset).
    public var timings = StageTimings()
    /// Called with named intermediate tensors ("<frame>.<object>.conditioned_track" /
    /// "..._prompt": memory-conditioned features [1, C, h, w]); names match the reference dumps.
    public var trace: ((_ name: String, _ tensor: Tensor) -> Void)?
    /// The memory encoder's (constant) position encoding as tokens [h*w, Cm].
    let memoryPosition: Tensor

    /// What an object produced on the current frame, not yet committed to its memory.
    public struct PendingFrame: Sendable {
        public var result: ObjectFrameResult
        var pointer: [Float]
        /// Memory already encoded (tracked frames) or nil (prompted frames: encoded at commit).
        var memory: StoredMemory?
        var conditioning: Bool
    }

    public init(model: SAM2Model, sourceHeight: Int, sourceWidth: Int, options: TrackerOptions = TrackerOptions()) {
        self.model = model
        self.options = options
        self.sourceHeight = sourceHeight
        self.sourceWidth = sourceWidth
        let grid = model.config.embeddingSize, cm = model.config.memoryEncoder.outDim
        memoryPosition = PositionEncoding.sine2D(channels: cm, height: grid, width: grid)
            .reshaped([cm, grid * grid]).permuted([1, 0])
    }

    /// Object ids in ascending order.
    public var objectIDs: [Int] { objects.keys.sorted() }

    /// min(frame count, max_obj_ptrs_in_encoder); unknown length counts as unbounded.
    var maxPointers: Int { min(options.frameCount ?? Int.max, model.config.maxObjPtrsInEncoder) }

    /// Advances to the next frame, tracks every known object on it, then applies `prompts`
    /// (new objects or corrections). Returns one result per object, by ascending id.
    public func step(frame image: Tensor, prompts: [Int: ObjectPrompt] = [:]) throws -> [ObjectFrameResult] {
        let encoder = frameEncoder
        try encoder.checkShape(image)
        for (id, prompt) in prompts { try validate(prompt, objectID: id) }  // before the encoder's work
        return try advance(to: encoder.encode(image), prompts: prompts)
    }

    /// The image encoder of this tracker's model and options, to run on another thread (a
    /// pipeline encodes frame t + 1 while this tracker steps through frame t).
    public var frameEncoder: FrameEncoder { FrameEncoder(model: model, precision: options.encoderPrecision) }

    /// `step(frame:prompts:)` with the frame's trunk outputs already computed (by `frameEncoder`,
    /// on any thread): the same results, the encoder's time added to `timings`.
    public func step(encoded frame: EncodedFrame, prompts: [Int: ObjectPrompt] = [:]) throws -> [ObjectFrameResult] {
        for (id, prompt) in prompts { try validate(prompt, objectID: id) }
        return try advance(to: frame, prompts: prompts)
    }

    /// The step itself, with `prompts` already validated.
    private func advance(to frame: EncodedFrame, prompts: [Int: ObjectPrompt]) throws -> [ObjectFrameResult] {
        commitCurrentFrame()
        frameIndex += 1
        let (frameFeatures, neckSeconds) = frameEncoder.finish(frame)
        timings.record(\.encoder, seconds: frame.seconds + neckSeconds)
        features = frameFeatures
        memoryAttentionStart = nil
        for id in objectIDs {
            if case .mask = prompts[id] { continue }  // a mask prompt ignores the tracked result
            current[id] = trackObject(id, frame: frameFeatures)
        }
        for id in prompts.keys.sorted() {
            _ = try prompt(objectID: id, prompts[id]!)
        }
        return objectIDs.compactMap { current[$0]?.result }
    }

    /// Adds an object, or corrects one, on the current frame.
    @discardableResult
    public func prompt(objectID id: Int, _ prompt: ObjectPrompt) throws -> ObjectFrameResult {
        guard let frame = features else { throw TrackerError.noFrame }
        try validate(prompt, objectID: id)
        let t = frameIndex
        let isNew = objects[id] == nil
        let tracked = current[id] != nil  // tracked (or prompted) on this frame already
        let heads: SAMHeadsOutput
        switch prompt {
        case let .mask(mask):
            heads = timings.measure(\.decoder) {
                model.useMaskAsOutput(frame.visionFeatures, highRes: frame.highRes, mask: modelInputMask(mask))
            }
        case let .points(imagePrompt):
            let points = modelPoints(imagePrompt)
            // A correction on a tracked frame starts from the frame's current logits.
            var previous: Tensor? = nil
            if tracked, let last = current[id]?.result.lowResLogits {
                previous = last.clamped(to: -32...32).reshaped([1, 1, last.shape[0], last.shape[1]])
            }
            // A new object starts from the frame alone (an initial conditioning frame); a known
            // object is corrected with its memory of earlier frames.
            let initial = isNew
            let backbone: Tensor
            if initial {
                backbone = model.featuresWithoutMemory(frame, batch: 1)
            } else {
                backbone = conditionOnMemory(id, frame: frame)
                trace?("\(t).\(id).conditioned_prompt", backbone)
            }
            let count = points?.labels.count ?? 0
            let config = model.config
            let multimask = config.multimaskOutputInSam && (initial || config.multimaskOutputForTracking)
                && config.multimaskMinPtNum <= count && count <= config.multimaskMaxPtNum
            heads = timings.measure(\.decoder) {
                model.forwardSAMHeads(backbone, points: [points], maskInputs: previous, highRes: frame.highRes,
                                      multimaskOutput: multimask)
            }
        }
        if isNew { objects[id] = ObjectMemory() }
        let conditioning = isNew || options.correctionsAsConditioning
        let result = makeResult(id: id, heads: heads, prompted: true)
        current[id] = PendingFrame(result: result, pointer: heads.objectPointers.scalars, memory: nil, conditioning: conditioning)
        if tracked && options.clearRecentMemoryOnCorrection {
            objects[id]!.clearRecent(in: (t - model.config.numMaskmem)...(t + model.config.numMaskmem))
        }
        return result
    }

    /// Checks a prompt without running anything (so that `step` fails before changing state).
    /// The prompt rules (`PromptRules`) for this source; their errors become `TrackerError.prompt`.
    func validate(_ prompt: ObjectPrompt, objectID id: Int) throws {
        do {
            try PromptRules.checkObjectID(id)
            switch prompt {
            case let .mask(mask):
                try MaskPrompt.check(mask, sourceWidth: sourceWidth, sourceHeight: sourceHeight)
            case let .points(imagePrompt):
                try PromptRules.check(imagePrompt, width: sourceWidth, height: sourceHeight)
            }
        } catch { throw TrackerError.prompt(error) }
    }

    /// Source-pixel clicks/box as model-input point prompts (call `validate` first).
    func modelPoints(_ prompt: ImagePrompt) -> PointPrompts? {
        prompt.modelPoints(imageSize: model.config.imageSize, sourceHeight: sourceHeight, sourceWidth: sourceWidth)
    }

    /// Stops tracking an object and forgets its memory.
    public func removeObject(_ id: Int) throws {
        guard objects[id] != nil else { throw TrackerError.unknownObject(id) }
        objects[id] = nil
        current[id] = nil
    }

    /// Memory attention of a known object's features on the current frame over its memory tokens
    /// (timed as `memoryAttention`; the frame's object-independent start is computed once).
    func conditionOnMemory(_ id: Int, frame: FrameFeatures) -> Tensor {
        var memoryTokens = 0
        let conditioned = timings.measure(\.memoryAttention) { Precision.$current.withValue(options.memoryAttentionPrecision) {
            let selection = objects[id]!.selection(at: frameIndex, config: model.config, maxPointers: maxPointers)
            let tokens = model.memoryTokens(selection, memoryPosition: memoryPosition, maxPointers: maxPointers)
            memoryTokens = tokens.memory.shape[0]
            let start = memoryAttentionStart ?? model.memoryAttentionStart(frame)
            memoryAttentionStart = start
            return model.conditionOnMemory(frame, memory: tokens.memory, memoryPosition: tokens.position,
                                           pointerTokens: tokens.pointerTokens, keys: tokens.keys, start: start)
        } }
        timings.memoryTokens += memoryTokens
        return conditioned
    }

    /// Tracks one known object on the current frame (`track_step` with memory, memory encoded).
    func trackObject(_ id: Int, frame: FrameFeatures) -> PendingFrame {
        let t = frameIndex
        let conditioned = conditionOnMemory(id, frame: frame)
        trace?("\(t).\(id).conditioned_track", conditioned)
        let config = model.config
        // No points while tracking: multimask when 0 points are allowed.
        let multimask = config.multimaskOutputInSam && config.multimaskOutputForTracking && config.multimaskMinPtNum <= 0
        let heads = timings.measure(\.decoder) {
            model.forwardSAMHeads(conditioned, points: [nil], maskInputs: nil, highRes: frame.highRes, multimaskOutput: multimask)
        }
        let scores = heads.objectScores.scalars
        let encoded = timings.measure(\.memoryEncoder) { Precision.$current.withValue(options.memoryEncoderPrecision) {
            model.encodeMemory(frame, highResMasks: heads.highResMasks, objectScores: scores, maskFromPoints: false)
        } }
        let memory = StoredMemory(encoded.features.reshaped(Array(encoded.features.shape.dropFirst())),
                                  bfloat16: options.bfloat16Memories)
        return PendingFrame(result: makeResult(id: id, heads: heads, prompted: false), pointer: heads.objectPointers.scalars,
                            memory: memory, conditioning: false)
    }

    /// Result of the heads for one object, hole-filled.
    func makeResult(id: Int, heads: SAMHeadsOutput, prompted: Bool) -> ObjectFrameResult {
        ObjectFrameResult(objectID: id, frame: frameIndex,
                          lowResLogits: HoleFilling.filledPlane(heads.lowResMasks, maxArea: options.fillHoleArea),
                          objectScore: heads.objectScores.scalars[0], prompted: prompted)
    }

    /// A source-resolution mask [H, W] as the model's binary mask input [1, 1, S, S].
    func modelInputMask(_ mask: Tensor) -> Tensor {
        MaskPrompt.modelInput(mask, imageSize: model.config.imageSize)
    }

    /// Writes the current frame's results into the objects' memories (prompted frames get their
    /// memory encoded from the binarised mask, as the official preflight does). `step` does this
    /// for the previous frame; call it after the last frame to inspect or save the final state.
    public func commitCurrentFrame() {
        guard let frame = features else { return }
        let t = frameIndex
        let memoryCapacity = model.config.numMaskmem - 1
        let pointerCapacity = max(maxPointers - 1, 0)
        for (id, pending) in current.sorted(by: { $0.key < $1.key }) where objects[id] != nil {
            var memory = pending.memory
            if memory == nil {
                let s = model.config.imageSize
                let side = pending.result.lowResLogits.shape
                let highRes = pending.result.lowResLogits.reshaped([1, 1, side[0], side[1]])
                    .interpolate(height: s, width: s, mode: .bilinear(antialias: false))
                let encoded = timings.measure(\.memoryEncoder) { Precision.$current.withValue(options.memoryEncoderPrecision) {
                    model.encodeMemory(frame, highResMasks: highRes, objectScores: [pending.result.objectScore], maskFromPoints: true)
                } }
                memory = StoredMemory(encoded.features.reshaped(Array(encoded.features.shape.dropFirst())),
                                      bfloat16: options.bfloat16Memories)
            }
            let entry = FrameMemory(frame: t, memory: memory!, pointer: pending.pointer, objectScore: pending.result.objectScore)
            if pending.conditioning {
                objects[id]!.addConditioning(entry)
            } else {
                objects[id]!.addRecent(entry, memoryCapacity: memoryCapacity, pointerCapacity: pointerCapacity)
            }
        }
        current.removeAll()
        features = nil
        memoryAttentionStart = nil
    }

    /// Installs restored state (see `TrackerState.swift`).
    func restore(frameIndex: Int, objects: [Int: ObjectMemory]) {
        self.frameIndex = frameIndex
        self.objects = objects
    }

    /// Bytes held by all objects' memories (features and pointers).
    public var memoryByteCount: Int { objects.values.reduce(0) { $0 + $1.byteCount } }
}
