// JobRecovery: what a starting daemon does with the jobs it finds.
//
// - Rows that cannot be read (a damaged spec, an unknown status) are quarantined: marked failed
//   with code `quarantined`, logged, and served like any other ended job; they never stop the
//   daemon or a listing.
// - State the store does not know is refused: tracker checkpoints in DATA/jobs/<id> of an unknown
//   id, or outputs in the output root when the job database is new (deleted, emptied). Starting
//   anyway would silently lose those jobs; `--ignore-orphans` starts and leaves them in place.
// - Queued and interrupted-resumable jobs go back to the queue in submission order; a job found
//   running (the daemon died) is resumed from its checkpoint when it is a file job, marked
//   interrupted when live, and failed after `maxCrashes` deaths during it.

import Foundation

/// Why the daemon refuses to start with this data directory.
public enum RecoveryError: Error, CustomStringConvertible, Sendable {
    /// Checkpoints or outputs exist for jobs the database does not know.
    case orphanedState(database: String, checkpoints: [String], outputs: [String])
    /// The store could not be read.
    case store(String)

    public var description: String {
        switch self {
        case let .orphanedState(database, checkpoints, outputs):
            var parts: [String] = []
            if !checkpoints.isEmpty {
                parts.append("checkpoints of \(checkpoints.count) unknown job(s) (\(checkpoints.prefix(5).joined(separator: ", "))"
                             + "\(checkpoints.count > 5 ? ", ..." : ""))")
            }
            if !outputs.isEmpty {
                parts.append("outputs in the output root (\(outputs.prefix(5).joined(separator: ", "))\(outputs.count > 5 ? ", ..." : ""))")
            }
            return "the job database \(database) does not know \(parts.joined(separator: " and ")): it may have been deleted "
                + "or replaced, and starting would lose those jobs. Restore the database, or start with --ignore-orphans "
                + "to keep the files and start anyway"
        case let .store(message): return "cannot read the job database: \(message)"
        }
    }
}

/// Start-up recovery (see the file comment).
struct JobRecovery {
    let manager: JobManager

    /// Returns the jobs to queue, in submission order.
    func recover(ignoringOrphans: Bool) throws -> [ActiveJob] {
        let store = manager.store
        do {
            for bad in try store.quarantineUnreadableRows() {
                manager.log("job \(bad.id): quarantined (\(bad.reason)); marked failed, the rest of the jobs are served")
            }
        } catch {
            throw RecoveryError.store("\(error)")
        }
        // A shared store: nothing is requeued here (claims take queued, interrupted and orphaned
        // jobs, the latter once their node's lease expired), and DATA/jobs only caches states.
        if manager.shared != nil { return [] }
        try checkOrphans(ignoring: ignoringOrphans)
        let unfinished: [JobRecord]
        do { unfinished = try store.unfinishedJobs() } catch { throw RecoveryError.store("\(error)") }
        var queued: [ActiveJob] = []
        for var r in unfinished {
            let event: JobEvent
            if r.status == .running && r.live || r.status == .interrupted && r.live {
                event = .abandonedLive
            } else if r.status == .running && r.crashes + 1 >= manager.maxCrashes {
                event = .gaveUp(crashes: r.crashes + 1)
            } else {
                event = .requeued(crashed: r.status == .running)
            }
            do { try r.apply(event) } catch {
                manager.log("\(error)")
                continue
            }
            manager.persist(r)
            switch r.status {
            case .queued:
                if r.crashes > 0 || r.checkpointFrame != nil {
                    manager.log("job \(r.id): will resume" + (r.checkpointFrame.map { " after frame \($0)" } ?? " from frame 0"))
                }
                queued.append(ActiveJob(record: r))
            case .failed:
                manager.removeJobDirectory(r.id)
                manager.log("job \(r.id): failed after \(r.crashes) crashes")
            default:
                manager.log("job \(r.id): live job marked interrupted")
            }
        }
        return queued
    }

    /// Refuses checkpoints of unknown jobs, and outputs when the database is new.
    private func checkOrphans(ignoring: Bool) throws {
        let files = FileManager.default
        let jobsDirectory = (manager.dataDirectory as NSString).appendingPathComponent("jobs")
        var checkpoints: [String] = []
        for id in ((try? files.contentsOfDirectory(atPath: jobsDirectory)) ?? []).sorted() {
            let known: Bool
            do { known = try manager.store.contains(id) } catch { throw RecoveryError.store("\(error)") }
            if !known { checkpoints.append(id) }
        }
        var outputs: [String] = []
        if manager.store.isNew {
            outputs = ((try? files.contentsOfDirectory(atPath: manager.config.outputRoot)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        }
        guard !checkpoints.isEmpty || !outputs.isEmpty else { return }
        let database: String = (manager.store as? SQLiteJobStore)?.path ?? "store"
        let error = RecoveryError.orphanedState(database: database, checkpoints: checkpoints, outputs: outputs)
        guard ignoring else { throw error }
        manager.log("starting with --ignore-orphans: \(error.description)")
    }
}
