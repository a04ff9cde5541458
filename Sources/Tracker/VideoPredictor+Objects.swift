// VideoPredictor+Objects: forgetting prompts and objects — the official `clear_all_prompts_in_frame`,
// `remove_object` and `reset_state` — and reading the stored results of any frame.

import SAM2
import Tensor

extension VideoPredictor {
    /// Removes `object`'s prompts on `frame` (the official `clear_all_prompts_in_frame`): an
    /// uncommitted prompt output is dropped; a committed conditioning output is downgraded to a
    /// non-conditioning one and the frame counts as not tracked for the object (a new prompt on it
    /// starts from the frame alone). Returns every object's result on the frame.
    @discardableResult
    public func clearPrompts(frame t: Int, object id: Int) throws -> PredictorFrame {
        try checkFrame(t)
        guard var object = objects[id] else { throw PredictorError.unknownObject(id) }
        object.pointInputs[t] = nil
        object.maskInputFrames.remove(t)
        object.removePending(t)
        if let out = object.removeConditioning(t) {
            object.nonConditioning[t] = out
            object.tracked[t] = nil
        }
        objects[id] = object
        let conditioningPending = objects.values.contains { $0.pending[t]?.conditioning == true }
        return consolidated(t, pendingConditioning: conditioningPending)
    }

    /// Forgets an object: its prompts and outputs on every frame (the official `remove_object`;
    /// the other objects' results do not change). Throws `unknownObject` for an id never prompted.
    public func removeObject(_ id: Int) throws {
        guard objects[id] != nil else { throw PredictorError.unknownObject(id) }
        objects[id] = nil
        attendedKeys.forget(object: id)
    }

    /// Forgets every object, prompt and output (the official `reset_state`); cached frame
    /// features are kept, as the video has not changed.
    public func resetState() {
        objects.removeAll()
        attendedKeys.forgetAll()
    }

    /// Drops every cached frame feature (e.g. under memory pressure); they are recomputed when needed.
    public func clearFeatureCache() {
        cache.removeAll()
    }

    /// Every object's stored result on `frame`: the latest prompt output if it is not committed
    /// yet, else the conditioning output, else the tracked one; objects without any get the
    /// placeholder (see `PredictorFrame`). Runs no model.
    public func results(frame t: Int) throws -> PredictorFrame {
        try checkFrame(t)
        return consolidated(t, pendingConditioning: nil)
    }

    /// Drops every object's tracked (non-conditioning) outputs on the frames `discard` picks;
    /// prompted frames' outputs are kept. A one-pass run over a long file calls it for frames a
    /// propagation has left behind: memory attention only looks `memoryWindowFrames` frames back
    /// in its direction (plus the prompted frames), so memory stays bounded and the results equal
    /// those of a predictor that keeps everything, provided no later propagation needs them.
    public func discardTrackedOutputs(where discard: (Int) -> Bool) {
        for id in objectIDs {
            var object = objects[id]!
            for frame in object.nonConditioning.keys where discard(frame) {
                object.nonConditioning[frame] = nil
                object.tracked[frame] = nil
            }
            objects[id] = object
        }
    }

    /// How far memory attention looks back from the frame it tracks: the spatial memories of the
    /// `numMaskmem - 1` previous frames and the object pointers of `maxObjPtrsInEncoder - 1`.
    public var memoryWindowFrames: Int { max(model.config.numMaskmem - 1, model.config.maxObjPtrsInEncoder - 1) }

    /// Frames on which at least one object has a stored output, ascending.
    public var framesWithOutput: [Int] {
        Set(objects.values.flatMap { $0.framesWithOutput + Array($0.pending.keys) }).sorted()
    }
}
