// VideoPredictor: the official `SAM2VideoPredictor`'s semantics with random access to the frames
// (DESIGN §7.2, issues 25 and 26): prompts on any frame for any object, each returning every
// object's result on that frame at once; propagation forward or in reverse from any frame,
// cancellable after any frame; corrections on tracked frames; objects removed; the state reset.
// Beside the streaming `VideoTracker` (frames in order, bounded memory), this keeps every frame's
// output, as the official predictor does.
//
// Mapping to the official API:
//   init_state(video)                 -> VideoPredictor(model:frames:options:)
//   add_new_points_or_box(clear_old_points=)  -> addPointsOrBox(frame:object:prompt:clearOld:)
//   add_new_mask                      -> addMask(frame:object:mask:)
//   propagate_in_video(start_frame_idx=, max_frame_num_to_track=, reverse=)
//                                     -> propagate(start:maxFrames:reverse:onFrame:)
//   clear_all_prompts_in_frame        -> clearPrompts(frame:object:)
//   remove_object / reset_state       -> removeObject(_:) / resetState()
// A prompt on a frame the object was not yet tracked on starts from that frame alone (an initial
// conditioning frame: no memory; one click gives three candidate masks and the best by predicted
// IoU is kept); on a tracked frame it is a correction: the frame's features are conditioned on
// the object's memory and the decoder also gets the frame's previous logits. Prompt outputs are
// committed (their memories encoded) when the next propagation starts.
//
// Legend: S model image size, C model width, Cm memory width; frames [1, 3, S, S]; low-res
// logits [S/4, S/4]; prompts and masks in source pixels.

import SAM2
import Tensor

/// Interactive video segmentation over a random-access video.
///
/// Threads: drive one predictor from one thread at a time (calls are not synchronised; a
/// propagation's callback runs on the calling thread, and returning `.stop` from it is the way to
/// cancel). The `SAM2Model` is immutable and may be shared by any number of predictors and
/// trackers. Compute budget: calls run in the caller's `ComputeContext` (task-local).
public final class VideoPredictor {
    public let model: SAM2Model
    public let options: PredictorOptions
    /// The video's frames (read on demand, features cached).
    public let frames: any FrameProvider
    /// Every object's prompts and outputs, by id.
    public internal(set) var objects: [Int: PredictorObjectState] = [:]
    /// Seconds spent per model stage since creation (or since the caller reset it).
    public var timings = StageTimings()
    var cache: FeatureCache
    /// Memories whose projected keys are kept: each object's latest selection.
    var attendedKeys = AttendedKeyCaches()
    /// The memory encoder's constant position encoding as tokens [h*w, Cm].
    let memoryPosition: Tensor

    /// A predictor over `frames` (the official `init_state`). Frames are read when first needed.
    public init(model: SAM2Model, frames: any FrameProvider, options: PredictorOptions = PredictorOptions()) {
        self.model = model
        self.frames = frames
        self.options = options
        cache = FeatureCache(capacityBytes: options.featureCacheBytes)
        let grid = model.config.embeddingSize, cm = model.config.memoryEncoder.outDim
        memoryPosition = PositionEncoding.sine2D(channels: cm, height: grid, width: grid)
            .reshaped([cm, grid * grid]).permuted([1, 0])
    }

    public var frameCount: Int { frames.frameCount }
    public var sourceWidth: Int { frames.sourceWidth }
    public var sourceHeight: Int { frames.sourceHeight }
    /// Object ids in ascending order.
    public var objectIDs: [Int] { objects.keys.sorted() }
    /// Bytes held by every object's outputs (logits, pointers, memories), for a session's cap.
    public var memoryByteCount: Int { objects.values.reduce(0) { $0 + $1.byteCount } }
    /// The feature cache's counters and size.
    public var featureCacheStatistics: FeatureCacheStatistics { cache.statistics }
    /// Frames whose features are cached, least recently used first.
    public var cachedFrames: [Int] { cache.frames }

    // MARK: Prompts

    /// Adds clicks and/or a box for `object` on `frame` (the official `add_new_points_or_box`).
    /// `clearOld` true replaces the object's earlier clicks on this frame; false appends to them
    /// (a box needs `clearOld`). Returns every object's result on the frame and, for an ambiguous
    /// prompt, the candidates the decoder chose from.
    @discardableResult
    public func addPointsOrBox(frame t: Int, object id: Int, prompt: ImagePrompt, clearOld: Bool = true) throws -> PromptResult {
        try checkFrame(t)
        guard prompt.maskLogits == nil else { throw PredictorError.maskLogitsNotSupported }
        if prompt.box != nil && !clearOld { throw PredictorError.boxWithoutClearing }
        var object = objects[id] ?? PredictorObjectState()
        let earlier = clearOld ? nil : object.pointInputs[t]
        let combined = ImagePrompt(points: (earlier?.points ?? []) + prompt.points, box: earlier?.box ?? prompt.box)
        do {
            try PromptRules.checkObjectID(id)
            try PromptRules.check(ImagePrompt(points: prompt.points, box: prompt.box), width: sourceWidth, height: sourceHeight)
            try PromptRules.check(combined, width: sourceWidth, height: sourceHeight)
        } catch { throw PredictorError.prompt(error) }

        let features = try frameFeatures(t)
        let initial = object.tracked[t] == nil || object.conditioning.isEmpty
        let reverse = object.tracked[t] ?? false
        let conditioning = initial || options.correctionsAsConditioning
        // The frame's latest logits for this object feed the decoder with the clicks.
        let previous = object.output(on: t, pendingConditioning: conditioning)?.lowResLogits
        let maskInput = previous.map { $0.clamped(to: -32...32).reshaped([1, 1, $0.shape[0], $0.shape[1]]) }
        let backbone = initial ? model.featuresWithoutMemory(features, batch: 1)
                               : conditionOnMemory(object, id: id, frame: t, reverse: reverse, features: features)
        let points = combined.modelPoints(imageSize: model.config.imageSize, sourceHeight: sourceHeight, sourceWidth: sourceWidth)
        let config = model.config
        let count = points?.labels.count ?? 0
        let multimask = config.multimaskOutputInSam && (initial || config.multimaskOutputForTracking)
            && config.multimaskMinPtNum <= count && count <= config.multimaskMaxPtNum
        let heads = timings.measure(\.decoder) {
            model.forwardSAMHeads(backbone, points: [points], maskInputs: maskInput, highRes: features.highRes,
                                  multimaskOutput: multimask)
        }
        object.pointInputs[t] = combined
        object.maskInputFrames.remove(t)
        object.setPending(t, output(heads), conditioning: conditioning)
        objects[id] = object
        return PromptResult(frame: consolidated(t, pendingConditioning: conditioning), candidates: candidates(heads))
    }

    /// Adds a mask for `object` on `frame` (the official `add_new_mask`): `mask` [H, W] at the
    /// source size, values > 0 are the object (an all-zero mask says the object is absent). The
    /// mask itself becomes the frame's output (logits +10 / -10 after resizing).
    @discardableResult
    public func addMask(frame t: Int, object id: Int, mask: Tensor) throws -> PromptResult {
        try checkFrame(t)
        do {
            try PromptRules.checkObjectID(id)
            try MaskPrompt.check(mask, sourceWidth: sourceWidth, sourceHeight: sourceHeight)
        } catch { throw PredictorError.prompt(error) }
        let features = try frameFeatures(t)
        var object = objects[id] ?? PredictorObjectState()
        let conditioning = object.tracked[t] == nil || object.conditioning.isEmpty || options.correctionsAsConditioning
        let input = MaskPrompt.modelInput(mask, imageSize: model.config.imageSize)
        let heads = timings.measure(\.decoder) {
            model.useMaskAsOutput(features.visionFeatures, highRes: features.highRes, mask: input)
        }
        object.maskInputFrames.insert(t)
        object.pointInputs[t] = nil
        object.setPending(t, output(heads), conditioning: conditioning)
        objects[id] = object
        return PromptResult(frame: consolidated(t, pendingConditioning: conditioning), candidates: [])
    }

    // MARK: Shared steps

    /// Throws `invalidFrame` unless 0 <= t < frameCount (`PromptRules.checkFrame`).
    func checkFrame(_ t: Int) throws {
        do { try PromptRules.checkFrame(t, frameCount: frameCount) } catch { throw PredictorError.invalidFrame(error) }
    }

    /// The image features of frame `t`, from the cache or the image encoder.
    func frameFeatures(_ t: Int) throws -> FrameFeatures {
        try cache.features(t) {
            let image: Tensor
            do { image = try frames.frame(t) } catch { throw PredictorError.frameUnreadable(frame: t, cause: error) }
            let s = model.config.imageSize
            guard image.shape == [1, 3, s, s] else {
                throw PredictorError.frameShape(frame: t, expected: [1, 3, s, s], actual: image.shape)
            }
            return timings.measure(\.encoder) {
                Precision.$current.withValue(options.encoderPrecision) { model.frameFeatures(image) }
            }
        }
    }

    /// Memory attention of one object's view of frame `t` over its committed memories, tracking
    /// forward or in reverse: [1, C, h, w].
    func conditionOnMemory(_ object: PredictorObjectState, id: Int, frame t: Int, reverse: Bool, features: FrameFeatures) -> Tensor {
        var memoryTokens = 0
        let conditioned = timings.measure(\.memoryAttention) { Precision.$current.withValue(options.memoryAttentionPrecision) {
            let selection = object.selection(at: t, reverse: reverse, config: model.config, frameCount: frameCount)
            attendedKeys.attend(selection, object: id)
            let tokens = model.memoryTokens(selection, memoryPosition: memoryPosition,
                                            maxPointers: min(frameCount, model.config.maxObjPtrsInEncoder))
            memoryTokens = tokens.memory.shape[0]
            let start: Tensor
            if let cached = cache.memoryAttentionStart(t) {
                start = cached
            } else {
                start = model.memoryAttentionStart(features)
                cache.setMemoryAttentionStart(t, start)
            }
            return model.conditionOnMemory(features, memory: tokens.memory, memoryPosition: tokens.position,
                                           pointerTokens: tokens.pointerTokens, keys: tokens.keys, start: start)
        } }
        timings.memoryTokens += memoryTokens
        return conditioned
    }

    /// A prompt's output from the SAM heads of one object (memory encoded later, at commit).
    func output(_ heads: SAMHeadsOutput) -> FrameOutput {
        FrameOutput(lowResLogits: HoleFilling.filledPlane(heads.lowResMasks, maxArea: options.fillHoleArea),
                    pointer: heads.objectPointers.scalars, objectScore: heads.objectScores.scalars[0], memory: nil)
    }

    /// The decoder's candidate masks of one object, if it produced several.
    func candidates(_ heads: SAMHeadsOutput) -> [MaskCandidate] {
        guard let all = heads.candidates else { return [] }
        let (m, h, w) = (all.shape[1], all.shape[2], all.shape[3])
        return (0..<m).map { j in
            MaskCandidate(lowResLogits: all.slice(axis: 1, j..<(j + 1)).reshaped([h, w]), iou: heads.candidateIoU[j])
        }
    }

    /// Every object's result on frame `t` (the official consolidation): an uncommitted prompt
    /// output of the given kind (either when nil), else the committed one, else a placeholder.
    func consolidated(_ t: Int, pendingConditioning: Bool?) -> PredictorFrame {
        let side = model.config.imageSize / 4
        var results: [ObjectFrameResult] = [], missing: [Int] = []
        for id in objectIDs {
            let object = objects[id]!
            if let out = object.output(on: t, pendingConditioning: pendingConditioning) {
                results.append(ObjectFrameResult(objectID: id, frame: t, lowResLogits: out.lowResLogits,
                                                 objectScore: out.objectScore, prompted: object.hasPrompt(on: t)))
            } else {
                results.append(ObjectFrameResult(objectID: id, frame: t, lowResLogits: Tensor(repeating: noObjectScore, shape: [side, side]),
                                                 objectScore: noObjectScore, prompted: false))
                missing.append(id)
            }
        }
        return PredictorFrame(frame: t, objects: results, objectsWithoutOutput: missing)
    }
}
