// PostgresJobStore: the job table in PostgreSQL, shared by every samtrackd node that names the same
// database (`"store": {"postgres": "postgresql://..."}`). Implements `JobStore` like SQLite and
// `SharedJobQueue` (claims, leases, fenced writes, checkpoints, cross-node cancel).
//
// Files: this one (connection, LISTEN, the `JobStore` rows), PostgresSchema.swift (the versioned
// migrations), PostgresJobClaims.swift (`SharedJobQueue`: claims, leases, cancels),
// PostgresJobFrames.swift (per-frame results, live prompt requests), PostgresRows.swift (row
// decoding, statement parameters).
//
// Schema (versioned migrations in `samtrack_migrations`, applied by the daemon at start-up under
// an advisory lock so that nodes starting together apply each version once):
//   v1 jobs(... the SQLite columns ..., lease_owner, lease_token, lease_expires, cancel_requested)
//      applied_prompts(job_id, seq, frame, prompt)
//      a unique index on output_directory over unfinished jobs (two jobs never write one directory)
//   v2 job_checkpoints(job_id, frame, state bytea, lease_token)  -- tracker state, written with the
//                                                                 job's checkpoint_frame in one transaction
//   v3 job_frames(job_id, idx, frame, line, prompted)  -- per-frame results (masks.jsonl lines),
//                                                        committed with the checkpoint (PostgresJobFrames.swift)
//      prompt_requests(id, job_id, prompts, outcome ...)  -- live prompts for the node running a job
// Times are seconds since 1970 (as in SQLite), lease expiries the database's clock (timestamptz).

import Foundation
import NIOCore
import PostgresNIO
import TrackingRun

/// The PostgreSQL job store (see the file comment). Thread-safe.
public final class PostgresJobStore: SharedJobQueue, @unchecked Sendable {  // `held` behind `lock`
    public let location: PostgresLocation
    public let nodeName: String
    /// True when this process created the schema (version 1 applied now).
    public let isNew: Bool
    let connector: PostgresConnector
    let lock = NSLock()
    /// Lease tokens of the jobs this node holds or held until another node took them (every write
    /// for them is fenced by the token); removed when this node gives the job back.
    var held: [String: Int64] = [:]

    /// The advisory lock key that serialises migrations ("samtrack" in ASCII, as a number).
    static let migrationLockKey: Int64 = 0x73616D747261636B

    /// Connects, migrates, and checks that the schema is one this build knows.
    /// - Throws: `JobStoreError` (unreachable server, refused login, newer schema).
    public init(url: String, nodeName: String) throws {
        location = try PostgresLocation(url: url)
        self.nodeName = nodeName
        connector = PostgresConnector(location: location)
        do {
            isNew = try Self.migrate(connector)
        } catch {
            connector.close()
            throw error
        }
    }

    public func close() {
        let listening: PostgresConnection? = lock.withLock {
            listenerStopped = true
            return listener
        }
        _ = try? listening?.close().wait()
        connector.close()
    }

    /// The LISTEN connection (see `listen`), and whether it must stay closed.
    private var listener: PostgresConnection?
    private var listenerStopped = false

    /// Channels: `samtrack_jobs` (a job was queued: `insert`), `samtrack_cancel` (payload: a job id,
    /// `requestCancel`) and `samtrack_prompts` (payload: a job id, `requestPrompts`).
    public func listen(onJobQueued: @escaping @Sendable () -> Void, onCancel: @escaping @Sendable (String) -> Void,
                       onPrompts: @escaping @Sendable (String) -> Void) {
        let thread = Thread { [self] in
            var failures = 0
            while !lock.withLock({ listenerStopped }) {
                do {
                    let connection = try connector.connect()
                    connection.addListener(channel: "samtrack_jobs") { _, _ in onJobQueued() }
                    connection.addListener(channel: "samtrack_cancel") { _, note in onCancel(note.payload) }
                    connection.addListener(channel: "samtrack_prompts") { _, note in onPrompts(note.payload) }
                    try connector.run(connection, "LISTEN samtrack_jobs")
                    try connector.run(connection, "LISTEN samtrack_cancel")
                    try connector.run(connection, "LISTEN samtrack_prompts")
                    let keep: Bool = lock.withLock {
                        if listenerStopped { return false }
                        listener = connection
                        return true
                    }
                    guard keep else {
                        _ = try? connection.close().wait()
                        return
                    }
                    failures = 0
                    onJobQueued()  // jobs queued while this node was not listening (missed prompt
                                   // requests are taken at the next heartbeat)
                    try? connection.closeFuture.wait()
                } catch {
                    failures += 1
                }
                // Reconnect with backoff (0.5 s doubling to 8 s) until the store is closed.
                Thread.sleep(forTimeInterval: min(8, 0.5 * Double(1 << min(failures, 4))))
            }
        }
        thread.name = "samtrackd.listen"
        thread.start()
    }

    // MARK: - JobStore

    func access<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as JobStoreError { throw error } catch {
            throw JobStoreError("job database \(location): \(PostgresConnector.describe(error))")
        }
    }

    func heldToken(_ id: String) -> Int64? { lock.withLock { held[id] } }

    public func insert(_ record: JobRecord) throws -> JobRecord {
        try access {
            try connector.withConnection { c in
                var r = record
                var q = SQLBuilder()
                let sql = """
                    INSERT INTO jobs (id, spec, status, output_directory, live, created_at, started_at, finished_at,
                        frames_done, total_frames, dropped_frames, fps, error_code, error_message, checkpoint_frame,
                        resumable, attempts, crashes, end_reason)
                    VALUES (\(q.p(r.id)), \(q.p(APIJSON.encodeString(r.spec))), \(q.p(r.status.rawValue)),
                        \(q.p(r.outputDirectory)), \(q.p(r.live)), \(q.p(r.createdAt.timeIntervalSince1970)),
                        \(q.p(r.startedAt?.timeIntervalSince1970)), \(q.p(r.finishedAt?.timeIntervalSince1970)),
                        \(q.p(r.framesDone)), \(q.p(r.totalFrames)), \(q.p(r.droppedFrames)), \(q.p(r.fps)),
                        \(q.p(r.errorCode)), \(q.p(r.errorMessage)), \(q.p(r.checkpointFrame)), \(q.p(r.resumable)),
                        \(q.p(r.attempts)), \(q.p(r.crashes)), \(q.p(r.endReason?.rawValue)))
                    RETURNING seq
                    """
                let rows: PostgresQueryResult
                do {
                    rows = try connector.run(c, q.query(sql))
                } catch let failure as PostgresConnector.QueryFailure where failure.sqlState == "23505" {
                    throw JobStoreError("another unfinished job writes to '\(r.outputDirectory)'", kind: .outputInUse)
                }
                guard let row = rows.first else { throw JobStoreError("the job database returned no sequence number") }
                r.seq = try row.decode(Int64.self)
                try connector.run(c, "NOTIFY samtrack_jobs")
                return r
            }
        }
    }

    /// The SET clause of every mutable field of `r`.
    static func assignments(_ r: JobRecord, _ q: inout SQLBuilder) -> String {
        """
        status = \(q.p(r.status.rawValue)), started_at = \(q.p(r.startedAt?.timeIntervalSince1970)),
        finished_at = \(q.p(r.finishedAt?.timeIntervalSince1970)), frames_done = \(q.p(r.framesDone)),
        total_frames = \(q.p(r.totalFrames)), dropped_frames = \(q.p(r.droppedFrames)), fps = \(q.p(r.fps)),
        error_code = \(q.p(r.errorCode)), error_message = \(q.p(r.errorMessage)),
        checkpoint_frame = \(q.p(r.checkpointFrame)), resumable = \(q.p(r.resumable)), attempts = \(q.p(r.attempts)),
        crashes = \(q.p(r.crashes)), end_reason = \(q.p(r.endReason?.rawValue))
        """
    }

    /// Writes `r` on `c`, fenced: with the lease token when this node holds the job, else only
    /// while no node holds it. A record that is no longer running gives the lease back.
    func write(_ r: JobRecord, on c: PostgresConnection) throws {
        var q = SQLBuilder()
        var sql = "UPDATE jobs SET " + Self.assignments(r, &q)
        let releases = r.status != .running
        if releases { sql += ", lease_owner = NULL, lease_token = NULL, lease_expires = NULL, cancel_requested = FALSE" }
        let token = heldToken(r.id)
        sql += " WHERE id = \(q.p(r.id)) AND "
        if let token { sql += "lease_token = \(q.p(token))" } else { sql += "lease_token IS NULL" }
        let result = try connector.run(c, q.query(sql))
        guard (result.metadata.rows ?? 0) == 1 else {
            if token != nil {
                // The token stays recorded: every later write of this node for the job is refused too.
                throw JobStoreError("job \(r.id): this node's lease was taken by another node; the write was refused",
                                    kind: .leaseLost)
            }
            if try connector.run(c, "SELECT 1 FROM jobs WHERE id = \(r.id)").isEmpty {
                throw JobStoreError("job \(r.id) is not in the job database")
            }
            throw JobStoreError("job \(r.id) is held by another node; the write was refused", kind: .leaseLost)
        }
        if releases {
            if !(r.status == .interrupted && r.resumable) {
                try connector.run(c, "DELETE FROM job_checkpoints WHERE job_id = \(r.id)")
            }
            if let token { lock.withLock { if held[r.id] == token { held[r.id] = nil } } }
        }
    }

    public func update(_ record: JobRecord) throws {
        try access { try connector.transaction { c in try write(record, on: c) } }
    }

    static let columns = """
        id, seq, spec, status, output_directory, live, created_at, started_at, finished_at, frames_done, total_frames,
        dropped_frames, fps, error_code, error_message, checkpoint_frame, resumable, attempts, crashes, end_reason
        """

    public func job(_ id: String) throws -> JobRecord? {
        try access {
            try connector.withConnection { c in
                try connector.run(c, "SELECT \(unescaped: Self.columns) FROM jobs WHERE id = \(id)").first.flatMap(Self.readable)
            }
        }
    }

    public func contains(_ id: String) throws -> Bool {
        try access { try connector.withConnection { c in !(try connector.run(c, "SELECT 1 FROM jobs WHERE id = \(id)").isEmpty) } }
    }

    public func jobs(status: JobStatus?, limit: Int, offset: Int) throws -> [JobRecord] {
        try access {
            try connector.withConnection { c in
                let rows: PostgresQueryResult
                if let status {
                    rows = try connector.run(c, """
                        SELECT \(unescaped: Self.columns) FROM jobs WHERE status = \(status.rawValue)
                        ORDER BY seq LIMIT \(limit) OFFSET \(offset)
                        """)
                } else {
                    rows = try connector.run(c, "SELECT \(unescaped: Self.columns) FROM jobs ORDER BY seq LIMIT \(limit) OFFSET \(offset)")
                }
                return rows.compactMap(Self.readable)
            }
        }
    }

    public func unfinishedJobs() throws -> [JobRecord] {
        try access {
            try connector.withConnection { c in
                try connector.run(c, """
                    SELECT \(unescaped: Self.columns) FROM jobs
                    WHERE status IN ('queued', 'running') OR (status = 'interrupted' AND resumable) ORDER BY seq
                    """).compactMap(Self.readable)
            }
        }
    }

    public func countsByStatus() throws -> [JobStatus: Int] {
        try access {
            try connector.withConnection { c in
                var counts: [JobStatus: Int] = [:]
                for row in try connector.run(c, "SELECT status, COUNT(*) FROM jobs GROUP BY status") {
                    let (text, n) = try row.decode((String, Int).self)
                    if let status = JobStatus(rawValue: text) { counts[status] = n }
                }
                return counts
            }
        }
    }

    public func queuedCount() throws -> Int {
        try access {
            try connector.withConnection { c in
                try connector.run(c, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'").first?.decode(Int.self) ?? 0
            }
        }
    }

    public func addAppliedPrompts(jobID: String, frame: Int, prompts: [PromptSpec]) throws {
        try access {
            try connector.transaction { c in
                try fence(jobID, on: c)
                var seq = try connector.run(c, "SELECT COALESCE(MAX(seq), 0) FROM applied_prompts WHERE job_id = \(jobID)")
                    .first?.decode(Int.self) ?? 0
                for prompt in prompts {
                    seq += 1
                    try connector.run(c, """
                        INSERT INTO applied_prompts (job_id, seq, frame, prompt)
                        VALUES (\(jobID), \(seq), \(frame), \(APIJSON.encodeString(prompt)))
                        """)
                }
            }
        }
    }

    /// Locks the job's row and checks that this node's lease (when it holds one) is still the job's.
    func fence(_ jobID: String, on c: PostgresConnection) throws {
        guard let token = heldToken(jobID) else { return }
        let rows = try connector.run(c, "SELECT 1 FROM jobs WHERE id = \(jobID) AND lease_token = \(token) FOR UPDATE")
        if rows.isEmpty {
            throw JobStoreError("job \(jobID): this node's lease was taken by another node; the write was refused", kind: .leaseLost)
        }
    }

    public func appliedPrompts(jobID: String) throws -> [PromptSpec] {
        try access {
            try connector.withConnection { c in
                try connector.run(c, "SELECT frame, prompt FROM applied_prompts WHERE job_id = \(jobID) ORDER BY seq").map { row in
                    let (frame, text) = try row.decode((Int, String).self)
                    var spec = try JSONDecoder().decode(PromptSpec.self, from: Data(text.utf8))
                    spec.frame = frame
                    return spec
                }
            }
        }
    }

    public func quarantineUnreadableRows() throws -> [QuarantinedJob] {
        try access {
            try connector.transaction { c in
                var found: [QuarantinedJob] = []
                let rows = try connector.run(c, """
                    SELECT \(unescaped: Self.columns) FROM jobs WHERE quarantined_row IS NULL
                    FOR UPDATE SKIP LOCKED
                    """)
                for row in rows {
                    guard case let .failure(problem) = Self.decode(row) else { continue }
                    let cells = row.makeRandomAccess()
                    let id = (try? cells["id"].decode(String.self)) ?? "?"
                    let original = "status=\((try? cells["status"].decode(String?.self)) ?? nil ?? "NULL") "
                        + "spec=\((try? cells["spec"].decode(String?.self)) ?? nil ?? "NULL")"
                    try connector.run(c, """
                        UPDATE jobs SET status = 'failed', spec = \(SQLiteJobStore.placeholderSpec), error_code = 'quarantined',
                            error_message = \(problem.reason), resumable = FALSE,
                            finished_at = COALESCE(finished_at, \(Date().timeIntervalSince1970)), quarantined_row = \(original),
                            lease_owner = NULL, lease_token = NULL, lease_expires = NULL
                        WHERE id = \(id)
                        """)
                    found.append(QuarantinedJob(id: id, reason: problem.reason))
                }
                return found
            }
        }
    }
}
