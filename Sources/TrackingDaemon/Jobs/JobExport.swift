// JobExport: `GET /v1/jobs/{id}/masks?format=jsonl|coco|png|palette` — the frames a job has
// tracked so far, from its masks.jsonl (every daemon job records one, whatever its output format;
// masks.jsonl.partial while it runs: the complete lines present when the request came) or, on a
// shared store, from the frames committed to the database (any node serves them; a running job's
// up to its last checkpoint), streamed in an export format of the Export module (`MaskExport`).

import Foundation
import Export
import FileIO

struct JobExport {
    let manager: JobManager

    func response(_ id: String, format name: String) async throws -> APIResponse {
        let format = try MaskExportRequest.format(name)
        guard let record = try manager.job(id) else { throw APIError.jobNotFound(id) }
        guard let reader = try open(record) else {
            // No frame tracked yet: an empty jsonl; the other formats need the frame size.
            guard format == .jsonl else {
                throw APIError(.noMasks, "job \(id) has no tracked frames yet (\(record.status.rawValue)); ask again once it runs")
            }
            return MaskExportRequest.response(format: format, body: .bytes([]))
        }
        // The frame size comes from the first object's RLE (every tracked frame lists every object).
        var buffered: [FrameRecord] = []
        var size: (width: Int, height: Int)?
        while size == nil, let next = try readRecord(reader, id) {
            buffered.append(next)
            if let first = next.objects.first { size = (first.rle.width, first.rle.height) }
        }
        guard let size else {
            guard format == .jsonl else { throw APIError(.noMasks, "job \(id) has no object masks yet") }
            return MaskExportRequest.response(format: format, body: .bytes(Array(buffered.map { $0.jsonLine + "\n" }.joined().utf8)))
        }
        if format == .palette, let check = try open(record) {
            // Refuse before the first byte: a stream cut short would read as a complete download.
            while let r = try readRecord(check, id) {
                try MaskExportRequest.check(r, format: format, width: size.width, height: size.height)
            }
        }
        var pending = buffered[...]
        let export = try MaskExport(format: format, width: size.width, height: size.height,
                                    options: MaskExportRequest.options) {
            if let first = pending.popFirst() { return first }
            return try reader()
        }
        return MaskExportRequest.response(format: format, body: .stream(export.chunks { error in
            manager.log("job \(id): the \(format.rawValue) export stopped: \(error)")
        }))
    }

    /// The job's frames in order: on a shared store the frames committed to the database (any node
    /// serves them), else its masks.jsonl (masks.jsonl.partial while it runs). Nil: none yet.
    private func open(_ record: JobRecord) throws -> (() throws -> FrameRecord?)? {
        if let shared = manager.shared {
            let next = manager.committedFrames(shared, jobID: record.id)
            let first: FrameRecord?
            do { first = try next() } catch { throw APIError(.storageError, "job \(record.id): \(error)") }
            guard let first else { return nil }
            var head: FrameRecord? = first
            return {
                if let h = head { head = nil; return h }
                return try next()
            }
        }
        do {
            let reader = try MaskJSONLReader(directory: record.outputDirectory)
            return { try reader.next() }
        } catch let error as FileError {
            guard case let .readFailed(_, _, code) = error, code == ENOENT else { throw APIError(.storageError, "job \(record.id): \(error)") }
            return nil
        }
    }

    private func readRecord(_ reader: () throws -> FrameRecord?, _ id: String) throws -> FrameRecord? {
        do { return try reader() } catch { throw APIError(.storageError, "job \(id): \(error)") }
    }
}

/// The rules of a mask download shared by jobs and sessions: the format names, the export
/// options, the response headers.
enum MaskExportRequest {
    /// PNG compression for downloads: level 1 (about 2.5 times larger files than the default,
    /// several times faster to encode).
    static let options = MaskExport.Options(compressionLevel: 1)

    static func format(_ name: String) throws -> MaskExportFormat {
        guard let format = MaskExportFormat(rawValue: name) else {
            throw APIError(.invalidRequest, "format must be one of \(MaskExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), "
                           + "got '\(name.prefix(32))'")
        }
        return format
    }

    /// `MaskExport.check` as an API error (422 unsupported_output).
    static func check(_ record: FrameRecord, format: MaskExportFormat, width: Int, height: Int) throws {
        do {
            try MaskExport.check(record, format: format, width: width, height: height)
        } catch {
            throw APIError(.unsupportedOutput, "\(error)")
        }
    }

    static func response(format: MaskExportFormat, body: APIResponse.Body) -> APIResponse {
        APIResponse(status: 200, headers: ["Content-Type": format.mediaType,
                                           "Content-Disposition": "attachment; filename=\"\(format.fileName)\""],
                    body: body)
    }
}
