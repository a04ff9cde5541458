// JobStore: the daemon's durable job table in SQLite (GRDB), DATA/samtrackd.sqlite.
//
// Tables:
//   jobs(id, seq, spec JSON, status, source_kind, output_directory, live, created_at, started_at,
//        finished_at, frames_done, total_frames, dropped_frames, fps, error_code, error_message,
//        checkpoint_frame, resumable, attempts, crashes)
//   applied_prompts(job_id, seq, frame, prompt JSON)   -- prompts added to a running job, with the
//                                                        frame they were applied to (for resume)
// WAL journal with synchronous=NORMAL: a commit survives a crash of the process (kill -9); a power
// loss may lose the last commits, never corrupt the file.

import Foundation
import GRDB

/// Life cycle of a job.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    /// Waiting for a worker.
    case queued
    /// Being tracked.
    case running
    /// Tracked to the end of the source (or max_frames).
    case succeeded
    /// Stopped by an error (see `error`).
    case failed
    /// Stopped by DELETE; outputs hold the frames done.
    case cancelled
    /// Stopped by a daemon shutdown or crash. `resumable` jobs (files) continue from their last
    /// checkpoint when the daemon starts again; live jobs do not.
    case interrupted

    /// True once nothing more will happen to the job.
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: return false
        case .succeeded, .failed, .cancelled, .interrupted: return true
        }
    }
}

/// One job as stored.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    /// Submission order (FIFO scheduling, listing).
    public var seq: Int64
    public var spec: JobSpec
    public var status: JobStatus
    /// Absolute output directory (under the output root).
    public var outputDirectory: String
    /// Live mode (newest frame wins; not resumable).
    public var live: Bool
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Frames tracked (the last tracked frame + 1, counting frames before a resume).
    public var framesDone: Int = 0
    /// Frames the job will track when known (file length, max_frames).
    public var totalFrames: Int?
    public var droppedFrames: Int = 0
    /// Frames per second of the latest run.
    public var fps: Double?
    public var errorCode: String?
    public var errorMessage: String?
    /// Last frame whose tracker state is saved in DATA/jobs/<id>/state.safetensors.
    public var checkpointFrame: Int?
    /// An interrupted job that the next start of the daemon resumes.
    public var resumable: Bool = false
    /// Times a worker started the job.
    public var attempts: Int = 0
    /// Times the daemon died while the job was running.
    public var crashes: Int = 0

    public init(id: String, seq: Int64 = 0, spec: JobSpec, status: JobStatus, outputDirectory: String, live: Bool,
                createdAt: Date) {
        self.id = id
        self.seq = seq
        self.spec = spec
        self.status = status
        self.outputDirectory = outputDirectory
        self.live = live
        self.createdAt = createdAt
    }
}

/// Errors of the store (wrapping GRDB's).
public struct JobStoreError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The SQLite job table. Thread-safe (GRDB serialises access).
public final class JobStore: Sendable {
    public let path: String
    private let queue: DatabaseQueue

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        self.path = path
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
            throw JobStoreError(message: "cannot open the job database '\(path)': \(error)")
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
        return migrator
    }

    private func access<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as JobStoreError { throw error } catch {
            throw JobStoreError(message: "job database '\(path)': \(error)")
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
                attempts = ?, crashes = ?
            WHERE id = ?
            """, arguments: [r.status.rawValue, r.startedAt?.timeIntervalSince1970, r.finishedAt?.timeIntervalSince1970,
                             r.framesDone, r.totalFrames, r.droppedFrames, r.fps, r.errorCode, r.errorMessage,
                             r.checkpointFrame, r.resumable, r.attempts, r.crashes, r.id])
    }

    public func job(_ id: String) throws -> JobRecord? {
        try access { try queue.read { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Self.record) } }
    }

    /// Jobs in submission order, optionally of one status.
    public func jobs(status: JobStatus? = nil, limit: Int = 100, offset: Int = 0) throws -> [JobRecord] {
        try access {
            try queue.read { db in
                if let status {
                    return try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE status = ? ORDER BY seq LIMIT ? OFFSET ?",
                                            arguments: [status.rawValue, limit, offset]).map(Self.record)
                }
                return try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY seq LIMIT ? OFFSET ?",
                                        arguments: [limit, offset]).map(Self.record)
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
                    """).map(Self.record)
            }
        }
    }

    /// Number of jobs per status.
    public func countsByStatus() throws -> [JobStatus: Int] {
        try access {
            try queue.read { db in
                var counts: [JobStatus: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") {
                    if let status = JobStatus(rawValue: row["status"]) { counts[status] = row["n"] }
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
                    var spec = try JSONDecoder().decode(PromptSpec.self, from: Data((row["prompt"] as String).utf8))
                    spec.frame = row["frame"]
                    return spec
                }
            }
        }
    }

    private static func record(_ row: Row) throws -> JobRecord {
        let specText: String = row["spec"]
        let spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: Data(specText.utf8))
        } catch {
            throw JobStoreError(message: "job \(row["id"] as String? ?? "?") has an unreadable spec: \(error)")
        }
        guard let status = JobStatus(rawValue: row["status"]) else {
            throw JobStoreError(message: "job \(row["id"] as String? ?? "?") has an unknown status")
        }
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        var r = JobRecord(id: row["id"], seq: row["seq"], spec: spec, status: status,
                          outputDirectory: row["output_directory"], live: row["live"], createdAt: date("created_at")!)
        r.startedAt = date("started_at")
        r.finishedAt = date("finished_at")
        r.framesDone = row["frames_done"]
        r.totalFrames = row["total_frames"]
        r.droppedFrames = row["dropped_frames"]
        r.fps = row["fps"]
        r.errorCode = row["error_code"]
        r.errorMessage = row["error_message"]
        r.checkpointFrame = row["checkpoint_frame"]
        r.resumable = row["resumable"]
        r.attempts = row["attempts"]
        r.crashes = row["crashes"]
        return r
    }
}
