// PostgresJobFrames: what PostgresJobStore keeps per frame and per live prompt (schema v3).
//
// - `job_frames`: each tracked frame's masks.jsonl line (every object's RLE, score, area and box)
//   keyed by (job, frame index). A running node commits the frames up to a checkpoint together
//   with the job's `checkpoint_frame` and the tracker state, in one fenced transaction
//   (`saveProgress`), and the rest with the job's end. A claim deletes rows after the job's
//   checkpoint (none can be committed without one, but a run that fell back to frame 0 may have
//   left some): a resumed job continues exactly after the last committed frame. Any node serves
//   a job's masks and frame events from these rows.
// - `prompt_requests`: live prompts sent through a node that does not run the job. The running node
//   (notified on `samtrack_prompts`, or at its next heartbeat) takes each request once, applies
//   it as its own, and records the frame it was applied at (or why it was refused); the node
//   that received the request waits for that outcome.

import Foundation
import NIOCore
import PostgresNIO
import TrackingRun

extension PostgresJobStore {
    public func saveProgress(_ record: JobRecord, frames: [StoredFrame], state: Data?) throws {
        try access {
            try connector.transaction { c in
                guard let token = heldToken(record.id) else {
                    throw JobStoreError("job \(record.id): this node holds no lease on it; its progress was not saved", kind: .leaseLost)
                }
                try write(record, on: c)
                // One statement per 200 frames (unnest of parallel arrays).
                var rest = frames[...]
                while !rest.isEmpty {
                    let chunk = rest.prefix(200)
                    rest = rest.dropFirst(chunk.count)
                    var q = SQLBuilder()
                    let sql = """
                        INSERT INTO job_frames (job_id, idx, frame, line, prompted)
                        SELECT \(q.p(record.id)), * FROM unnest(\(q.p(chunk.map { Int64($0.index) }))::BIGINT[],
                            \(q.p(chunk.map { Int64($0.frame) }))::BIGINT[], \(q.p(chunk.map(\.line)))::TEXT[],
                            \(q.p(chunk.map { $0.prompted.map(String.init).joined(separator: ",") }))::TEXT[])
                        ON CONFLICT (job_id, idx) DO UPDATE SET frame = EXCLUDED.frame, line = EXCLUDED.line, prompted = EXCLUDED.prompted
                        """
                    try connector.run(c, q.query(sql))
                }
                if let state {
                    try connector.run(c, """
                        INSERT INTO job_checkpoints (job_id, frame, state, lease_token)
                        VALUES (\(record.id), \(record.checkpointFrame ?? -1), \(ByteBuffer(bytes: state)), \(token))
                        ON CONFLICT (job_id) DO UPDATE SET frame = EXCLUDED.frame, state = EXCLUDED.state, lease_token = EXCLUDED.lease_token
                        """)
                }
            }
        }
    }

    public func frames(jobID: String, afterIndex: Int, limit: Int) throws -> [StoredFrame] {
        try access {
            try connector.withConnection { c in
                try connector.run(c, """
                    SELECT idx, frame, line, prompted FROM job_frames WHERE job_id = \(jobID) AND idx > \(afterIndex)
                    ORDER BY idx LIMIT \(limit)
                    """).map { row in
                    let (index, frame, line, prompted) = try row.decode((Int, Int, String, String).self)
                    return StoredFrame(index: index, frame: frame, line: line,
                                       prompted: prompted.split(separator: ",").compactMap { Int($0) })
                }
            }
        }
    }

    /// In a claim's transaction: rows after the checkpoint the job resumes from (all of them when
    /// it starts from frame 0) are removed; the run writes them again.
    func discardUncommittedFrames(_ record: JobRecord, on c: PostgresConnection) throws {
        try connector.run(c, "DELETE FROM job_frames WHERE job_id = \(record.id) AND idx > \(record.checkpointFrame ?? -1)")
    }

    public func requestPrompts(jobID: String, prompts: [PromptSpec]) throws -> Int64 {
        try access {
            try connector.transaction { c in
                let rows = try connector.run(c, """
                    INSERT INTO prompt_requests (job_id, prompts) VALUES (\(jobID), \(APIJSON.encodeString(prompts))) RETURNING id
                    """)
                guard let id = try rows.first?.decode(Int64.self) else { throw JobStoreError("the job database returned no request id") }
                try connector.run(c, "SELECT pg_notify('samtrack_prompts', \(jobID))")
                return id
            }
        }
    }

    public func takePromptRequests(jobID: String) throws -> [PromptRequest] {
        try access {
            try connector.withConnection { c in
                try connector.run(c, """
                    UPDATE prompt_requests SET taken = TRUE WHERE id IN (
                        SELECT id FROM prompt_requests WHERE job_id = \(jobID) AND NOT taken ORDER BY id FOR UPDATE SKIP LOCKED)
                    RETURNING id, prompts
                    """).map { row in
                    let (id, text) = try row.decode((Int64, String).self)
                    let prompts = try JSONDecoder().decode([PromptSpec].self, from: Data(text.utf8))
                    return PromptRequest(id: id, jobID: jobID, prompts: prompts)
                }.sorted { $0.id < $1.id }
            }
        }
    }

    public func settlePromptRequest(_ id: Int64, outcome: PromptRequestOutcome) throws {
        _ = try access {
            try connector.withConnection { c in
                switch outcome {
                case .pending:
                    try connector.run(c, "UPDATE prompt_requests SET outcome = NULL WHERE id = \(id)")
                case let .applied(frame):
                    try connector.run(c, "UPDATE prompt_requests SET outcome = 'applied', applied_frame = \(frame) WHERE id = \(id)")
                case let .refused(code, message):
                    try connector.run(c, """
                        UPDATE prompt_requests SET outcome = 'refused', error_code = \(code), error_message = \(message) WHERE id = \(id)
                        """)
                }
            }
        }
    }

    public func promptRequestOutcome(_ id: Int64) throws -> PromptRequestOutcome? {
        try access {
            try connector.withConnection { c in
                guard let row = try connector.run(c, """
                    SELECT outcome, applied_frame, error_code, error_message FROM prompt_requests WHERE id = \(id)
                    """).first else { return nil }
                let (outcome, frame, code, message) = try row.decode((String?, Int?, String?, String?).self)
                switch outcome {
                case "applied": return .applied(frame: frame)
                case "refused": return .refused(code: code ?? ErrorCode.internalError.rawValue, message: message ?? "")
                default: return .pending
                }
            }
        }
    }
}
