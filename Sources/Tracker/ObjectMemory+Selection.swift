// ObjectMemory+Selection: which of an object's memories it attends to on frame t — the selection
// half of `SAM2Base._prepare_memory_conditioned_features`: every conditioning frame (temporal slot
// num_maskmem - 1), the num_maskmem - 1 previous frames (slots by distance), and the object
// pointers of the conditioning frames not in the future plus the max_obj_ptrs - 1 previous frames.
// "Previous" follows the tracking direction: frames t - k going forward, t + k in reverse
// (`track_in_reverse`), where conditioning pointers are those of frames t' >= t and their signed
// temporal distance is t' - t. The model turns the selection into tokens
// (`SAM2Model.memoryTokens`, SAM2/MemoryTokens.swift).
//
// One rule, two stores: the streaming tracker's rings (`ObjectMemory`, forward only) and the
// random-access predictor's per-frame outputs (`PredictorObjectState`) both select through
// `MemorySelector.select`. The official evaluation stride (`memory_temporal_stride_for_eval`) is
// 1 in every official config and is not configurable here; every conditioning frame is used
// (`max_cond_frames_in_attn = -1`).

import SAM2
import Tensor

/// The selection rule of `_prepare_memory_conditioned_features` over any memory store.
enum MemorySelector {
    /// A conditioning (prompted) frame's memory [Cm, h, w] and pointer [C].
    struct Conditioning {
        var frame: Int
        var memory: StoredMemory
        var pointer: [Float]
    }

    /// The memories for frame `t`. `conditioning` in the store's order (the official dict order);
    /// `memoryAt` / `pointerAt` give a non-conditioning frame's memory and pointer when stored;
    /// `maxPointers` is min(frame count, max_obj_ptrs_in_encoder); `frameCount` (nil: unknown)
    /// bounds the pointer search in reverse.
    static func select(at t: Int, reverse: Bool, conditioning: [Conditioning], memoryAt: (Int) -> StoredMemory?,
                       pointerAt: (Int) -> [Float]?, config: SAM2Config, maxPointers: Int, frameCount: Int?) -> MemorySelection {
        let numMaskmem = config.numMaskmem
        let direction = reverse ? -1 : 1
        var selection = MemorySelection()
        for entry in conditioning {
            selection.spatial.append(.init(features: entry.memory.tensor, slot: numMaskmem - 1, frame: entry.frame,
                                           keyCache: entry.memory.keyCache))
        }
        // Spatial memories of the num_maskmem - 1 previous frames, farthest first (t_pos 1...).
        for tPos in 1..<numMaskmem {
            let previous = t - direction * (numMaskmem - tPos)
            if let memory = memoryAt(previous) {
                selection.spatial.append(.init(features: memory.tensor, slot: numMaskmem - tPos - 1, frame: previous,
                                               keyCache: memory.keyCache))
            }
        }
        // Object pointers: conditioning frames not in the future (in the tracking direction) ...
        for entry in conditioning where !config.onlyObjPtrsInThePastForEval || (reverse ? entry.frame >= t : entry.frame <= t) {
            let distance = config.useSignedTposEncToObjPtrs ? (t - entry.frame) * direction : abs(t - entry.frame)
            selection.pointers.append(.init(pointer: entry.pointer, distance: distance, frame: entry.frame))
        }
        // ... then the previous frames, nearest first.
        if maxPointers > 1 {
            for distance in 1..<maxPointers {
                let frame = t - direction * distance
                if frame < 0 { break }
                if let frameCount, frame >= frameCount { break }
                if let pointer = pointerAt(frame) {
                    selection.pointers.append(.init(pointer: pointer, distance: distance, frame: frame))
                }
            }
        }
        return selection
    }
}

extension ObjectMemory {
    /// The memories for frame `t` of a forward stream; `maxPointers` is min(frame count,
    /// max_obj_ptrs_in_encoder).
    func selection(at t: Int, config: SAM2Config, maxPointers: Int) -> MemorySelection {
        MemorySelector.select(
            at: t, reverse: false,
            conditioning: conditioning.map { .init(frame: $0.frame, memory: $0.memory, pointer: $0.pointer) },
            memoryAt: { frame in recentMemories.first { $0.frame == frame }?.memory },
            pointerAt: { frame in recentPointers.first { $0.frame == frame }?.pointer },
            config: config, maxPointers: maxPointers, frameCount: nil)
    }
}
