// JobRemotePrompts: live prompts for a job that another node runs (shared store). The node that
// receives `POST /v1/jobs/{id}/prompts` records the request in the database and notifies
// (`SharedJobQueue.requestPrompts`); the running node takes it (at the notification, or at its
// next heartbeat if that was missed), applies it exactly as a request of its own (`addPrompts`:
// checks, the frame it was applied at recorded for resumes), and records the outcome, which the
// first node returns to its client.

import Foundation
import TrackingRun

extension JobManager {
    /// Forwards prompts to the node running `record`'s job and waits (up to `wait` seconds) for
    /// the frame they were applied at (nil frame: not applied in time).
    func forwardPrompts(_ shared: any SharedJobQueue, _ record: JobRecord, _ prompts: [PromptSpec],
                        wait: Double) async throws -> (record: JobRecord, frame: Int?) {
        let id = record.id
        let request: Int64
        do {
            request = try shared.requestPrompts(jobID: id, prompts: prompts)
        } catch {
            throw APIError(.storageError, "cannot send the prompts to the node running job \(id): \(error)")
        }
        log("job \(id): prompts for objects \(prompts.map(\.object)) sent to the node running it (request \(request))")
        let deadline = Date(timeIntervalSinceNow: wait)
        while true {
            let outcome = (try? shared.promptRequestOutcome(request)) ?? .pending
            switch outcome {
            case let .applied(frame):
                return ((try? store.job(id)) ?? nil ?? record, frame)
            case let .refused(code, message):
                throw APIError(ErrorCode(rawValue: code) ?? .internalError, message)
            case .pending:
                if Date() >= deadline { return ((try? store.job(id)) ?? nil ?? record, nil) }
                if let now = try? store.job(id), now.status.isTerminal {
                    throw APIError(.jobFinished, "job \(id) ended (\(now.status.rawValue)) before the prompts were applied")
                }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }

    /// A prompt request for a job this node may run: takes the pending requests and applies them
    /// in order (on a task; called from the LISTEN callback and the heartbeat).
    func promptsRequestedElsewhere(_ id: String) {
        guard let shared, lock.withLock({ active[id].map { $0.lease != nil && !$0.leaseLost } ?? false }) else { return }
        Task {
            let requests: [PromptRequest]
            do {
                requests = try shared.takePromptRequests(jobID: id)
            } catch {
                log("job \(id): cannot read prompt requests from the job database: \(error)")
                return
            }
            for request in requests {
                let outcome: PromptRequestOutcome
                do {
                    outcome = .applied(frame: try await addPrompts(id, request.prompts).frame)
                } catch let error as APIError {
                    outcome = .refused(code: error.code.rawValue, message: error.message)
                } catch {
                    outcome = .refused(code: ErrorCode.internalError.rawValue, message: "\(error)")
                }
                do {
                    try shared.settlePromptRequest(request.id, outcome: outcome)
                } catch {
                    log("job \(id): cannot record the outcome of prompt request \(request.id): \(error)")
                }
            }
        }
    }
}
