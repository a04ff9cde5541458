// FeatureCache: per-frame image features of a VideoPredictor, least recently used first out,
// bounded in bytes (the official predictor keeps only the last frame's; here any number of frames
// within a budget, so going back to a frame to click again costs only the prompt encoder and
// the mask decoder). An entry also holds the frame's object-independent start of memory
// attention once a correction or a propagation has computed it.
//
// Bytes: 4 per Float32 element of the vision features [1, C, h, w], their position encoding
// [1, C, h, w], the high-resolution features [1, C/8, 4h, 4w] and [1, C/4, 2h, 2w], and the
// memory-attention start [1, h*w, C].

import SAM2
import Tensor

/// What the feature cache did so far.
public struct FeatureCacheStatistics: Sendable, Equatable {
    /// Lookups answered from the cache / computed (the image encoder ran).
    public var hits = 0, misses = 0
    /// Entries dropped to stay within the budget.
    public var evictions = 0
    /// Bytes held now, frames held now, and the budget.
    public var bytes = 0, entries = 0, capacityBytes = 0
}

/// An LRU cache of frame features bounded in bytes. Not thread-safe (owned by one predictor).
struct FeatureCache {
    struct Entry {
        var features: FrameFeatures
        var memoryAttentionStart: Tensor?
        var bytes: Int
        var lastUse: UInt64
    }

    let capacityBytes: Int
    private var entries: [Int: Entry] = [:]
    private var clock: UInt64 = 0
    private(set) var statistics: FeatureCacheStatistics

    init(capacityBytes: Int) {
        self.capacityBytes = max(capacityBytes, 0)
        statistics = FeatureCacheStatistics(capacityBytes: self.capacityBytes)
    }

    /// Bytes of one frame's features.
    static func byteCount(_ f: FrameFeatures) -> Int {
        4 * (f.visionFeatures.count + f.visionPosition.count + f.highRes.s0.count + f.highRes.s1.count)
    }

    /// Frames held, least recently used first.
    var frames: [Int] { entries.sorted { $0.value.lastUse < $1.value.lastUse }.map(\.key) }

    /// The features of `frame`, computed by `compute` on a miss (and kept if they fit the budget).
    mutating func features(_ frame: Int, compute: () throws -> FrameFeatures) rethrows -> FrameFeatures {
        clock += 1
        if var entry = entries[frame] {
            statistics.hits += 1
            entry.lastUse = clock
            entries[frame] = entry
            return entry.features
        }
        statistics.misses += 1
        let features = try compute()
        insert(frame, Entry(features: features, memoryAttentionStart: nil, bytes: Self.byteCount(features), lastUse: clock))
        return features
    }

    /// The memory-attention start of `frame` if cached.
    func memoryAttentionStart(_ frame: Int) -> Tensor? { entries[frame]?.memoryAttentionStart }

    /// Keeps a frame's memory-attention start [1, h*w, C] beside its features (if they are cached
    /// and the budget allows).
    mutating func setMemoryAttentionStart(_ frame: Int, _ start: Tensor) {
        guard var entry = entries[frame], entry.memoryAttentionStart == nil,
              entry.bytes + 4 * start.count <= capacityBytes else { return }
        entries[frame] = nil
        statistics.bytes -= entry.bytes
        entry.memoryAttentionStart = start
        entry.bytes += 4 * start.count
        insert(frame, entry)
    }

    /// Drops everything.
    mutating func removeAll() {
        entries.removeAll()
        statistics.bytes = 0
        statistics.entries = 0
    }

    /// Adds an entry, evicting the least recently used ones until it fits; an entry larger than
    /// the whole budget is not kept.
    private mutating func insert(_ frame: Int, _ entry: Entry) {
        guard entry.bytes <= capacityBytes else {
            statistics.entries = entries.count
            return
        }
        while statistics.bytes + entry.bytes > capacityBytes,
              let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[oldest.key] = nil
            statistics.bytes -= oldest.value.bytes
            statistics.evictions += 1
        }
        entries[frame] = entry
        statistics.bytes += entry.bytes
        statistics.entries = entries.count
    }
}
