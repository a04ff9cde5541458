// CoreBudget and pipeline lanes (Sources/Tensor/CoreBudget.swift, ComputeContext.pipelineLanes):
// a lane's workers compute only on cores the lanes leave free, every chunk still runs exactly
// once, and a worker that holds a core gives it back when a lane needs it.

import Foundation
import Synchronization
import XCTest
@testable import Tensor

final class CoreBudgetTests: XCTestCase {
    /// Thread ids that ran chunks of one `forEach` of `chunks` chunks of `sleep` µs each.
    static func threadsRunning(chunks: Int, sleep: UInt32) -> Set<UInt> {
        let ids = Mutex<Set<UInt>>([])
        let hits = Mutex<[Int]>(Array(repeating: 0, count: chunks))
        Parallel.forEach(chunks, grain: 1) { range in
            for i in range {
                usleep(sleep)
                hits.withLock { $0[i] += 1 }
            }
            ids.withLock { _ = $0.insert(UInt(pthread_self())) }
        }
        XCTAssertEqual(hits.withLock { $0 }, Array(repeating: 1, count: chunks))
        return ids.withLock { $0 }
    }

    func testBudgetCounting() {
        let budget = CoreBudget(cores: 2)
        budget.laneTakes()
        XCTAssertTrue(budget.workerTryTake())
        XCTAssertFalse(budget.workerTryTake())
        budget.laneTakes()
        XCTAssertTrue(budget.isOversubscribed, "a lane takes its core even when a worker holds it")
        budget.workerReturns()
        XCTAssertFalse(budget.isOversubscribed)
        XCTAssertFalse(budget.workerTryTake())
        budget.laneReturns()
        XCTAssertTrue(budget.workerTryTake())
    }

    func testOneThreadHasNoLanes() {
        XCTAssertNil(ComputeContext(threads: 1).pipelineLanes())
        let lanes = ComputeContext(threads: 3, priority: .batch).pipelineLanes()
        XCTAssertEqual(lanes?.0.threads, 3)
        XCTAssertEqual(lanes?.1.priority, .batch)
        XCTAssertTrue(lanes?.0.budget === lanes?.1.budget)
    }

    /// Both lanes computing on two cores: the first lane's loop runs on its own thread only. Then
    /// the other lane waits: the first lane's worker joins its loops.
    func testLaneWorkersUseOnlyFreeCores() throws {
        let (first, second) = try XCTUnwrap(ComputeContext(threads: 2).pipelineLanes())
        let secondInside = DispatchSemaphore(value: 0), releaseSecond = DispatchSemaphore(value: 0)
        let thread = Thread {
            second.run {
                secondInside.signal()
                releaseSecond.wait()
            }
        }
        thread.start()
        secondInside.wait()
        let caller = UInt(pthread_self())
        first.run {
            for _ in 0..<5 {
                XCTAssertEqual(Self.threadsRunning(chunks: 8, sleep: 2_000), [caller], "a worker ran with both cores taken")
            }
        }
        releaseSecond.signal()
        usleep(20_000)  // the second lane has left `run`
        var helped = false
        first.run {
            for _ in 0..<20 where !helped {
                helped = Self.threadsRunning(chunks: 8, sleep: 2_000).count == 2
            }
        }
        XCTAssertTrue(helped, "the free core's worker never joined the first lane's loops")
    }

    /// A worker helping the first lane gives its core back, between chunks, as soon as the second
    /// lane starts: chunks that start well after that run on the first lane's thread only.
    func testAWorkerGivesItsCoreBackWhenALaneStarts() throws {
        let (first, second) = try XCTUnwrap(ComputeContext(threads: 2).pipelineLanes())
        let caller = UInt(pthread_self())
        let secondStarted = Mutex<UInt64?>(nil)
        let starts = Mutex<[(time: UInt64, byWorker: Bool)]>([])
        let releaseSecond = DispatchSemaphore(value: 0), secondDone = DispatchSemaphore(value: 0)
        first.run {
            Parallel.forEach(64, grain: 1) { range in
                for i in range {
                    let now = DispatchTime.now().uptimeNanoseconds
                    starts.withLock { $0.append((now, UInt(pthread_self()) != caller)) }
                    if i == 8 {  // the second lane starts while this loop runs
                        Thread {
                            second.run {
                                secondStarted.withLock { $0 = DispatchTime.now().uptimeNanoseconds }
                                releaseSecond.wait()
                            }
                            secondDone.signal()
                        }.start()
                    }
                    usleep(1_000)
                }
            }
        }
        releaseSecond.signal()
        XCTAssertEqual(secondDone.wait(timeout: .now() + 10), .success)
        let started = try XCTUnwrap(secondStarted.withLock { $0 }, "the second lane never started")
        let all = starts.withLock { $0 }
        XCTAssertEqual(all.count, 64)
        // A chunk is a few iterations of 1 ms: allow 20 ms for the worker to finish the one it holds.
        let late = all.filter { $0.time > started + 20_000_000 }
        XCTAssertFalse(late.isEmpty, "the loop ended before the second lane started; the test proves nothing")
        XCTAssertEqual(late.filter(\.byWorker).count, 0, "a worker kept computing with both lanes running")
    }

    /// Both lanes run loops at the same time, many times: every chunk runs once (checked in
    /// `threadsRunning`) and neither lane hangs.
    func testTwoLanesRunLoopsAtOnce() throws {
        let (first, second) = try XCTUnwrap(ComputeContext(threads: 2).pipelineLanes())
        let done = DispatchSemaphore(value: 0)
        for lane in [first, second] {
            Thread {
                for round in 0..<300 {
                    lane.run { _ = Self.threadsRunning(chunks: 1 + round % 11, sleep: round % 3 == 0 ? 200 : 0) }
                    if round % 50 == 0 { usleep(500) }
                }
                done.signal()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
    }
}
