// SQLiteJobStore: the daemon's durable job table in SQLite (GRDB), DATA/samtrackd.sqlite.
//
// Tables (migrations v1, v2):
//   jobs(id, seq, spec JSON, status, output_directory, live, created_at, started_at,
//        finished_at, frames_done, total_frames, dropped_frames, fps, error_code, error_message,
//        checkpoint_frame, resumable, attempts, crashes, end_reason, quarantined_row)
//   applied_prompts(job_id, seq, frame, prompt JSON)   -- prompts added to a running job, with the
//                                                        frame they were applied to (for resume)
// WAL journal with synchronous=NORMAL: a commit survives a crash of the process (kill -9); a power
// loss may lose the last commits, never corrupt the file.

import Foundation
import GRDB
import TrackingRun
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite job table. Thread-safe (GRDB serialises access).
public final class SQLiteJobStore: JobStore {
    public let path: String
    public let isNew: Bool
    private let queue: DatabaseQueue

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        self.path = path
        var info = stat()
        isNew = stat(path, &info) != 0 || info.st_size == 0
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(5)
        configuration.label = "samtrackd.jobs"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(queue)
        } catch {
            throw JobStoreError("cannot open the job database '\(path)': \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY NOT NULL,
                    seq INTEGER NOT NULL UNIQUE,
                    spec TEXT NOT NULL,
                    status TEXT NOT NULL,
                    output_directory TEXT NOT NULL,
                    live INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    frames_done INTEGER NOT NULL DEFAULT 0,
                    total_frames INTEGER,
                    dropped_frames INTEGER NOT NULL DEFAULT 0,
                    fps REAL,
                    error_code TEXT,
                    error_message TEXT,
                    checkpoint_frame INTEGER,
                    resumable INTEGER NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    crashes INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX jobs_status ON jobs(status, seq);
                CREATE TABLE applied_prompts (
                    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    frame INTEGER NOT NULL,
                    prompt TEXT NOT NULL,
                    PRIMARY KEY (job_id, seq)
                );
                """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN end_reason TEXT;
                ALTER TABLE jobs ADD COLUMN quarantined_row TEXT;
                """)
        }
        return migrator
    }

    private func access<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as JobStoreError { throw error } catch {
            throw JobStoreError("job database '\(path)': \(error)")
        }
    }

    /// Inserts a new job, giving it the next sequence number; returns the stored record.
    public func insert(_ record: JobRecord) throws -> JobRecord {
        try access {
            try queue.write { db in
                var record = record
                record.seq = (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM jobs") ?? 0) + 1
                try db.execute(sql: """
                    INSERT INTO jobs (id, seq, spec, status, output_directory, live, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.id, record.seq, APIJSON.encodeString(record.spec), record.status.rawValue,
                                     record.outputDirectory, record.live, record.createdAt.timeIntervalSince1970])
                try Self.update(record, in: db)
                return record
            }
        }
    }

    /// Writes every mutable field of `record`.
    public func update(_ record: JobRecord) throws {
        try access { try queue.write { db in try Self.update(record, in: db) } }
    }

    private static func update(_ r: JobRecord, in db: Database) throws {
        try db.execute(sql: """
            UPDATE jobs SET status = ?, started_at = ?, finished_at = ?, frames_done = ?, total_frames = ?,
                dropped_frames = ?, fps = ?, error_code = ?, error_message = ?, checkpoint_frame = ?, resumable = ?,
                attempts = ?, crashes = ?, end_reason = ?
            WHERE id = ?
            """, arguments: [r.status.rawValue, r.startedAt?.timeIntervalSince1970, r.finishedAt?.timeIntervalSince1970,
                             r.framesDone, r.totalFrames, r.droppedFrames, r.fps, r.errorCode, r.errorMessage,
                             r.checkpointFrame, r.resumable, r.attempts, r.crashes, r.endReason?.rawValue, r.id])
    }

    public func job(_ id: String) throws -> JobRecord? {
        try access { try queue.read { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).flatMap(Self.readable) } }
    }

    public func contains(_ id: String) throws -> Bool {
        try access { try queue.read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM jobs WHERE id = ?", arguments: [id]) ?? false } }
    }

    /// Jobs in submission order, optionally of one status.
    public func jobs(status: JobStatus?, limit: Int, offset: Int) throws -> [JobRecord] {
        try access {
            try queue.read { db in
                if let status {
                    return try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE status = ? ORDER BY seq LIMIT ? OFFSET ?",
                                            arguments: [status.rawValue, limit, offset]).compactMap(Self.readable)
                }
                return try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY seq LIMIT ? OFFSET ?",
                                        arguments: [limit, offset]).compactMap(Self.readable)
            }
        }
    }

    /// Jobs that a starting daemon must deal with: queued, running (it died), interrupted-resumable.
    public func unfinishedJobs() throws -> [JobRecord] {
        try access {
            try queue.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT * FROM jobs WHERE status IN ('queued', 'running') OR (status = 'interrupted' AND resumable = 1)
                    ORDER BY seq
                    """).compactMap(Self.readable)
            }
        }
    }

    /// Number of jobs per status.
    public func countsByStatus() throws -> [JobStatus: Int] {
        try access {
            try queue.read { db in
                var counts: [JobStatus: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") {
                    if let text = row["status"] as String?, let status = JobStatus(rawValue: text) { counts[status] = row["n"] }
                }
                return counts
            }
        }
    }

    /// Records prompts applied to a running job at `frame` (before the frame is tracked).
    public func addAppliedPrompts(jobID: String, frame: Int, prompts: [PromptSpec]) throws {
        try access {
            try queue.write { db in
                var seq = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM applied_prompts WHERE job_id = ?",
                                            arguments: [jobID]) ?? 0)
                for prompt in prompts {
                    seq += 1
                    try db.execute(sql: "INSERT INTO applied_prompts (job_id, seq, frame, prompt) VALUES (?, ?, ?, ?)",
                                   arguments: [jobID, seq, frame, APIJSON.encodeString(prompt)])
                }
            }
        }
    }

    /// Prompts applied to a job while it ran, in order, each with its frame.
    public func appliedPrompts(jobID: String) throws -> [PromptSpec] {
        try access {
            try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT frame, prompt FROM applied_prompts WHERE job_id = ? ORDER BY seq",
                                 arguments: [jobID]).map { row in
                    guard let text = row["prompt"] as String?, let frame = row["frame"] as Int? else {
                        throw JobStoreError("job \(jobID): an applied prompt row is incomplete")
                    }
                    var spec = try JSONDecoder().decode(PromptSpec.self, from: Data(text.utf8))
                    spec.frame = frame
                    return spec
                }
            }
        }
    }

    /// Marks unreadable rows failed (`quarantined`), keeping the original spec and status text.
    public func quarantineUnreadableRows() throws -> [QuarantinedJob] {
        try access {
            try queue.write { db in
                var found: [QuarantinedJob] = []
                for row in try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE quarantined_row IS NULL") {
                    guard case let .failure(problem) = Self.decode(row) else { continue }
                    let id: String = (row["id"] as String?) ?? "?"
                    let original = "status=\((row["status"] as String?) ?? "NULL") spec=\((row["spec"] as String?) ?? "NULL")"
                    try db.execute(sql: """
                        UPDATE jobs SET status = 'failed', spec = ?, error_code = 'quarantined', error_message = ?,
                            resumable = 0, finished_at = COALESCE(finished_at, ?), quarantined_row = ?
                        WHERE id = ?
                        """, arguments: [Self.placeholderSpec, problem.reason, Date().timeIntervalSince1970, original, id])
                    found.append(QuarantinedJob(id: id, reason: problem.reason))
                }
                return found
            }
        }
    }

    /// The spec stored in place of an unreadable one (the original is kept in quarantined_row).
    static let placeholderSpec = #"{"model":"","prompts":[],"source":""}"#

    struct Unreadable: Error { var reason: String }

    /// The record of `row`, or nil when the row cannot be read (it is quarantined at start-up).
    private static func readable(_ row: Row) -> JobRecord? {
        try? decode(row).get()
    }

    private static func decode(_ row: Row) -> Result<JobRecord, Unreadable> {
        do {
            return .success(try record(row))
        } catch let error as Unreadable {
            return .failure(error)
        } catch {
            return .failure(Unreadable(reason: "the row cannot be read: \(error)"))
        }
    }

    private static func record(_ row: Row) throws -> JobRecord {
        guard let specText = row["spec"] as String? else { throw Unreadable(reason: "the job's request is missing") }
        let spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: Data(specText.utf8))
        } catch let error as DecodingError {
            throw Unreadable(reason: "the job's stored request is unreadable: \(describe(error))")
        } catch {
            throw Unreadable(reason: "the job's stored request is not JSON")
        }
        guard let statusText = row["status"] as String?, let status = JobStatus(rawValue: statusText) else {
            throw Unreadable(reason: "the job has an unknown status '\((row["status"] as String?) ?? "NULL")'")
        }
        guard let id = row["id"] as String?, let seq = row["seq"] as Int64?, let output = row["output_directory"] as String?,
              let live = row["live"] as Bool?, let created = row["created_at"] as Double? else {
            throw Unreadable(reason: "the job's row misses a required column")
        }
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        var r = JobRecord(id: id, seq: seq, spec: spec, status: status, outputDirectory: output, live: live,
                          createdAt: Date(timeIntervalSince1970: created))
        r.startedAt = date("started_at")
        r.finishedAt = date("finished_at")
        r.framesDone = (row["frames_done"] as Int?) ?? 0
        r.totalFrames = row["total_frames"]
        r.droppedFrames = (row["dropped_frames"] as Int?) ?? 0
        r.fps = row["fps"]
        r.errorCode = row["error_code"]
        r.errorMessage = row["error_message"]
        r.endReason = (row["end_reason"] as String?).flatMap(JobEndReason.init(rawValue:))
        r.checkpointFrame = row["checkpoint_frame"]
        r.resumable = (row["resumable"] as Bool?) ?? false
        r.attempts = (row["attempts"] as Int?) ?? 0
        r.crashes = (row["crashes"] as Int?) ?? 0
        return r
    }
}
