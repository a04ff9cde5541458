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
    /// Writes `record` (its `checkpointFrame`) and the tracker state saved for it in one fenced transaction.
    func saveCheckpoint(_ record: JobRecord, state: Data) throws
    /// The tracker state saved for `jobID` at `frame`, if the database has it.
    func checkpointState(jobID: String, frame: Int) throws -> Data?
    /// Cancels a job without a live lease at once (`apply` gives the cancelled record), or asks the node running it to stop.
    func requestCancel(jobID: String, apply: (JobRecord) -> JobRecord?) throws -> CancelRequest
    /// Jobs waiting to be claimed.
    func queuedCount() throws -> Int
    /// Starts listening (on a connection of its own, reconnected after failures) for new jobs and
    /// for cancel requests naming a job; the callbacks run on a database event loop and must be quick.
    func listen(onJobQueued: @escaping @Sendable () -> Void, onCancel: @escaping @Sendable (String) -> Void)
    /// Stops using the database (connections closed).
    func close()
}
