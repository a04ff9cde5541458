// AttendedKeyCaches: the rule that bounds the random-access predictor's projected memory keys.
// The predictor keeps every frame's memory for the whole session, but a frame attends only to the
// conditioning frames and the num_maskmem - 1 frames before it, so projected keys
// (`MemoryKeyCache`, 8-16x the memory's bytes) are kept only for the memories of each object's
// latest selection: those that drop out of it are cleared. The streaming tracker needs no such
// rule (its rings drop whole memories).

import SAM2

/// The key caches each object attended to last, by object id.
struct AttendedKeyCaches {
    private var byObject: [Int: [MemoryKeyCache]] = [:]

    /// Records that `object` attends to `selection` now, clearing the caches it no longer uses.
    mutating func attend(_ selection: MemorySelection, object: Int) {
        let now = selection.spatial.compactMap(\.keyCache)
        for cache in byObject[object] ?? [] where !now.contains(where: { $0 === cache }) { cache.clear() }
        byObject[object] = now
    }

    /// Clears and forgets `object`'s caches.
    mutating func forget(object: Int) {
        byObject.removeValue(forKey: object)?.forEach { $0.clear() }
    }

    /// Clears and forgets every object's caches.
    mutating func forgetAll() {
        for object in Array(byObject.keys) { forget(object: object) }
    }
}
