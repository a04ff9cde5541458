// ObjectMemory: what one tracked object keeps between frames (DESIGN §4): the memories and object
// pointers of its conditioning (prompted) frames, a ring of the last `num_maskmem - 1` frames'
// memories and a ring of the last `max_obj_ptrs - 1` frames' pointers. Nothing grows with the
// length of the stream.

import SAM2
import Tensor

/// A memory feature map [Cm, h, w], stored as bfloat16 bits (as the official predictor stores
/// it) or as Float32.
public struct StoredMemory: Sendable {
    public let shape: [Int]
    let bfloat16Bits: [UInt16]?
    let float: Tensor?
    /// Memory attention's projected keys of these features, made by the first frame that attends to them.
    let keyCache = MemoryKeyCache()

    /// Stores `features` ([Cm, h, w]); with `bfloat16`, rounds to nearest even bfloat16.
    public init(_ features: Tensor, bfloat16: Bool) {
        shape = features.shape
        if bfloat16 {
            bfloat16Bits = features.withUnsafeBufferPointer { p in p.map { StoredMemory.roundToBFloat16($0) } }
            float = nil
        } else {
            bfloat16Bits = nil
            float = features
        }
    }

    /// Rebuilds a stored memory from saved parts.
    init(shape: [Int], bfloat16Bits: [UInt16]?, float: Tensor?) {
        self.shape = shape
        self.bfloat16Bits = bfloat16Bits
        self.float = float
    }

    /// The features as Float32 [Cm, h, w].
    public var tensor: Tensor {
        if let float { return float }
        let bits = bfloat16Bits!
        var out = Tensor(uninitialized: shape)
        out.withUnsafeMutablePointer { p in
            for i in 0..<bits.count { p[i] = Float(bitPattern: UInt32(bits[i]) << 16) }
        }
        return out
    }

    /// Bytes held (features and projected keys).
    public var byteCount: Int { (bfloat16Bits?.count ?? 0) * 2 + (float?.count ?? 0) * 4 + keyCache.byteCount }

    /// Float32 -> bfloat16 bits, round to nearest even (NaN stays NaN).
    @inline(__always)
    public static func roundToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
        let rounding = ((bits >> 16) & 1) &+ 0x7FFF
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}

/// Memory and pointer of one frame of one object.
public struct FrameMemory: Sendable {
    public var frame: Int
    public var memory: StoredMemory
    /// Object pointer [C].
    public var pointer: [Float]
    /// Object presence logit on that frame.
    public var objectScore: Float
}

/// Everything one object carries from frame to frame.
public struct ObjectMemory: Sendable {
    /// Prompted frames, oldest first (kept for the whole stream).
    public internal(set) var conditioning: [FrameMemory] = []
    /// Memories of the most recent tracked frames, oldest first (at most num_maskmem - 1).
    public internal(set) var recentMemories: [(frame: Int, memory: StoredMemory)] = []
    /// Pointers of the most recent tracked frames, oldest first (at most max_obj_ptrs - 1).
    public internal(set) var recentPointers: [(frame: Int, pointer: [Float])] = []

    /// Adds a conditioning frame (replacing one of the same index) and forgets any recent entry
    /// of that frame.
    mutating func addConditioning(_ entry: FrameMemory) {
        conditioning.removeAll { $0.frame == entry.frame }
        conditioning.append(entry)
        conditioning.sort { $0.frame < $1.frame }
        recentMemories.removeAll { $0.frame == entry.frame }
        recentPointers.removeAll { $0.frame == entry.frame }
    }

    /// Adds a tracked frame to the rings, dropping entries that no later frame can use.
    mutating func addRecent(_ entry: FrameMemory, memoryCapacity: Int, pointerCapacity: Int) {
        recentMemories.removeAll { $0.frame == entry.frame }
        recentPointers.removeAll { $0.frame == entry.frame }
        recentMemories.append((entry.frame, entry.memory))
        recentPointers.append((entry.frame, entry.pointer))
        if recentMemories.count > memoryCapacity { recentMemories.removeFirst(recentMemories.count - memoryCapacity) }
        if recentPointers.count > pointerCapacity { recentPointers.removeFirst(recentPointers.count - pointerCapacity) }
    }

    /// Drops recent entries with frames in `range` (clear_non_cond_mem_around_input).
    mutating func clearRecent(in range: ClosedRange<Int>) {
        recentMemories.removeAll { range.contains($0.frame) }
        recentPointers.removeAll { range.contains($0.frame) }
    }

    /// Bytes of memory features and pointers held.
    public var byteCount: Int {
        conditioning.reduce(0) { $0 + $1.memory.byteCount + $1.pointer.count * 4 }
            + recentMemories.reduce(0) { $0 + $1.memory.byteCount }
            + recentPointers.reduce(0) { $0 + $1.pointer.count * 4 }
    }
}
