// VideoPredictor+Propagation: `propagate_in_video` and its preflight. The preflight commits the
// prompts' outputs (encoding their memories from the binarised masks, as the official
// `propagate_in_video_preflight`); then every frame in the processing order gets, per object,
// either its conditioning output (a prompted frame) or a tracking step: memory attention over
// the object's memories in the tracking direction, the mask decoder, and the memory encoder. A
// tracked frame's output replaces whatever an earlier propagation stored for it, so a correction
// followed by a propagation recomputes every frame it changes.
//
// Frames: forward from `start` to min(start + maxFrames, frameCount - 1); in reverse from
// `start` down to max(start - maxFrames, 0), nothing when `start` is 0 (as the official code).

import SAM2
import Tensor

extension VideoPredictor {
    /// Propagates every object through the video (the official `propagate_in_video`).
    /// - Parameters:
    ///   - start: first frame; nil: the earliest prompted frame of any object.
    ///   - maxFrames: frames after `start` (as `max_frame_num_to_track`, so up to maxFrames + 1
    ///     frames are processed); nil: to the end (or to frame 0 in reverse).
    ///   - reverse: track towards frame 0.
    ///   - onFrame: called after each frame with every object's result on it; `.stop` ends the
    ///     propagation there (frames done keep their outputs).
    /// - Returns: the frames processed and whether the callback stopped it.
    @discardableResult
    public func propagate(start: Int? = nil, maxFrames: Int? = nil, reverse: Bool = false,
                          onFrame: (PredictorFrame) throws -> PropagationControl) throws -> PropagationSummary {
        if let start { try checkFrame(start) }
        if let maxFrames, maxFrames < 0 { throw PredictorError.invalidFrameLimit(maxFrames) }
        try commitPrompts()
        let first = start ?? objects.values.flatMap { $0.conditioning.map(\.frame) }.min()!
        let limit = maxFrames ?? frameCount
        let order: [Int]
        if reverse {
            order = first > 0 ? Array(stride(from: first, through: max(first - limit, 0), by: -1)) : []
        } else {
            order = Array(first...min(first + limit, frameCount - 1))
        }
        var done: [Int] = []
        for t in order {
            let results = try propagate(frame: t, reverse: reverse)
            done.append(t)
            if try onFrame(results) == .stop {
                return PropagationSummary(frames: done, cancelled: t != order.last)
            }
        }
        return PropagationSummary(frames: done, cancelled: false)
    }

    /// One frame of a propagation for every object; returns their results.
    func propagate(frame t: Int, reverse: Bool) throws -> PredictorFrame {
        let features = try frameFeatures(t)
        for id in objectIDs {
            var object = objects[id]!
            if object.conditioningOutput(t) != nil {
                if options.clearNonConditioningAroundInput { object.clearNonConditioning(in: clearRange(around: t)) }
            } else {
                object.nonConditioning[t] = track(object, id: id, frame: t, reverse: reverse, features: features)
            }
            object.tracked[t] = reverse
            objects[id] = object
        }
        return consolidated(t, pendingConditioning: nil)
    }

    /// A tracking step of one object on frame `t` (`track_step` with memory, memory encoded).
    func track(_ object: PredictorObjectState, id: Int, frame t: Int, reverse: Bool, features: FrameFeatures) -> FrameOutput {
        let config = model.config
        let conditioned = conditionOnMemory(object, id: id, frame: t, reverse: reverse, features: features)
        // No clicks while tracking: several masks when 0 points allow it (`_use_multimask`).
        let multimask = config.multimaskOutputInSam && config.multimaskOutputForTracking
            && config.multimaskMinPtNum <= 0 && 0 <= config.multimaskMaxPtNum
        let heads = timings.measure(\.decoder) {
            model.forwardSAMHeads(conditioned, points: [nil], maskInputs: nil, highRes: features.highRes, multimaskOutput: multimask)
        }
        let scores = heads.objectScores.scalars
        let encoded = timings.measure(\.memoryEncoder) { Precision.$current.withValue(options.memoryEncoderPrecision) {
            model.encodeMemory(features, highResMasks: heads.highResMasks, objectScores: scores, maskFromPoints: false)
        } }
        var out = output(heads)
        out.memory = StoredMemory(encoded.features.reshaped(Array(encoded.features.shape.dropFirst())),
                                  bfloat16: options.bfloat16Memories)
        return out
    }

    /// The official preflight: encodes the memories of prompt outputs (from their binarised
    /// low-res logits), files them as conditioning or non-conditioning outputs and forgets
    /// non-conditioning outputs of conditioning frames. Checks everything before changing state.
    func commitPrompts() throws {
        guard !objects.isEmpty else { throw PredictorError.noObjects }
        for id in objectIDs {
            let object = objects[id]!
            if object.conditioning.isEmpty && !object.pending.values.contains(where: \.conditioning) {
                throw PredictorError.objectWithoutPrompts(id)
            }
        }
        // Encode first (this may read frames, which may fail), then file.
        for id in objectIDs {
            var object = objects[id]!
            for frame in object.pendingOrder where object.pending[frame]!.output.memory == nil {
                object.pending[frame]!.output.memory = try promptMemory(object.pending[frame]!.output, frame: frame)
            }
            objects[id] = object
        }
        for id in objectIDs {
            var object = objects[id]!
            // Non-conditioning outputs first, then conditioning ones, as the official preflight.
            for conditioning in [false, true] {
                for frame in object.pendingOrder where object.pending[frame]!.conditioning == conditioning {
                    let out = object.pending[frame]!.output
                    if conditioning { object.setConditioning(frame, out) } else { object.nonConditioning[frame] = out }
                    if options.clearNonConditioningAroundInput { object.clearNonConditioning(in: clearRange(around: frame)) }
                }
            }
            object.pending = [:]
            object.pendingOrder = []
            for entry in object.conditioning { object.nonConditioning[entry.frame] = nil }
            objects[id] = object
        }
    }

    /// Memory of a prompt output: its low-res logits upsampled to [1, 1, S, S] and binarised
    /// (`is_mask_from_pts`), as the official preflight encodes interacted frames.
    func promptMemory(_ out: FrameOutput, frame t: Int) throws -> StoredMemory {
        let features = try frameFeatures(t)
        let s = model.config.imageSize
        let side = out.lowResLogits.shape
        let highRes = out.lowResLogits.reshaped([1, 1, side[0], side[1]])
            .interpolate(height: s, width: s, mode: .bilinear(antialias: false))
        let encoded = timings.measure(\.memoryEncoder) { Precision.$current.withValue(options.memoryEncoderPrecision) {
            model.encodeMemory(features, highResMasks: highRes, objectScores: [out.objectScore], maskFromPoints: true)
        } }
        return StoredMemory(encoded.features.reshaped(Array(encoded.features.shape.dropFirst())), bfloat16: options.bfloat16Memories)
    }

    /// Frames whose non-conditioning outputs a prompt on `t` clears (stride 1 x num_maskmem each side).
    func clearRange(around t: Int) -> ClosedRange<Int> {
        (t - model.config.numMaskmem)...(t + model.config.numMaskmem)
    }
}
