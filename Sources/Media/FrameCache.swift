// FrameCache: the decoded frames a `RandomAccessVideo` keeps, least recently used first out,
// bounded by the bytes of picture memory they hold (`DecodedFrame.byteCount`).

/// A least-recently-used map from frame number to decoded frame, bounded in bytes. Not
/// thread-safe (its owner locks).
struct FrameCache {
    /// Largest total of `byteCount` kept; 0 keeps nothing.
    let capacityBytes: Int
    private(set) var totalBytes = 0

    private var entries: [Int: Entry] = [:]
    /// Use counter: a larger stamp is more recent.
    private var clock: UInt64 = 0

    private struct Entry {
        let frame: DecodedFrame
        let bytes: Int
        var stamp: UInt64
    }

    init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
    }

    var count: Int { entries.count }

    /// The frame numbers held, least recently used first.
    var numbersByAge: [Int] {
        entries.sorted { $0.value.stamp < $1.value.stamp }.map(\.key)
    }

    /// The cached frame `n`, now the most recently used; nil when absent.
    mutating func frame(_ n: Int) -> DecodedFrame? {
        guard var entry = entries[n] else { return nil }
        clock += 1
        entry.stamp = clock
        entries[n] = entry
        return entry.frame
    }

    /// Whether frame `n` is held (without touching its age).
    func contains(_ n: Int) -> Bool { entries[n] != nil }

    /// Keeps `frame` as number `n` (most recently used), evicting the least recently used
    /// frames beyond the capacity. A frame larger than the whole capacity is not kept.
    mutating func insert(_ frame: DecodedFrame, as n: Int) {
        let bytes = frame.byteCount
        if let old = entries.removeValue(forKey: n) { totalBytes -= old.bytes }
        guard bytes <= capacityBytes else { return }
        clock += 1
        entries[n] = Entry(frame: frame, bytes: bytes, stamp: clock)
        totalBytes += bytes
        while totalBytes > capacityBytes, let oldest = entries.min(by: { $0.value.stamp < $1.value.stamp }) {
            entries.removeValue(forKey: oldest.key)
            totalBytes -= oldest.value.bytes
        }
    }

    /// Drops every frame.
    mutating func removeAll() {
        entries.removeAll()
        totalBytes = 0
    }
}
