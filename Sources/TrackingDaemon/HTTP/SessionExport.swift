// SessionExport: `GET /v1/sessions/{id}/masks?format=jsonl|coco|png|palette` — every frame the
// session has results for, in frame order, streamed in an export format of the Export module.

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

    func response(format name: String) async throws -> APIResponse {
        let format = try MaskExportRequest.format(name)
        let (width, height) = (session.media.width, session.media.height)
        let records = try await records()
        // Every record is checked before the first byte, so that a download is whole or refused.
        for record in records { try MaskExportRequest.check(record, format: format, width: width, height: height) }
        let export = try MaskExport(format: format, width: width, height: height, options: MaskExportRequest.options, records: records)
        return MaskExportRequest.response(format: format, body: .stream(export.chunks()))
    }
}
