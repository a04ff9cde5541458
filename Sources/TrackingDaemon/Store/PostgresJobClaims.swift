// PostgresJobClaims: PostgresJobStore's `SharedJobQueue` side — claiming the next queued job with
// `FOR UPDATE SKIP LOCKED`, leases renewed by the heartbeat and fenced by their token, the tracker
// state of a checkpoint, and cancels sent through any node.

import Foundation
import NIOCore
import PostgresNIO
import TrackingRun

extension PostgresJobStore {
    public func claimNext(ttl: Double, decide: (JobRecord, Bool) -> ClaimDecision?) throws -> (record: JobRecord, lease: JobLease)? {
        try access {
            try connector.transaction { c in
                // Several candidates per transaction: rows decided "store" (gave up, abandoned) or
                // "skip" (another node's device) are passed over.
                var passed: [String] = []
                for _ in 0..<64 {
                    let rows = try connector.run(c, """
                        SELECT \(unescaped: Self.columns), (status = 'running') AS expired FROM jobs
                        WHERE quarantined_row IS NULL AND (status = 'queued' OR (status = 'interrupted' AND resumable)
                            OR (status = 'running' AND lease_expires < now())) AND NOT (id = ANY(\(passed)))
                        ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
                        """)
                    guard let row = rows.first else { return nil }
                    guard let stored = Self.readable(row) else {
                        // Unreadable: quarantined at the next start-up of any node; not claimable meanwhile.
                        let id = try row.makeRandomAccess()["id"].decode(String.self)
                        try connector.run(c, """
                            UPDATE jobs SET status = 'failed', error_code = 'quarantined', resumable = FALSE,
                                error_message = 'the job row cannot be read', quarantined_row = 'unreadable at claim',
                                lease_owner = NULL, lease_token = NULL, lease_expires = NULL
                            WHERE id = \(id)
                            """)
                        passed.append(id)
                        continue
                    }
                    let expired = try row.makeRandomAccess()["expired"].decode(Bool.self)
                    switch decide(stored, expired) {
                    case nil:
                        return nil
                    case .skip:
                        passed.append(stored.id)
                        continue
                    case let .store(record):
                        try storeUnleased(record, on: c)
                        continue
                    case let .run(record):
                        let token = try connector.run(c, "SELECT nextval('lease_tokens')").first?.decode(Int64.self) ?? 0
                        var q = SQLBuilder()
                        var sql = "UPDATE jobs SET " + Self.assignments(record, &q)
                        sql += """
                            , lease_owner = \(q.p(nodeName)), lease_token = \(q.p(token)),
                              lease_expires = now() + make_interval(secs => \(q.p(ttl))), cancel_requested = FALSE
                            WHERE id = \(q.p(record.id))
                            """
                        try connector.run(c, q.query(sql))
                        try discardUncommittedFrames(record, on: c)
                        lock.withLock { held[record.id] = token }
                        return (record, JobLease(jobID: record.id, token: token))
                    }
                }
                return nil
            }
        }
    }

    /// Writes a record decided at claim time that will not run (the row is locked by the claim).
    private func storeUnleased(_ r: JobRecord, on c: PostgresConnection) throws {
        var q = SQLBuilder()
        var sql = "UPDATE jobs SET " + Self.assignments(r, &q)
        sql += ", lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE id = \(q.p(r.id))"
        try connector.run(c, q.query(sql))
        if r.status.isTerminal && !(r.status == .interrupted && r.resumable) {
            try connector.run(c, "DELETE FROM job_checkpoints WHERE job_id = \(r.id)")
        }
    }

    public func renew(_ lease: JobLease, ttl: Double) throws -> LeaseRenewal {
        try access {
            try connector.withConnection { c in
                let rows = try connector.run(c, """
                    UPDATE jobs SET lease_expires = now() + make_interval(secs => \(ttl))
                    WHERE id = \(lease.jobID) AND lease_token = \(lease.token) AND status = 'running'
                    RETURNING cancel_requested
                    """)
                guard let row = rows.first else { return .lost }
                return .held(cancelRequested: try row.decode(Bool.self))
            }
        }
    }

    public func checkpointState(jobID: String, frame: Int) throws -> Data? {
        try access {
            try connector.withConnection { c in
                try connector.run(c, "SELECT state FROM job_checkpoints WHERE job_id = \(jobID) AND frame = \(frame)")
                    .first.map { try $0.decode(Data.self) }
            }
        }
    }

    public func requestCancel(jobID: String, apply: (JobRecord) -> JobRecord?) throws -> CancelRequest {
        try access {
            try connector.transaction { c in
                let rows = try connector.run(c, """
                    SELECT \(unescaped: Self.columns), (lease_token IS NOT NULL AND lease_expires >= now()) AS leased
                    FROM jobs WHERE id = \(jobID) FOR UPDATE
                    """)
                guard let row = rows.first else { return .notFound }
                guard let stored = Self.readable(row) else {
                    throw JobStoreError("job \(jobID): its row cannot be read")
                }
                if try row.makeRandomAccess()["leased"].decode(Bool.self) {
                    try connector.run(c, "UPDATE jobs SET cancel_requested = TRUE WHERE id = \(jobID)")
                    try connector.run(c, "SELECT pg_notify('samtrack_cancel', \(jobID))")
                    return .signalled
                }
                guard let cancelled = apply(stored) else { return .notCancellable(stored) }
                try storeUnleased(cancelled, on: c)
                return .cancelled(cancelled)
            }
        }
    }
}
