// JobExport: `GET /v1/jobs/{id}/masks` — the frames a job has tracked so far, from its
// masks.jsonl (every daemon job records one, whatever its output format; masks.jsonl.partial while
// it runs, complete lines only), in an export format.

import Foundation
import Export
import FileIO

struct JobExport {
    let manager: JobManager

    /// The job's frame records so far, in frame order.
    func records(_ id: String) throws -> [FrameRecord] {
        guard let record = try manager.job(id) else { throw APIError.jobNotFound(id) }
        let final = OutputLayout.masksJSONL(in: record.outputDirectory)
        let path = FileManager.default.fileExists(atPath: final) ? final : final + OutputLayout.partialSuffix
        guard let bytes = try? readFile(path) else { return [] }
        var records: [FrameRecord] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            // A line being written (no newline yet, or cut) is left out.
            guard let frame = try? FrameRecord(jsonLine: String(line)) else { continue }
            records.append(frame)
        }
        return records
    }

    func response(_ id: String, format: String) async throws -> APIResponse {
        guard format == "jsonl" else { throw APIError(.invalidRequest, "format must be jsonl (coco, png and palette follow)") }
        let text = try records(id).map { $0.jsonLine + "\n" }.joined()
        return APIResponse(status: 200, headers: ["Content-Type": "application/x-ndjson",
                                                  "Content-Disposition": "attachment; filename=\"masks.jsonl\""],
                           body: .bytes(Array(text.utf8)))
    }
}
