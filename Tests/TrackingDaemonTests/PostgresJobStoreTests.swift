// The PostgreSQL job store against a real, private PostgreSQL server (TestSupport's
// PostgresServer; skipped where PostgreSQL is not installed, failed under CI): the same round trip
// as SQLite's, migrations applied once when several nodes start together, exclusive claims under
// concurrency, lease expiry with fencing of the old node, checkpoints in the database, cancels, a
// refused newer schema, an unreachable server, and the store URL's parsing.

import Foundation
import XCTest
import TestSupport
import TrackingRun
@testable import TrackingDaemon

final class PostgresJobStoreTests: XCTestCase {
    /// One server for the class (initdb takes seconds); each test makes its own database.
    static let postgres = ClassPostgres()

    func sharedServer() throws -> PostgresServer { try Self.postgres.server() }

    override class func tearDown() {
        postgres.stop()
        super.tearDown()
    }

    static let spec = JobSpec(source: "/v/a.mp4", model: "m", prompts: [PromptSpec(object: 1, box: [1, 2, 3, 4])],
                              output: OutputSpec(format: .rle, path: "p"))

    func queued(_ id: String, output: String? = nil) -> JobRecord {
        JobRecord(id: id, spec: Self.spec, status: .queued, outputDirectory: output ?? "/o/\(id)", live: false, createdAt: Date())
    }

    /// Claims with the daemon's own decision (JobManager.decideClaim's life cycle: requeue when
    /// the lease expired, then start).
    static func claim(_ store: PostgresJobStore, ttl: Double = 30) throws -> (record: JobRecord, lease: JobLease)? {
        try store.claimNext(ttl: ttl) { stored, expired in
            var r = stored
            do {
                if expired { try r.apply(.requeued(crashed: true)) } else if r.status == .interrupted { try r.apply(.requeued(crashed: false)) }
                try r.apply(.started)
            } catch { return nil }
            return .run(r)
        }
    }

    /// A job store's round trip (insert, update, reopen, read back), the same on both stores.
    func roundTrip(_ open: () throws -> any JobStore) throws {
        let store = try open()
        var a = try store.insert(queued("a"))
        let b = try store.insert(JobRecord(id: "b", spec: Self.spec, status: .queued, outputDirectory: "/o/b", live: true, createdAt: Date()))
        XCTAssertLessThan(a.seq, b.seq)
        a.status = .running
        a.framesDone = 17
        a.checkpointFrame = 9
        a.fps = 12.5
        a.errorCode = "x"
        a.errorMessage = "why"
        try store.update(a)
        try store.addAppliedPrompts(jobID: "a", frame: 12, prompts: [PromptSpec(object: 3, points: [[1, 2, 1]])])
        try store.addAppliedPrompts(jobID: "a", frame: 20, prompts: [PromptSpec(object: 1, box: [5, 6, 7, 8])])

        let reopened = try open()
        let loaded = try XCTUnwrap(reopened.job("a"))
        XCTAssertEqual(loaded.status, .running)
        XCTAssertEqual(loaded.framesDone, 17)
        XCTAssertEqual(loaded.checkpointFrame, 9)
        XCTAssertEqual(loaded.fps, 12.5)
        XCTAssertEqual(loaded.spec, Self.spec)
        XCTAssertEqual(loaded.errorMessage, "why")
        XCTAssertEqual(loaded.createdAt.timeIntervalSince1970, a.createdAt.timeIntervalSince1970, accuracy: 1e-6)
        XCTAssertEqual(try reopened.appliedPrompts(jobID: "a").map { [$0.object, $0.frame!] }, [[3, 12], [1, 20]])
        XCTAssertEqual(try reopened.unfinishedJobs().map(\.id), ["a", "b"])
        XCTAssertEqual(try reopened.jobs(status: .queued, limit: 100, offset: 0).map(\.id), ["b"])
        XCTAssertEqual(try reopened.jobs(status: nil, limit: 1, offset: 1).map(\.id), ["b"])
        XCTAssertEqual(try reopened.countsByStatus(), [.running: 1, .queued: 1])
        XCTAssertNil(try reopened.job("c"))
        XCTAssertTrue(try reopened.contains("b"))
        XCTAssertFalse(try reopened.contains("c"))
    }

    func testRoundTripOnSQLite() throws {  // needs no server: runs wherever the tests run
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try roundTrip { try SQLiteJobStore(path: dir.file("jobs.sqlite")) }
    }

    func testSameRoundTripOnPostgres() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("roundtrip")
        var opened: [PostgresJobStore] = []
        defer { opened.forEach { $0.close() } }
        try roundTrip {
            let store = try PostgresJobStore(url: url, nodeName: "n\(opened.count)")
            opened.append(store)
            return store
        }
        XCTAssertTrue(opened[0].isNew)
        XCTAssertFalse(opened[1].isNew)
    }

    func testMigrationsAppliedOnceWhenNodesStartTogether() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("migrations")
        let count = 6
        let results = LockedArray<Result<Bool, Error>>()
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread.detachNewThread {
                results.append(Result { let store = try PostgresJobStore(url: url, nodeName: "node\(index)"); defer { store.close() }; return store.isNew })
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        let outcomes = results.values
        XCTAssertEqual(outcomes.count, count)
        for outcome in outcomes { if case let .failure(error) = outcome { XCTFail("a node failed to start: \(error)") } }
        XCTAssertEqual(outcomes.filter { (try? $0.get()) == true }.count, 1, "exactly one node created the schema")
        XCTAssertEqual(try server.psql("migrations", "SELECT string_agg(version::text, ',' ORDER BY version) FROM samtrack_migrations")
                        .trimmingCharacters(in: .whitespacesAndNewlines), "1,2,3")
    }

    func testConcurrentClaimsTakeEveryJobExactlyOnce() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("claims")
        let setup = try PostgresJobStore(url: url, nodeName: "setup")
        defer { setup.close() }
        let jobs = 40
        for i in 0..<jobs { _ = try setup.insert(queued("job\(i)")) }
        let claimed = LockedArray<String>()
        let failures = LockedArray<String>()
        let group = DispatchGroup()
        for node in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let store = try PostgresJobStore(url: url, nodeName: "node\(node)")
                    defer { store.close() }
                    while let (record, lease) = try Self.claim(store) {
                        XCTAssertEqual(record.status, .running)
                        XCTAssertEqual(record.attempts, 1)
                        XCTAssertEqual(lease.jobID, record.id)
                        claimed.append(record.id)
                    }
                } catch {
                    failures.append("\(error)")
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(failures.values, [])
        XCTAssertEqual(claimed.values.count, jobs, "no job claimed twice")
        XCTAssertEqual(Set(claimed.values), Set((0..<jobs).map { "job\($0)" }), "every job claimed")
        XCTAssertEqual(try setup.countsByStatus(), [.running: jobs])
        XCTAssertEqual(try server.psql("claims", "SELECT COUNT(DISTINCT lease_token) FROM jobs").trimmingCharacters(in: .whitespacesAndNewlines),
                       "\(jobs)")
    }

    func testExpiredLeaseIsTakenOverAndTheOldNodeIsFenced() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("leases")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        let b = try PostgresJobStore(url: url, nodeName: "b")
        defer { a.close(); b.close() }
        _ = try a.insert(queued("j"))
        var (onA, leaseA) = try XCTUnwrap(try Self.claim(a, ttl: 1))
        XCTAssertNil(try Self.claim(b), "a live lease is not claimable")
        onA.framesDone = 10
        onA.checkpointFrame = 9
        let stateA = Data((0..<1000).map { UInt8($0 % 251) })
        try a.saveCheckpoint(onA, state: stateA)
        XCTAssertEqual(try a.renew(leaseA, ttl: 1), .held(cancelRequested: false))

        Thread.sleep(forTimeInterval: 1.3)  // a stops renewing: its lease expires
        let (onB, leaseB) = try XCTUnwrap(try Self.claim(b, ttl: 30))
        XCTAssertGreaterThan(leaseB.token, leaseA.token)
        XCTAssertEqual(onB.crashes, 1)
        XCTAssertEqual(onB.attempts, 2)
        XCTAssertEqual(onB.checkpointFrame, 9, "resumes from the last committed checkpoint")
        XCTAssertEqual(try b.checkpointState(jobID: "j", frame: 9), stateA)

        // The old node learns it lost the lease and every write it tries is refused.
        onA.framesDone = 20
        XCTAssertThrowsError(try a.update(onA)) { XCTAssertEqual(($0 as? JobStoreError)?.kind, .leaseLost, "\($0)") }
        XCTAssertThrowsError(try a.saveCheckpoint(onA, state: Data([1, 2, 3]))) {
            XCTAssertEqual(($0 as? JobStoreError)?.kind, .leaseLost, "\($0)")
        }
        XCTAssertThrowsError(try a.addAppliedPrompts(jobID: "j", frame: 12, prompts: [PromptSpec(object: 2, points: [[1, 1, 1]])])) {
            XCTAssertEqual(($0 as? JobStoreError)?.kind, .leaseLost, "\($0)")
        }
        XCTAssertEqual(try a.renew(leaseA, ttl: 30), .lost)
        XCTAssertEqual(try b.job("j")?.framesDone, 10, "nothing of the fenced writes landed")
        XCTAssertEqual(try b.checkpointState(jobID: "j", frame: 9), stateA)
        XCTAssertEqual(try b.appliedPrompts(jobID: "j"), [])

        // The new holder finishes; the lease is given back and the checkpoint dropped.
        var done = onB
        try done.apply(.succeeded(reason: .endOfSource, framesTracked: 30, seconds: 1, droppedFrames: 0))
        try b.update(done)
        XCTAssertEqual(try a.job("j")?.status, .succeeded)
        XCTAssertEqual(try server.psql("leases", "SELECT COALESCE(lease_owner, 'none') || ' ' || (SELECT COUNT(*) FROM job_checkpoints) FROM jobs")
                        .trimmingCharacters(in: .whitespacesAndNewlines), "none 0")
        XCTAssertNil(try Self.claim(a))
    }

    func testFramesCommittedWithTheCheckpointAndResumedExactlyAfterIt() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("frames")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        let b = try PostgresJobStore(url: url, nodeName: "b")
        defer { a.close(); b.close() }
        _ = try a.insert(queued("j"))
        var (onA, _) = try XCTUnwrap(try Self.claim(a, ttl: 1))
        func frames(_ range: ClosedRange<Int>, tag: String) -> [StoredFrame] {
            range.map { StoredFrame(index: $0, frame: $0, line: "{\"frame\": \($0), \"tag\": \"\(tag)\"}", prompted: $0 == 0 ? [1, 2] : []) }
        }
        try onA.apply(.checkpointed(frame: 4))
        try a.saveProgress(onA, frames: frames(0...4, tag: "a"), state: Data([4]))
        XCTAssertEqual(try b.frames(jobID: "j", afterIndex: -1, limit: 100), frames(0...4, tag: "a"), "any node reads them")
        XCTAssertEqual(try b.frames(jobID: "j", afterIndex: 1, limit: 2).map(\.index), [2, 3], "paged in index order")
        XCTAssertEqual(try b.checkpointState(jobID: "j", frame: 4), Data([4]))
        // Frames without a checkpoint (a run that has none): the claim of a resumed job drops those after its checkpoint.
        try a.saveProgress(onA, frames: frames(5...6, tag: "a"), state: nil)
        XCTAssertEqual(try b.frames(jobID: "j", afterIndex: -1, limit: 100).count, 7)

        Thread.sleep(forTimeInterval: 1.3)  // a dies: its lease expires
        var (onB, _) = try XCTUnwrap(try Self.claim(b))
        XCTAssertEqual(onB.checkpointFrame, 4)
        XCTAssertEqual(try b.frames(jobID: "j", afterIndex: -1, limit: 100), frames(0...4, tag: "a"),
                       "the resumed job continues exactly after the last committed frame")
        XCTAssertThrowsError(try a.saveProgress(onA, frames: frames(5...9, tag: "stale"), state: nil)) {
            XCTAssertEqual(($0 as? JobStoreError)?.kind, .leaseLost, "\($0)")
        }
        try onB.apply(.succeeded(reason: .endOfSource, framesTracked: 5, seconds: 1, droppedFrames: 0))
        try b.saveProgress(onB, frames: frames(5...9, tag: "b"), state: nil)
        XCTAssertEqual(try a.frames(jobID: "j", afterIndex: -1, limit: 100), frames(0...4, tag: "a") + frames(5...9, tag: "b"))
        XCTAssertEqual(try a.job("j")?.status, .succeeded, "the end and its frames in one transaction")
    }

    func testSkippedJobsStayQueuedForOtherNodes() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("skips")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        defer { a.close() }
        for id in ["camera", "file1", "file2"] { _ = try a.insert(queued(id)) }
        // Node a may not open "camera" (JobManager.decideClaim: a device its sources.patterns do not allow).
        func claimSkippingCamera() throws -> String? {
            try a.claimNext(ttl: 30) { stored, _ in
                guard stored.id != "camera" else { return .skip }
                var r = stored
                do { try r.apply(.started) } catch { return nil }
                return .run(r)
            }?.record.id
        }
        XCTAssertEqual(try claimSkippingCamera(), "file1", "the skipped job is passed over, not claimed")
        XCTAssertEqual(try claimSkippingCamera(), "file2")
        XCTAssertNil(try claimSkippingCamera())
        XCTAssertEqual(try a.job("camera")?.status, .queued, "left in the queue for a node that allows it")
        XCTAssertEqual(try Self.claim(a)?.record.id, "camera")
    }

    func testPromptRequestsAreTakenOnceAndSettled() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("prompts")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        let b = try PostgresJobStore(url: url, nodeName: "b")
        defer { a.close(); b.close() }
        _ = try a.insert(queued("j"))
        let notified = AsyncSignal()
        a.listen(onJobQueued: {}, onCancel: { _ in }, onPrompts: { id in if id == "j" { notified.fire() } })
        Thread.sleep(forTimeInterval: 0.5)  // the listener connects
        let first = try b.requestPrompts(jobID: "j", prompts: [PromptSpec(object: 3, box: [1, 2, 30, 40])])
        let second = try b.requestPrompts(jobID: "j", prompts: [PromptSpec(object: 4, points: [[5, 6, 1]])])
        XCTAssertTrue(notified.waitBlocking(timeout: 10), "the running node is notified")
        XCTAssertEqual(try b.promptRequestOutcome(first), .pending)
        let taken = try a.takePromptRequests(jobID: "j")
        XCTAssertEqual(taken.map(\.id), [first, second])
        XCTAssertEqual(taken.first?.prompts, [PromptSpec(object: 3, box: [1, 2, 30, 40])])
        XCTAssertEqual(try a.takePromptRequests(jobID: "j").count, 0, "each request is taken once")
        try a.settlePromptRequest(first, outcome: .applied(frame: 17))
        try a.settlePromptRequest(second, outcome: .refused(code: "prompt_outside_frame", message: "outside"))
        XCTAssertEqual(try b.promptRequestOutcome(first), .applied(frame: 17))
        XCTAssertEqual(try b.promptRequestOutcome(second), .refused(code: "prompt_outside_frame", message: "outside"))
        XCTAssertNil(try b.promptRequestOutcome(999_999))
    }

    func testSuspendedJobIsGivenBackAndClaimedByAnotherNode() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("suspend")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        let b = try PostgresJobStore(url: url, nodeName: "b")
        defer { a.close(); b.close() }
        _ = try a.insert(queued("j"))
        var (record, _) = try XCTUnwrap(try Self.claim(a))
        try record.apply(.checkpointed(frame: 4))
        try a.saveCheckpoint(record, state: Data([9, 9]))
        try record.apply(.suspended(checkpointFrame: 4))  // SIGTERM: interrupted and resumable
        try a.update(record)
        let (resumed, _) = try XCTUnwrap(try Self.claim(b), "given back at once, not after the TTL")
        XCTAssertEqual(resumed.crashes, 0)
        XCTAssertEqual(resumed.checkpointFrame, 4)
        XCTAssertEqual(try b.checkpointState(jobID: "j", frame: 4), Data([9, 9]))
    }

    func testCancelQueuedAtOnceAndRunningThroughTheLease() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("cancel")
        let a = try PostgresJobStore(url: url, nodeName: "a")
        let b = try PostgresJobStore(url: url, nodeName: "b")
        defer { a.close(); b.close() }
        _ = try a.insert(queued("running"))
        _ = try a.insert(queued("waiting"))
        let (_, lease) = try XCTUnwrap(try Self.claim(a))
        let cancel: (JobRecord) -> JobRecord? = { var r = $0; do { try r.apply(.cancelled) } catch { return nil }; return r }
        guard case let .cancelled(record) = try b.requestCancel(jobID: "waiting", apply: cancel) else { return XCTFail("queued job not cancelled") }
        XCTAssertEqual(record.status, .cancelled)
        XCTAssertEqual(try a.job("waiting")?.status, .cancelled)
        XCTAssertEqual(try b.requestCancel(jobID: "running", apply: cancel), .signalled)
        XCTAssertEqual(try a.renew(lease, ttl: 30), .held(cancelRequested: true), "the running node sees the request")
        XCTAssertEqual(try b.requestCancel(jobID: "nope", apply: cancel), .notFound)
        guard case .notCancellable = try b.requestCancel(jobID: "waiting", apply: cancel) else { return XCTFail("cancelled twice") }
    }

    func testOneUnfinishedJobPerOutputDirectory() throws {
        let server = try sharedServer()
        let url = try server.createDatabase("outputs")
        let store = try PostgresJobStore(url: url, nodeName: "a")
        defer { store.close() }
        var first = try store.insert(queued("one", output: "/o/same"))
        XCTAssertThrowsError(try store.insert(queued("two", output: "/o/same"))) {
            XCTAssertEqual(($0 as? JobStoreError)?.kind, .outputInUse, "\($0)")
        }
        try first.apply(.cancelled)
        try store.update(first)
        XCTAssertNoThrow(try store.insert(queued("three", output: "/o/same")), "free again once the first job ended")
    }

    func testNewerSchemaAndUnreachableServerAreClearErrors() throws {
        let server = try PostgresServer.start()
        let url = try server.createDatabase("schema")
        try PostgresJobStore(url: url, nodeName: "a").close()
        try server.psql("schema", "INSERT INTO samtrack_migrations (version, name) VALUES (99, 'future')")
        XCTAssertThrowsError(try PostgresJobStore(url: url, nodeName: "a")) {
            XCTAssertTrue("\($0)".contains("schema version 99, newer than this samtrackd knows"), "\($0)")
        }
        server.stop()
        let started = Date()
        XCTAssertThrowsError(try PostgresJobStore(url: url, nodeName: "a")) {
            XCTAssertTrue("\($0)".contains("cannot connect to postgresql://samtrack@127.0.0.1:\(server.port)/schema"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 15, "fails fast, does not hang")
    }

    func testReconnectsAfterTheServerRestarts() throws {
        let server = try PostgresServer.start()
        let url = try server.createDatabase("restart")
        let store = try PostgresJobStore(url: url, nodeName: "a")
        defer { store.close() }
        _ = try store.insert(queued("before"))
        server.stop()
        let started = Date()
        XCTAssertThrowsError(try store.job("before"), "the database is down") {
            XCTAssertTrue("\($0)".contains("cannot connect to"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "a clear error, not a hang")
        try server.start()
        XCTAssertEqual(try store.job("before")?.status, .queued, "the pooled connections were replaced")
        _ = try store.insert(queued("after"))
        XCTAssertEqual(try store.unfinishedJobs().map(\.id), ["before", "after"], "nothing lost")
    }

    func testStoreNodeAndSharedRootsConfigKeys() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try FileManager.default.createDirectory(atPath: dir.file("shared/out"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir.file("elsewhere/v.mp4"), contents: Data([0]))
        FileManager.default.createFile(atPath: dir.file("shared/v.mp4"), contents: Data([0]))
        func load(_ extra: String) throws -> DaemonConfig {
            let path = dir.file("config.json")
            try Data("""
                {"models": {"micro": "\(TestMedia.microModel)"}, "output_root": "shared/out", "media_root": "shared/media", \(extra)}
                """.utf8).write(to: URL(fileURLWithPath: path))
            return try DaemonConfig.load(path: path, dataDirectory: dir.file("data"))
        }
        let config = try load("""
            "store": {"postgres": "postgresql://u@127.0.0.1:5432/db"}, "node": {"name": "n1", "lease_ttl_s": 9, "heartbeat_s": 2},
            "shared_roots": ["shared"], "sources": {"roots": ["elsewhere", "shared"]}
            """)
        XCTAssertEqual(config.store, .postgres(url: "postgresql://u@127.0.0.1:5432/db"))
        XCTAssertEqual(config.node, DaemonConfig.Node(name: "n1", leaseTTL: 9, heartbeat: 2))
        XCTAssertEqual(config.sharedRoots, [PathPolicy.realPath(dir.file("shared"))!])
        XCTAssertEqual(try load(#""store": {"sqlite": "jobs.sqlite"}"#).store, .sqlite(path: dir.file("jobs.sqlite")))
        XCTAssertEqual(try load("\"checkpoint_every\": 5").store, .sqlite(path: nil))
        let refusals = [
            (#""store": {"sqlite": "a", "postgres": "postgresql://u@h/d"}"#, "either \"sqlite\" or \"postgres\""),
            (#""store": {"postgres": "http://u@h/d"}"#, "store.postgres"),
            (#""store": {"mysql": "x"}"#, "mysql"),
            (#""node": {"lease_ttl_s": 5, "heartbeat_s": 5}"#, "heartbeat_s positive and below it"),
            (#""node": {"name": "a b"}"#, "node.name"),
            (#""store": {"postgres": "postgresql://u@h/d"}, "shared_roots": ["data"]"#, "not an existing directory"),
        ]
        for (extra, why) in refusals + [(#""store": {"postgres": "postgresql://u@h/d"}, "shared_roots": ["elsewhere"]"#,
                                          "output_root '\(PathPolicy.realPath(dir.file("shared/out"))!)' is not under a shared root")] {
            XCTAssertThrowsError(try load(extra), extra) { XCTAssertTrue("\($0)".contains(why), "\(extra): \($0)") }
        }
        // With a shared store and shared roots, a file source outside them is refused at submission.
        let policy = PathPolicy(config: config)
        XCTAssertThrowsError(try policy.checkSource(dir.file("elsewhere/v.mp4"))) {
            XCTAssertTrue("\($0)".contains("is not under a shared root"), "\($0)")
        }
        XCTAssertEqual(try policy.checkSource(dir.file("shared/v.mp4")), .file(PathPolicy.realPath(dir.file("shared/v.mp4"))!))
    }

    func testStoreURLParsing() throws {
        let plain = try PostgresLocation(url: "postgresql://me:pw%21@db.example:6543/jobs")
        XCTAssertEqual([plain.user, plain.password, plain.host, plain.database], ["me", "pw!", "db.example", "jobs"])
        XCTAssertEqual(plain.port, 6543)
        XCTAssertEqual(plain.description, "postgresql://me@db.example:6543/jobs", "no password in logs")
        let socket = try PostgresLocation(url: "postgres://me@/jobs?host=/run/postgresql")
        XCTAssertEqual(socket.socketDirectory, "/run/postgresql")
        XCTAssertEqual(socket.port, 5432)
        for (bad, why) in [("http://me@h/db", "expected postgresql://"), ("postgresql://h:5432/db", "no user"),
                           ("postgresql://me@h:5432/", "no database"), ("postgresql://me@/db", "no host"),
                           ("postgresql://me@h/db?sslmode=require", "unsupported parameter 'sslmode=require'")] {
            XCTAssertThrowsError(try PostgresLocation(url: bad), bad) { XCTAssertTrue("\($0)".contains(why), "\(bad): \($0)") }
        }
        XCTAssertEqual(DaemonConfig.Store(argument: "postgresql://a@b/c"), .postgres(url: "postgresql://a@b/c"))
        XCTAssertEqual(DaemonConfig.Store(argument: "/var/jobs.sqlite"), .sqlite(path: "/var/jobs.sqlite"))
    }
}

/// An array appended to from several threads.
final class LockedArray<Element>: @unchecked Sendable {  // `items` behind `lock`
    private let lock = NSLock()
    private var items: [Element] = []
    func append(_ item: Element) { lock.withLock { items.append(item) } }
    var values: [Element] { lock.withLock { items } }
}
