// MemoryTokens: the memory an object attends to on frame t, assembled as tokens with their
// temporal encodings — the assembly half of `SAM2Base._prepare_memory_conditioned_features`
// (`maskmem_tpos_enc` added to each spatial memory's position, object pointers with their
// temporal sine encoding projected by `obj_ptr_tpos_proj` and split into C/Cm tokens). Which
// frames are used (the selection half) is the tracker's state: see Tracker/ObjectMemory+Selection.
//
// Legend: C model width (d_model), Cm memory width, h*w spatial tokens per memory frame.
// Output tokens and positions [M, Cm]: spatial memories first, then the pointer tokens.
//
// Cross-attention keys: a spatial memory's rotated keys in layer l are
// RoPE(k_proj_l(memory + position + tpos_slot)) = RoPE(k_proj_l(memory + position)) + RoPE(W_l tpos_slot)
// (the projection and the rotation are linear). The first term does not change while the memory is
// attended to (up to num_maskmem frames, or the whole stream for a prompted frame), so a memory
// that carries a `MemoryKeyCache` has it projected and rotated once; the second is a table per slot
// and layer made with the model (`SAM2Model.slotKeys`). Only the rounding differs from projecting
// and rotating memory + position + tpos every frame.

import Foundation
import Tensor

/// Memories chosen for one object on one frame (by the tracker), in the official order.
public struct MemorySelection: Sendable {
    /// A spatial memory [Cm, h, w] and its temporal slot: `num_maskmem - 1` for conditioning
    /// frames, `num_maskmem - d - 1` for the frame d frames back.
    public struct Spatial: Sendable {
        public var features: Tensor
        public var slot: Int
        public var frame: Int
        /// Where this memory's projected keys are kept between frames (nil: projected every frame).
        public var keyCache: MemoryKeyCache?
        public init(features: Tensor, slot: Int, frame: Int, keyCache: MemoryKeyCache? = nil) {
            self.features = features
            self.slot = slot
            self.frame = frame
            self.keyCache = keyCache
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
    /// Cross-attention keys per memory-attention layer, projected and rotated (the pointer
    /// tokens' not rotated, as in the attention), when the spatial memories carry key caches;
    /// nil: the attention projects and rotates memory + position.
    public var keys: MemoryKeys?
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
        let memory = Tensor.concatenate(memoryParts, axis: 0), position = Tensor.concatenate(positionParts, axis: 0)
        var keys: MemoryKeys? = nil
        if !slotKeys.isEmpty, selection.spatial.contains(where: { $0.keyCache != nil }) {
            keys = cachedKeys(selection, memoryPosition: memoryPosition, pointerTokens: pointerTokens,
                              pointerMemory: memory, pointerPosition: position)
        }
        return MemoryTokens(memory: memory, position: position, pointerTokens: pointerTokens, keys: keys,
                            memoryFrames: selection.spatial.map(\.frame), pointerFrames: pointers.map(\.frame))
    }

    /// The rotated keys of `selection`'s tokens per memory-attention layer: each spatial memory's
    /// RoPE(k_proj(memory + position)) from its cache (made and kept on first use) plus its slot's
    /// table, then the last `pointerTokens` rows of `pointerMemory` + `pointerPosition` projected
    /// (pointers are not rotated). Packed for the attention (`MemoryKeys.panels`: the caches hold
    /// packed keys, so a frame's keys are one pass of adds) where it reads them packed, else rows.
    func cachedKeys(_ selection: MemorySelection, memoryPosition: Tensor, pointerTokens: Int,
                    pointerMemory: Tensor, pointerPosition: Tensor) -> MemoryKeys {
        let cm = config.memoryEncoder.outDim
        let precision = Precision.current
        let m = pointerMemory.shape[0], spatialTokens = m - pointerTokens
        let width = memoryAttention.layers.first?.crossAttn.kProj.outFeatures ?? 0
        let packed = !slotKeyPanels.isEmpty && memoryPosition.shape[0] % 16 == 0
            && AttentionKeyPanels.serve(keys: m, width: width, valueWidth: cm)
        func make(_ entry: MemorySelection.Spatial) -> [Tensor] {
            memoryAttention.rotatedMemoryKeys(entry.features.reshaped([cm, -1]).permuted([1, 0]), position: memoryPosition)
        }
        var pointerKeys: [Tensor]? = nil
        if pointerTokens > 0 {
            let rows = spatialTokens..<m
            pointerKeys = memoryAttention.memoryKeys(pointerMemory.slice(axis: 0, rows), position: pointerPosition.slice(axis: 0, rows))
        }
        if packed {
            let spatialKeys: [[AttentionKeyPanels]] = selection.spatial.map { entry in
                let pack = { make(entry).map { AttentionKeyPanels(packing: $0) } }
                return entry.keyCache?.panels(make: pack) ?? pack()
            }
            let scale = 1 / Float(width).squareRoot()
            let panels = (0..<memoryAttention.layers.count).map { layer in
                AttentionKeyPanels(sums: zip(selection.spatial, spatialKeys).map { ($1[layer], slotKeyPanels[$0.slot][layer]) },
                                   tail: pointerKeys?[layer], scale: scale)
            }
            return .panels(panels, values: AttentionValuePanels(packing: pointerMemory))
        }
        let spatialKeys: [[Tensor]] = selection.spatial.map { entry in
            entry.keyCache?.rows(precision: precision, make: { make(entry) }) ?? make(entry)
        }
        return .rows((0..<memoryAttention.layers.count).map { layer in
            let c = memoryAttention.layers[layer].crossAttn.kProj.outFeatures
            var out = Tensor(uninitialized: [m, c])
            out.withUnsafeMutablePointer { o in
                var row = 0
                for (entry, keys) in zip(selection.spatial, spatialKeys) {
                    let count = keys[layer].count
                    keys[layer].withUnsafePointer { k in
                        slotKeys[entry.slot][layer].withUnsafePointer { t in
                            let dst = o + row * c
                            for i in 0..<count { dst[i] = k[i] + t[i] }
                        }
                    }
                    row += count / c
                }
                if let pointerKeys {
                    pointerKeys[layer].withUnsafePointer { p in (o + row * c).update(from: p, count: pointerTokens * c) }
                }
            }
            return out
        })
    }
}

/// Memory attention's cross-attention keys of one frame's memory tokens (`MemoryTokens.keys`), per layer.
public enum MemoryKeys: Sendable {
    /// [M, C] per layer, projected and rotated (pointer tokens not rotated).
    case rows([Tensor])
    /// The same keys packed for the fp32 packed kernel and scaled by the softmax scale, per layer,
    /// and the tokens [M, Cm] packed once as the values of every layer (`MemoryAttention.readsPackedKeys`).
    case panels([AttentionKeyPanels], values: AttentionValuePanels)

    /// Number of layers.
    public var layers: Int {
        switch self {
        case .rows(let rows): rows.count
        case .panels(let panels, _): panels.count
        }
    }
}

/// The cross-attention keys of one spatial memory without its temporal encoding, per memory-attention
/// layer (RoPE(k_proj(memory + position)), [h*w, C] each, as rows or packed for the attention),
/// made by the first frame that attends to it. A tracker keeps one beside each stored memory;
/// copies of the memory share it.
public final class MemoryKeyCache: @unchecked Sendable {  // `kept` changes only behind `lock`
    private enum Kept {
        case rows([Tensor], Precision)
        case panels([AttentionKeyPanels])
    }
    private let lock = NSLock()
    private var kept: Kept?

    public init() {}

    /// The kept keys if they are rows made in `precision`, else `make()`'s (then kept).
    func rows(precision: Precision, make: () -> [Tensor]) -> [Tensor] {
        lock.lock()
        defer { lock.unlock() }
        if case .rows(let keys, precision)? = kept { return keys }
        let made = make()
        kept = .rows(made, precision)
        return made
    }

    /// The kept keys if they are packed, else `make()`'s (then kept). Packed keys are fp32 (made
    /// outside a bf16 scope: `AttentionKeyPanels.serve`).
    func panels(make: () -> [AttentionKeyPanels]) -> [AttentionKeyPanels] {
        lock.lock()
        defer { lock.unlock() }
        if case .panels(let keys)? = kept { return keys }
        let made = make()
        kept = .panels(made)
        return made
    }

    /// Drops the kept keys (the next frame that attends to the memory projects them again).
    public func clear() {
        lock.lock()
        defer { lock.unlock() }
        kept = nil
    }

    /// Bytes held (0 until a frame has attended to the memory).
    public var byteCount: Int {
        lock.lock()
        defer { lock.unlock() }
        switch kept {
        case .rows(let keys, _)?: return keys.reduce(0) { $0 + $1.count * 4 }
        case .panels(let keys)?: return keys.reduce(0) { $0 + $1.count * 4 }
        case nil: return 0
        }
    }
}
