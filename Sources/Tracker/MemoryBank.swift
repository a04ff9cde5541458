// MemoryBank: assembles the memory tokens one object attends to on frame t, exactly as
// `SAM2Base._prepare_memory_conditioned_features` selects them: every conditioning frame
// (temporal slot 0), the previous num_maskmem - 1 frames (slots 1..6 by distance), and object
// pointers of past conditioning frames plus the previous max_obj_ptrs - 1 frames, with their
// temporal encodings.
//
// Shapes: memory tokens and their positions [M, Cm]; spatial memories are h*w tokens per frame,
// each object pointer [C] becomes C/Cm tokens of width Cm.

import SAM2
import Tensor

/// Memory tokens for one object on one frame.
public struct MemoryTokens: Sendable {
    /// [M, Cm].
    public var memory: Tensor
    /// [M, Cm].
    public var position: Tensor
    /// Number of trailing object-pointer tokens (not rotated by RoPE).
    public var pointerTokens: Int
    /// Frames whose spatial memories were used, in order (for tracing and tests).
    public var memoryFrames: [Int]
    /// Frames whose pointers were used, in order.
    public var pointerFrames: [Int]
}

extension ObjectMemory {
    /// The memory tokens for frame `t`. `memoryPosition` is the memory encoder's constant sine
    /// encoding as tokens [h*w, Cm]; `maxPointers` is min(frame count, max_obj_ptrs_in_encoder).
    func tokens(at t: Int, model: SAM2Model, memoryPosition: Tensor, maxPointers: Int) -> MemoryTokens {
        let config = model.config
        let numMaskmem = config.numMaskmem
        let c = config.neck.dModel, cm = config.memoryEncoder.outDim
        let tpos = model.maskmemTposEnc
        var memoryParts: [Tensor] = [], positionParts: [Tensor] = []
        var memoryFrames: [Int] = []

        func addSpatial(_ stored: StoredMemory, slot: Int, frame: Int) {
            let features = stored.tensor  // [Cm, h, w]
            memoryParts.append(features.reshaped([cm, -1]).permuted([1, 0]))
            positionParts.append(memoryPosition + tpos.slice(axis: 0, slot..<(slot + 1)))
            memoryFrames.append(frame)
        }
        for entry in conditioning { addSpatial(entry.memory, slot: numMaskmem - 1, frame: entry.frame) }
        for tPos in 1..<numMaskmem {
            let previous = t - (numMaskmem - tPos)
            if let hit = recentMemories.first(where: { $0.frame == previous }) {
                addSpatial(hit.memory, slot: numMaskmem - tPos - 1, frame: previous)
            }
        }

        // Object pointers: past conditioning frames, then the previous frames (nearest first).
        var pointers: [(distance: Int, pointer: [Float])] = []
        var pointerFrames: [Int] = []
        for entry in conditioning where entry.frame <= t {
            let distance = config.useSignedTposEncToObjPtrs ? t - entry.frame : abs(t - entry.frame)
            pointers.append((distance, entry.pointer))
            pointerFrames.append(entry.frame)
        }
        if maxPointers > 1 {
            for distance in 1..<maxPointers {
                let frame = t - distance
                if frame < 0 { break }
                if let hit = recentPointers.first(where: { $0.frame == frame }) {
                    pointers.append((distance, hit.pointer))
                    pointerFrames.append(frame)
                }
            }
        }
        var pointerTokens = 0
        if config.useObjPtrsInEncoder && !pointers.isEmpty {
            let n = pointers.count
            let pointerMatrix = Tensor(shape: [n, c], values: pointers.flatMap(\.pointer))
            var pointerPosition: Tensor
            if config.addTposEncToObjPtrs {
                let scale = Float(maxPointers - 1)
                let dim = config.projTposEncInObjPtrs ? c : cm
                let encoded = PositionEncoding.sine1D(positions: pointers.map { Float($0.distance) / scale }, dim: dim)
                pointerPosition = model.objPtrTposProj.map { $0(encoded) } ?? encoded
            } else {
                pointerPosition = Tensor(zeros: [n, cm])
            }
            let split = c / cm
            if split > 1 {
                // Each pointer [C] becomes C/Cm tokens; its position repeats for each.
                let tokens = pointerMatrix.reshaped([n * split, cm])
                let repeated = Tensor.concatenate(Array(repeating: pointerPosition.reshaped([n, 1, cm]), count: split), axis: 1)
                memoryParts.append(tokens)
                positionParts.append(repeated.reshaped([n * split, cm]))
                pointerTokens = n * split
            } else {
                memoryParts.append(pointerMatrix)
                positionParts.append(pointerPosition)
                pointerTokens = n
            }
        }
        return MemoryTokens(memory: Tensor.concatenate(memoryParts, axis: 0),
                            position: Tensor.concatenate(positionParts, axis: 0),
                            pointerTokens: pointerTokens, memoryFrames: memoryFrames, pointerFrames: pointerFrames)
    }
}
