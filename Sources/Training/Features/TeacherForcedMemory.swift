// TeacherForcedMemory: the memories a tracker would hold for each object of a sequence, built from
// the ground truth instead of predictions (see FrameFeatureStore), and the memory-conditioned
// features of each tracked frame. Forward order only; memories older than the attention window
// are dropped as the tracker drops them.
//
// Legend: C model width, Cm memory width, h x w feature grid, S image size.

import Export
import SAM2
import Tensor

struct TeacherForcedMemory {
    let model: SAM2Model
    /// min(sequence length, max_obj_ptrs_in_encoder): normalises pointer distances.
    let maxPointers: Int
    /// Object id -> frame -> memory [Cm, h, w] / pointer [C].
    private var memories: [Int: [Int: Tensor]] = [:]
    private var pointers: [Int: [Int: [Float]]] = [:]
    /// The memory encoder's position encoding as tokens [h*w, Cm] (the same for every memory).
    private var memoryPosition: Tensor?

    init(model: SAM2Model, frameCount: Int) {
        self.model = model
        maxPointers = min(frameCount, model.config.maxObjPtrsInEncoder)
    }

    /// Frame t (0-based in the sequence's annotated frames) with its S x S target masks: stores
    /// each seen object's memory of this frame and returns the memory-conditioned features
    /// [1, C, h, w] of the objects first seen on an earlier frame.
    mutating func advance(t: Int, frame: FrameFeatures, masks: [Int: COCORLE], firstFrames: [Int: Int]) -> [Int: Tensor] {
        let config = model.config
        let s = config.imageSize
        var conditioned: [Int: Tensor] = [:]
        var start: Tensor? = nil
        for (id, first) in firstFrames.sorted(by: { $0.key < $1.key }) where first <= t {
            let pixels = masks[id]?.decoded().pixels ?? [UInt8](repeating: 0, count: s * s)
            let mask = Tensor(shape: [1, 1, s, s], values: pixels.map { Float($0) })
            let present = pixels.contains { $0 != 0 }
            let pointer: Tensor
            if t == first {
                pointer = model.useMaskAsOutput(frame.visionFeatures, highRes: frame.highRes, mask: mask).objectPointers
            } else {
                if start == nil { start = model.memoryAttentionStart(frame) }
                let tokens = model.memoryTokens(selection(id: id, t: t, first: first), memoryPosition: memoryPosition!,
                                                maxPointers: maxPointers)
                let features = model.conditionOnMemory(frame, memory: tokens.memory, memoryPosition: tokens.position,
                                                       pointerTokens: tokens.pointerTokens, start: start)
                conditioned[id] = features
                let multimask = config.multimaskOutputInSam && config.multimaskOutputForTracking && config.multimaskMinPtNum <= 0
                pointer = model.forwardSAMHeads(features, points: [nil], maskInputs: nil, highRes: frame.highRes,
                                                multimaskOutput: multimask).objectPointers
            }
            let (encoded, position) = model.encodeMemory(frame, highResMasks: mask.scaled(by: 20, adding: -10),
                                                         objectScores: [present ? 10 : -10], maskFromPoints: true)
            if memoryPosition == nil {
                let cm = position.shape[1]
                memoryPosition = position.reshaped([cm, -1]).permuted([1, 0])
            }
            memories[id, default: [:]][t] = encoded.reshaped(Array(encoded.shape.dropFirst()))
            pointers[id, default: [:]][t] = pointer.scalars
            // Drop what no later frame attends to (the conditioning frame stays).
            let memoryHorizon = t - (config.numMaskmem - 1), pointerHorizon = t - maxPointers
            memories[id] = memories[id]!.filter { $0.key == first || $0.key > memoryHorizon }
            pointers[id] = pointers[id]!.filter { $0.key == first || $0.key > pointerHorizon }
        }
        return conditioned
    }

    /// The tracker's selection for frame t (forward): the conditioning frame (slot num_maskmem - 1),
    /// the num_maskmem - 1 previous frames (slot by distance), the conditioning pointer and the
    /// previous frames' pointers, nearest first.
    func selection(id: Int, t: Int, first: Int) -> MemorySelection {
        let config = model.config
        let n = config.numMaskmem
        let stored = memories[id] ?? [:], storedPointers = pointers[id] ?? [:]
        var selection = MemorySelection()
        selection.spatial.append(.init(features: stored[first]!, slot: n - 1, frame: first))
        for tPos in 1..<n {
            let previous = t - (n - tPos)
            if previous > first, let memory = stored[previous] {
                selection.spatial.append(.init(features: memory, slot: n - tPos - 1, frame: previous))
            }
        }
        let distance = config.useSignedTposEncToObjPtrs ? t - first : abs(t - first)
        selection.pointers.append(.init(pointer: storedPointers[first]!, distance: distance, frame: first))
        if maxPointers > 1 {
            for d in 1..<maxPointers {
                let frame = t - d
                if frame < 0 { break }
                if frame != first, let pointer = storedPointers[frame] {
                    selection.pointers.append(.init(pointer: pointer, distance: d, frame: frame))
                }
            }
        }
        return selection
    }
}
