// PostgresRows: a `jobs` row read back into a `JobRecord` (or why it cannot be: the same reasons
// as SQLite's quarantine), and `SQLBuilder`, numbered statement parameters.

import Foundation
import NIOCore
import PostgresNIO
import TrackingRun

extension PostgresJobStore {
    static func readable(_ row: PostgresRow) -> JobRecord? { try? decode(row).get() }

    static func decode(_ row: PostgresRow) -> Result<JobRecord, SQLiteJobStore.Unreadable> {
        let cells = row.makeRandomAccess()
        do {
            guard let specText = try cells["spec"].decode(String?.self) else {
                return .failure(.init(reason: "the job's request is missing"))
            }
            let spec: JobSpec
            do {
                spec = try JSONDecoder().decode(JobSpec.self, from: Data(specText.utf8))
            } catch let error as DecodingError {
                return .failure(.init(reason: "the job's stored request is unreadable: \(describe(error))"))
            } catch {
                return .failure(.init(reason: "the job's stored request is not JSON"))
            }
            let statusText = try cells["status"].decode(String?.self)
            guard let status = statusText.flatMap(JobStatus.init(rawValue:)) else {
                return .failure(.init(reason: "the job has an unknown status '\(statusText ?? "NULL")'"))
            }
            func date(_ column: String) throws -> Date? {
                try cells[column].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
            }
            var r = JobRecord(id: try cells["id"].decode(String.self), seq: try cells["seq"].decode(Int64.self), spec: spec,
                              status: status, outputDirectory: try cells["output_directory"].decode(String.self),
                              live: try cells["live"].decode(Bool.self),
                              createdAt: Date(timeIntervalSince1970: try cells["created_at"].decode(Double.self)))
            r.startedAt = try date("started_at")
            r.finishedAt = try date("finished_at")
            r.framesDone = try cells["frames_done"].decode(Int.self)
            r.totalFrames = try cells["total_frames"].decode(Int?.self)
            r.droppedFrames = try cells["dropped_frames"].decode(Int.self)
            r.fps = try cells["fps"].decode(Double?.self)
            r.errorCode = try cells["error_code"].decode(String?.self)
            r.errorMessage = try cells["error_message"].decode(String?.self)
            r.endReason = try cells["end_reason"].decode(String?.self).flatMap(JobEndReason.init(rawValue:))
            r.checkpointFrame = try cells["checkpoint_frame"].decode(Int?.self)
            r.resumable = try cells["resumable"].decode(Bool.self)
            r.attempts = try cells["attempts"].decode(Int.self)
            r.crashes = try cells["crashes"].decode(Int.self)
            return .success(r)
        } catch {
            return .failure(.init(reason: "the row cannot be read: \(error)"))
        }
    }
}

/// Builds a statement with numbered parameters: `p(value)` binds a value (nil binds NULL) and
/// returns its placeholder.
struct SQLBuilder {
    private(set) var binds = PostgresBindings()

    mutating func p<T: PostgresDynamicTypeEncodable>(_ value: T?) -> String {
        if let value { binds.append(value) } else { binds.appendNull() }
        return "$\(binds.count)"
    }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
