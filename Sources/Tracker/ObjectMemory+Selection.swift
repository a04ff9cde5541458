// ObjectMemory+Selection: which of an object's memories it attends to on frame t — the selection
// half of `SAM2Base._prepare_memory_conditioned_features`: every conditioning frame (temporal slot
// num_maskmem - 1), the previous num_maskmem - 1 frames (slots by distance), and the object
// pointers of past conditioning frames plus the previous max_obj_ptrs - 1 frames. The model turns
// the selection into tokens (`SAM2Model.memoryTokens`, SAM2/MemoryTokens.swift).

import SAM2
import Tensor

extension ObjectMemory {
    /// The memories for frame `t`; `maxPointers` is min(frame count, max_obj_ptrs_in_encoder).
    func selection(at t: Int, config: SAM2Config, maxPointers: Int) -> MemorySelection {
        let numMaskmem = config.numMaskmem
        var selection = MemorySelection()
        for entry in conditioning {
            selection.spatial.append(.init(features: entry.memory.tensor, slot: numMaskmem - 1, frame: entry.frame))
        }
        for tPos in 1..<numMaskmem {
            let previous = t - (numMaskmem - tPos)
            if let hit = recentMemories.first(where: { $0.frame == previous }) {
                selection.spatial.append(.init(features: hit.memory.tensor, slot: numMaskmem - tPos - 1, frame: previous))
            }
        }
        // Object pointers: past conditioning frames, then the previous frames (nearest first).
        for entry in conditioning where entry.frame <= t {
            let distance = config.useSignedTposEncToObjPtrs ? t - entry.frame : abs(t - entry.frame)
            selection.pointers.append(.init(pointer: entry.pointer, distance: distance, frame: entry.frame))
        }
        if maxPointers > 1 {
            for distance in 1..<maxPointers {
                let frame = t - distance
                if frame < 0 { break }
                if let hit = recentPointers.first(where: { $0.frame == frame }) {
                    selection.pointers.append(.init(pointer: hit.pointer, distance: distance, frame: frame))
                }
            }
        }
        return selection
    }
}
