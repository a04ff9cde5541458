// JobStore: where the daemon keeps its jobs durably. SQLite (`SQLiteJobStore`, one file in the
// data directory) is the store for one machine; PostgreSQL (`PostgresJobStore`) is the store that
// several daemons share (it also conforms to `SharedJobQueue`, SharedJobQueue.swift). The protocol
// is what the job manager needs from any store.

import Foundation
import TrackingRun

/// A store failure (the database is unreachable, full, or refused a statement).
public struct JobStoreError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure: most are `failure`; the others need a different answer.
    public enum Kind: Sendable, Equatable {
        case failure
        /// Another unfinished job already writes to the same output directory (409 `output_in_use`).
        case outputInUse
        /// This node's lease on the job was taken by another node (it must stop writing).
        case leaseLost
    }
    public var message: String
    public var kind: Kind
    public init(_ message: String, kind: Kind = .failure) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }
}

/// A row that could not be read and was marked failed (`quarantined`) instead.
public struct QuarantinedJob: Sendable, Equatable {
    public var id: String
    public var reason: String
}

/// The durable job table (see the file comment). Implementations are thread-safe.
public protocol JobStore: Sendable {
    /// True when the store was created empty by this process (a new or deleted database).
    var isNew: Bool { get }
    /// Inserts a new job, giving it the next sequence number; returns the stored record.
    func insert(_ record: JobRecord) throws -> JobRecord
    /// Writes every mutable field of `record`.
    func update(_ record: JobRecord) throws
    func job(_ id: String) throws -> JobRecord?
    /// Jobs in submission order, optionally of one status (unreadable rows are skipped).
    func jobs(status: JobStatus?, limit: Int, offset: Int) throws -> [JobRecord]
    /// Jobs a starting daemon must deal with: queued, running (it died), interrupted-resumable.
    func unfinishedJobs() throws -> [JobRecord]
    /// Number of jobs per status.
    func countsByStatus() throws -> [JobStatus: Int]
    /// Whether a job with this id exists (readable or not).
    func contains(_ id: String) throws -> Bool
    /// Records prompts applied to a running job at `frame` (before the frame is tracked).
    func addAppliedPrompts(jobID: String, frame: Int, prompts: [PromptSpec]) throws
    /// Prompts applied to a job while it ran, in order, each with its frame.
    func appliedPrompts(jobID: String) throws -> [PromptSpec]
    /// Marks every row that cannot be read (bad spec, unknown status) failed with code
    /// `quarantined`, keeping the original row text; returns them.
    func quarantineUnreadableRows() throws -> [QuarantinedJob]
}
