// MemoryTokens: the memory an object attends to on frame t, assembled as tokens with their
// temporal encodings — the assembly half of `SAM2Base._prepare_memory_conditioned_features`
// (`maskmem_tpos_enc` added to each spatial memory's position, object pointers with their
// temporal sine encoding projected by `obj_ptr_tpos_proj` and split into C/Cm tokens). Which
// frames are used (the selection half) is the tracker's state: see Tracker/ObjectMemory+Selection.
//
// Legend: C model width (d_model), Cm memory width, h*w spatial tokens per memory frame.
// Output tokens and positions [M, Cm]: spatial memories first, then the pointer tokens.

import Tensor

/// Memories chosen for one object on one frame (by the tracker), in the official order.
public struct MemorySelection: Sendable {
    /// A spatial memory [Cm, h, w] and its temporal slot: `num_maskmem - 1` for conditioning
    /// frames, `num_maskmem - d - 1` for the frame d frames back.
    public struct Spatial: Sendable {
        public var features: Tensor
        public var slot: Int
        public var frame: Int
        public init(features: Tensor, slot: Int, frame: Int) {
            self.features = features
            self.slot = slot
            self.frame = frame
        }
    }
    /// An object pointer [C] and its temporal distance to the current frame.
    public struct Pointer: Sendable {
        public var pointer: [Float]
        public var distance: Int
        public var frame: Int
        public init(pointer: [Float], distance: Int, frame: Int) {
            self.pointer = pointer
            self.distance = distance
            self.frame = frame
        }
    }
    public var spatial: [Spatial] = []
    public var pointers: [Pointer] = []
    public init() {}
}

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

extension SAM2Model {
    /// The tokens of `selection`. `memoryPosition` is the memory encoder's constant sine encoding
    /// as tokens [h*w, Cm]; `maxPointers` is min(frame count, max_obj_ptrs_in_encoder), which
    /// normalises the pointers' temporal distances.
    public func memoryTokens(_ selection: MemorySelection, memoryPosition: Tensor, maxPointers: Int) -> MemoryTokens {
        let c = config.neck.dModel, cm = config.memoryEncoder.outDim
        var memoryParts: [Tensor] = [], positionParts: [Tensor] = []
        for entry in selection.spatial {
            memoryParts.append(entry.features.reshaped([cm, -1]).permuted([1, 0]))
            positionParts.append(memoryPosition + maskmemTposEnc.slice(axis: 0, entry.slot..<(entry.slot + 1)))
        }
        var pointerTokens = 0
        let pointers = selection.pointers
        if config.useObjPtrsInEncoder && !pointers.isEmpty {
            let n = pointers.count
            let pointerMatrix = Tensor(shape: [n, c], values: pointers.flatMap(\.pointer))
            var pointerPosition: Tensor
            if config.addTposEncToObjPtrs {
                let scale = Float(maxPointers - 1)
                let dim = config.projTposEncInObjPtrs ? c : cm
                let encoded = PositionEncoding.sine1D(positions: pointers.map { Float($0.distance) / scale }, dim: dim)
                pointerPosition = objPtrTposProj.map { $0(encoded) } ?? encoded
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
                            pointerTokens: pointerTokens, memoryFrames: selection.spatial.map(\.frame),
                            pointerFrames: pointers.map(\.frame))
    }
}
