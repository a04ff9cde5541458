// JobStore: where the daemon keeps its jobs durably. SQLite (`SQLiteJobStore`, one file in the
// data directory) is the store for one machine; the protocol is what the job manager needs from
// any store.

import Foundation
import TrackingRun

/// A store failure (the database is unreachable, full, or refused a statement).
public struct JobStoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
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
