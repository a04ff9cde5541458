// CoreBudget: how many threads of a set of compute contexts may compute at once.
//
// A pipeline runs two stages of a stream on two threads at the same time (the image encoder of
// frame t + 1 beside the tracking of frame t): each stage is a "lane" with a compute context of
// its own, and each lane's calling thread always computes. With one core per lane the lanes
// rarely take the same time, so the quicker one would wait; its core should help the other. So
// each lane's pool keeps its workers, but a worker computes a chunk only while it holds a core
// of the shared budget: lanes take a core for each piece of work they run (`ComputeContext.run`)
// and give it back when they wait, and a worker takes one of the cores left over, gives it back
// as soon as a lane needs it (between chunks) and whenever it parks. At most `cores` threads
// compute (plus, for the length of one chunk, a worker that has not yet seen a lane come back).

import Foundation
import Synchronization

/// Cores shared by the lanes of a pipeline and their pools' workers (see the file comment).
public final class CoreBudget: Sendable {
    /// The number of cores the lanes and workers share.
    public let cores: Int
    /// Cores nobody computes on; negative while a lane has taken one a worker still holds.
    private let available: Atomic<Int>
    /// Workers parked in `waitForCore` (checked before the wake-up call).
    private let waiting = Atomic<Int>(0)
    private let condition = NSCondition()

    public init(cores: Int) {
        self.cores = max(1, cores)
        available = Atomic(self.cores)
    }

    /// A lane starts computing: it takes a core whether or not one is free (a worker that holds
    /// it gives it back after its chunk).
    func laneTakes() { available.subtract(1, ordering: .sequentiallyConsistent) }

    /// A lane stops computing: its core goes to a waiting worker, if any.
    func laneReturns() { give() }

    /// A worker asks for a free core; false when none is.
    func workerTryTake() -> Bool {
        var value = available.load(ordering: .relaxed)
        while value > 0 {
            let (exchanged, original) = available.compareExchange(expected: value, desired: value - 1,
                                                                  ordering: .sequentiallyConsistent)
            if exchanged { return true }
            value = original
        }
        return false
    }

    /// A worker gives its core back.
    func workerReturns() { give() }

    /// Whether a worker holding a core must give it back (a lane took one that was not free).
    var isOversubscribed: Bool { available.load(ordering: .relaxed) < 0 }

    /// Parks a worker until a core is free, `stop()` says so, or `timeout` passes (a safety net:
    /// a missed wake-up costs at most that).
    func waitForCore(timeout: TimeInterval = 0.01, stop: () -> Bool) {
        condition.lock()
        waiting.add(1, ordering: .sequentiallyConsistent)
        let deadline = Date(timeIntervalSinceNow: timeout)
        while available.load(ordering: .sequentiallyConsistent) <= 0, !stop() {
            if !condition.wait(until: deadline) { break }
        }
        waiting.subtract(1, ordering: .sequentiallyConsistent)
        condition.unlock()
    }

    /// Wakes parked workers (a pool retiring).
    func wakeAll() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    private func give() {
        // Sequentially consistent with the waiter's `waiting` increment and its re-check of
        // `available` under the lock: either it sees the core or this thread sees it waiting.
        available.add(1, ordering: .sequentiallyConsistent)
        if waiting.load(ordering: .sequentiallyConsistent) > 0 { wakeAll() }
    }
}
