// PredictorState: what a VideoPredictor keeps per object — the typed counterpart of the official
// inference state's per-object slices: `point_inputs_per_obj` / `mask_inputs_per_obj` (the
// prompts per frame), `output_dict_per_obj` (conditioning and non-conditioning outputs per
// frame), `temp_output_dict_per_obj` (prompt outputs not yet committed by a propagation) and
// `frames_tracked_per_obj` (frames tracked, and in which direction). Every frame's output is
// kept, as the official predictor keeps it, so memory grows with the frames tracked; `byteCount`
// lets a session enforce a cap.
//
// Shapes: low-res logits [S/4, S/4]; object pointer [C]; memory features [Cm, S/16, S/16].

import SAM2
import Tensor

/// What one object produced on one frame (the official compact `current_out`).
public struct FrameOutput: Sendable {
    /// Low-res mask logits [S/4, S/4] (after hole filling when it is on; -1024 where the object
    /// is judged absent).
    public var lowResLogits: Tensor
    /// Object pointer [C].
    public var pointer: [Float]
    /// Object presence logit (> 0: visible).
    public var objectScore: Float
    /// Memory features [Cm, h, w]; nil for a prompt's output until a propagation commits it.
    public var memory: StoredMemory?

    /// Bytes held (logits, pointer, memory).
    public var byteCount: Int { 4 * lowResLogits.count + 4 * pointer.count + (memory?.byteCount ?? 0) }
}

/// One object's prompts and outputs over the whole video.
public struct PredictorObjectState: Sendable {
    /// A conditioning (prompted) frame's output.
    public struct Conditioning: Sendable {
        public var frame: Int
        public var output: FrameOutput
    }

    /// A prompt's output not yet committed (`temp_output_dict_per_obj`): it becomes a conditioning
    /// or a non-conditioning output when the next propagation starts.
    struct Pending: Sendable {
        var output: FrameOutput
        var conditioning: Bool
    }

    /// Clicks and box per frame in source pixels, as accumulated by `addPointsOrBox` (box first).
    public internal(set) var pointInputs: [Int: ImagePrompt] = [:]
    /// Frames prompted with a mask.
    public internal(set) var maskInputFrames: Set<Int> = []
    /// Conditioning outputs, in the order their frames were first added (the official dict order,
    /// which is the order of their memories in memory attention).
    public internal(set) var conditioning: [Conditioning] = []
    /// Non-conditioning (tracked) outputs by frame.
    public internal(set) var nonConditioning: [Int: FrameOutput] = [:]
    /// Frames tracked by a propagation, and whether that propagation ran in reverse.
    public internal(set) var tracked: [Int: Bool] = [:]
    /// Uncommitted prompt outputs by frame, and the order their frames were first added.
    var pending: [Int: Pending] = [:]
    var pendingOrder: [Int] = []

    /// True when `frame` has clicks, a box or a mask for this object.
    public func hasPrompt(on frame: Int) -> Bool { pointInputs[frame] != nil || maskInputFrames.contains(frame) }

    /// The committed conditioning output of `frame`.
    public func conditioningOutput(_ frame: Int) -> FrameOutput? { conditioning.first { $0.frame == frame }?.output }

    /// The output shown for `frame`: the latest prompt output if not committed yet, else the
    /// conditioning, else the non-conditioning output.
    public func output(on frame: Int) -> FrameOutput? { output(on: frame, pendingConditioning: nil) }

    /// The same, looking at an uncommitted prompt output only if it is of the given kind (either
    /// when nil), as the official `_consolidate_temp_output_across_obj` looks outputs up.
    func output(on frame: Int, pendingConditioning: Bool?) -> FrameOutput? {
        if let p = pending[frame], pendingConditioning == nil || p.conditioning == pendingConditioning { return p.output }
        return conditioningOutput(frame) ?? nonConditioning[frame]
    }

    /// Records a prompt's output for `frame` (replacing an uncommitted one).
    mutating func setPending(_ frame: Int, _ output: FrameOutput, conditioning: Bool) {
        if pending[frame] == nil { pendingOrder.append(frame) }
        pending[frame] = Pending(output: output, conditioning: conditioning)
    }

    /// Drops `frame`'s uncommitted prompt output.
    mutating func removePending(_ frame: Int) {
        pending[frame] = nil
        pendingOrder.removeAll { $0 == frame }
    }

    /// Sets a conditioning output, keeping the frame's place if it already had one.
    mutating func setConditioning(_ frame: Int, _ output: FrameOutput) {
        if let i = conditioning.firstIndex(where: { $0.frame == frame }) {
            conditioning[i].output = output
        } else {
            conditioning.append(Conditioning(frame: frame, output: output))
        }
    }

    /// Removes and returns a conditioning output.
    mutating func removeConditioning(_ frame: Int) -> FrameOutput? {
        guard let i = conditioning.firstIndex(where: { $0.frame == frame }) else { return nil }
        return conditioning.remove(at: i).output
    }

    /// Drops non-conditioning outputs of frames in `range` (clear_non_cond_mem_around_input).
    mutating func clearNonConditioning(in range: ClosedRange<Int>) {
        for frame in nonConditioning.keys where range.contains(frame) { nonConditioning[frame] = nil }
    }

    /// Frames with a committed output, ascending.
    public var framesWithOutput: [Int] { Set(conditioning.map(\.frame)).union(nonConditioning.keys).sorted() }

    /// Bytes held by every output (committed and pending).
    public var byteCount: Int {
        conditioning.reduce(0) { $0 + $1.output.byteCount } + nonConditioning.values.reduce(0) { $0 + $1.byteCount }
            + pending.values.reduce(0) { $0 + $1.output.byteCount }
    }

    /// The memory selection for frame `t` over the committed outputs (forward or in reverse).
    func selection(at t: Int, reverse: Bool, config: SAM2Config, frameCount: Int) -> MemorySelection {
        MemorySelector.select(
            at: t, reverse: reverse,
            conditioning: conditioning.map { .init(frame: $0.frame, memory: $0.output.memory!, pointer: $0.output.pointer) },
            memoryAt: { nonConditioning[$0]?.memory }, pointerAt: { nonConditioning[$0]?.pointer },
            config: config, maxPointers: min(frameCount, config.maxObjPtrsInEncoder), frameCount: frameCount)
    }
}
