// SessionExport: `GET /v1/sessions/{id}/masks?format=jsonl|coco|png|palette` — every frame the
// session has results for, in the export formats of the Export module.

import Foundation
import Export
import Tracker

struct SessionExport {
    let session: Session

    /// The session's per-frame records, in frame order.
    func records() async throws -> [FrameRecord] {
        let width = session.media.width, height = session.media.height
        return try await session.perform { predictor in
            try predictor.framesWithOutput.sorted().map { t in
                FrameRecord(frame: t, pts: nil, objects: try SessionMasks.records(try predictor.results(frame: t), width: width, height: height))
            }
        }
    }

    func response(format: String) async throws -> APIResponse {
        guard format == "jsonl" else {
            throw APIError(.invalidRequest, "format must be jsonl (coco, png and palette follow)")
        }
        let lines = try await records().map { $0.jsonLine + "\n" }.joined()
        return APIResponse(status: 200, headers: ["Content-Type": "application/x-ndjson",
                                                  "Content-Disposition": "attachment; filename=\"masks.jsonl\""],
                           body: .bytes(Array(lines.utf8)))
    }
}
