// AsyncSignal: a one-shot event that async code waits for (with a timeout) and any thread fires.
// The daemon's waits — a cancel waiting for its job to stop, a live prompt waiting for the job to
// open its source, a shutdown waiting for the workers — are signalled, never polled.

import Foundation

/// A one-shot event (see the file comment). Thread-safe.
final class AsyncSignal: @unchecked Sendable {  // mutable state behind `lock`
    private let lock = NSLock()
    private var fired = false
    private var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    /// Wakes threads blocked in `waitBlocking`.
    private let blocking = NSCondition()

    /// Whether `fire()` was called.
    var isFired: Bool { lock.withLock { fired } }

    /// Fires the event: every waiter (present and future) returns true.
    func fire() {
        let resumed: [CheckedContinuation<Bool, Never>] = lock.withLock {
            guard !fired else { return [] }
            fired = true
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        blocking.withLock { blocking.broadcast() }
        for continuation in resumed { continuation.resume(returning: true) }
    }

    /// Blocks the calling thread (not async code) until the event fires (true) or `timeout` seconds pass (false).
    func waitBlocking(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: max(0, timeout))
        return blocking.withLock {
            while !isFired {
                if !blocking.wait(until: deadline) { return isFired }
            }
            return true
        }
    }

    /// Waits until the event fires (true) or `timeout` seconds pass (false).
    func wait(timeout: Double) async -> Bool {
        let key: UInt64 = lock.withLock { nextWaiter += 1; return nextWaiter }
        return await withCheckedContinuation { continuation in
            let firedAlready: Bool = lock.withLock {
                if fired { return true }
                waiters[key] = continuation
                return false
            }
            if firedAlready { continuation.resume(returning: true); return }
            Task { [weak self] in
                try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                self?.timeOut(key)
            }
        }
    }

    private func timeOut(_ key: UInt64) {
        let continuation = lock.withLock { waiters.removeValue(forKey: key) }
        continuation?.resume(returning: false)
    }
}
