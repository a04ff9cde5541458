// Issue 24, finding 3: with one process-wide pool, two running jobs shared `threads_per_job` + 1
// threads. Each worker now owns a compute context: two jobs of one thread each run at the same
// time, each on its own thread, and finish in about the time one takes alone on two cores.

import Foundation
import XCTest
import TestSupport
@testable import TrackingDaemon

final class ConcurrencyTests: XCTestCase {
    func testTwoJobsRunAtOnceEachOnItsOwnThreads() async throws {
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 2), threadsPerJob: 1)
        defer { h.directory.cleanUp() }
        let alone = Date()
        let single = await h.submit(h.jobBody(maxFrames: 24, path: "alone"))
        _ = await h.events(single)
        let aloneSeconds = Date().timeIntervalSince(alone)

        let together = Date()
        let a = await h.submit(h.jobBody(maxFrames: 24, path: "a")), b = await h.submit(h.jobBody(maxFrames: 24, path: "b"))
        // Both are running with frames done at the same moment.
        var overlapped = false
        let deadline = Date().addingTimeInterval(120)
        while !overlapped && Date() < deadline {
            let jobs = [await h.job(a), await h.job(b)]
            overlapped = jobs.allSatisfy { $0["status"] as? String == "running" && ($0["frames_done"] as? Int ?? 0) > 0 }
            if jobs.contains(where: { $0["status"] as? String == "succeeded" }) { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        _ = await h.events(a)
        _ = await h.events(b)
        let togetherSeconds = Date().timeIntervalSince(together)
        XCTAssertTrue(overlapped, "the two jobs never ran at the same time")
        XCTAssertEqual(try h.masks("a"), try h.masks("alone"))
        XCTAssertEqual(try h.masks("b"), try h.masks("alone"))
        print(String(format: "one job alone: %.2f s; two jobs at once (1 thread each): %.2f s (%.2f x)",
                     aloneSeconds, togetherSeconds, togetherSeconds / aloneSeconds))
        await h.shutdown()
    }
}
