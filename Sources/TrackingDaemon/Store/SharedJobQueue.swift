// SharedJobQueue: what a store that several daemons (nodes) share adds to `JobStore` — claiming
// jobs under a lease, renewing it, fenced writes, tracker checkpoints kept in the database, and
// cancel requests that reach the node running a job. `PostgresJobStore` implements it; the job
// manager uses it when its store conforms (JobLeases.swift).
//
// Leases: a claimed job carries its node's name, a lease token (a number never used before) and an
// expiry (database clock). Every write a node makes for a job it runs names the token; once another
// node has claimed the job (after the lease expired) the token differs and the write is refused
// (`JobStoreError.Kind.leaseLost`): a node whose lease was taken stops writing.

import Foundation
import TrackingRun

/// A node's hold on a running job.
public struct JobLease: Sendable, Equatable {
    public var jobID: String
    /// Unique per claim: a later claim of the same job gets a larger one.
    public var token: Int64
    public init(jobID: String, token: Int64) {
        self.jobID = jobID
        self.token = token
    }
}

/// What a heartbeat learned about a lease.
public enum LeaseRenewal: Sendable, Equatable {
    /// Still this node's, extended; `cancelRequested` when a cancel was asked through any node.
    case held(cancelRequested: Bool)
    /// Another node took the job, or it ended elsewhere: stop writing.
    case lost
}

/// What a cancel request did.
public enum CancelRequest: Sendable, Equatable {
    /// The job had no live lease and was cancelled at once (the stored record).
    case cancelled(JobRecord)
    /// A node runs the job: it was asked to stop (it sees the request at its next heartbeat or notification).
    case signalled
    /// The job had already ended, or cannot be cancelled in its state (the stored record).
    case notCancellable(JobRecord)
    /// No such job.
    case notFound
}

/// How the claimer turns a claimable stored job into the record to run, or to store as it ended.
public enum ClaimDecision: Sendable {
    /// Run it (the record after `.started`).
    case run(JobRecord)
    /// Do not run it: store this record (e.g. gave up after repeated crashes) and look further.
    case store(JobRecord)
    /// Leave it to another node (this one may not open its source) and look further.
    case skip
}

/// One tracked frame as committed to a shared store: its masks.jsonl line (each object's RLE,
/// score, area and box) and the objects prompted on it.
public struct StoredFrame: Sendable, Equatable {
    /// 0-based index in the source (the tracker's count; checkpoints name frames by index).
    public var index: Int
    /// The frame's number as the line names it.
    public var frame: Int
    /// The exact masks.jsonl line (`FrameRecord.jsonLine`, no newline).
    public var line: String
    /// Objects that received a prompt on this frame.
    public var prompted: [Int]
    public init(index: Int, frame: Int, line: String, prompted: [Int] = []) {
        self.index = index
        self.frame = frame
        self.line = line
        self.prompted = prompted
    }
}

/// Live prompts sent through a node that does not run the job, waiting for the node that does.
public struct PromptRequest: Sendable {
    public var id: Int64
    public var jobID: String
    public var prompts: [PromptSpec]
}

/// What became of a `PromptRequest`.
public enum PromptRequestOutcome: Sendable, Equatable {
    /// Not taken by the running node yet (or taken, not yet applied).
    case pending
    /// Applied before the tracking of `frame` (nil: the job ended before the next frame).
    case applied(frame: Int?)
    /// Refused by the running node with an API error code and message.
    case refused(code: String, message: String)
}

/// A store shared by several nodes (see the file comment). Implementations are thread-safe.
public protocol SharedJobQueue: JobStore {
    /// This node's name (recorded with each lease it holds).
    var nodeName: String { get }
    /// Claims the oldest claimable job — queued, interrupted and resumable, or running under an
    /// expired lease (its node died) — with `FOR UPDATE SKIP LOCKED`, so that concurrent claimers
    /// never take the same one. `decide` gets the stored record and whether its lease had expired.
    func claimNext(ttl: Double, decide: (JobRecord, _ leaseExpired: Bool) -> ClaimDecision?) throws
        -> (record: JobRecord, lease: JobLease)?
    /// Extends a lease by `ttl` seconds; `.lost` when the token is no longer the job's.
    func renew(_ lease: JobLease, ttl: Double) throws -> LeaseRenewal
    /// Writes `record`, `frames` (replacing rows of the same index) and, when given, the tracker
    /// state saved at `record.checkpointFrame`, in one fenced transaction.
    func saveProgress(_ record: JobRecord, frames: [StoredFrame], state: Data?) throws
    /// Committed frames of a job with an index above `afterIndex`, in index order, at most `limit`.
    func frames(jobID: String, afterIndex: Int, limit: Int) throws -> [StoredFrame]
    /// The tracker state saved for `jobID` at `frame`, if the database has it.
    func checkpointState(jobID: String, frame: Int) throws -> Data?
    /// Cancels a job without a live lease at once (`apply` gives the cancelled record), or asks the node running it to stop.
    func requestCancel(jobID: String, apply: (JobRecord) -> JobRecord?) throws -> CancelRequest
    /// Records live prompts for the node running `jobID` and notifies it; returns the request's id.
    func requestPrompts(jobID: String, prompts: [PromptSpec]) throws -> Int64
    /// Takes the pending prompt requests of a job this node runs (each is taken once).
    func takePromptRequests(jobID: String) throws -> [PromptRequest]
    /// Records what became of a request.
    func settlePromptRequest(_ id: Int64, outcome: PromptRequestOutcome) throws
    /// What became of a request (nil: no such request).
    func promptRequestOutcome(_ id: Int64) throws -> PromptRequestOutcome?
    /// Jobs waiting to be claimed.
    func queuedCount() throws -> Int
    /// Starts listening (on a connection of its own, reconnected after failures) for new jobs, and
    /// for cancel requests and prompt requests naming a job; the callbacks run on a database event
    /// loop and must be quick.
    func listen(onJobQueued: @escaping @Sendable () -> Void, onCancel: @escaping @Sendable (String) -> Void,
                onPrompts: @escaping @Sendable (String) -> Void)
    /// Stops using the database (connections closed).
    func close()
}

extension SharedJobQueue {
    /// Writes `record` and the tracker state saved for it (no frames) in one fenced transaction.
    public func saveCheckpoint(_ record: JobRecord, state: Data) throws {
        try saveProgress(record, frames: [], state: state)
    }
}
