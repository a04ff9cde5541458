// JobRoutes: the job API (DESIGN §7.1):
//
//   POST   /v1/jobs                      create a job (201)
//   GET    /v1/jobs                      list (?status=, ?limit= (max 1000), ?offset=)
//   GET    /v1/jobs/{id}                 one job, with the prompts and removals applied while it ran
//   DELETE /v1/jobs/{id}                 cancel (stops after the current frame)
//   GET    /v1/jobs/{id}/events          Server-Sent Events: `frame` per tracked frame (every object's
//                                        RLE), then `end`
//   POST   /v1/jobs/{id}/prompts         add or correct objects on the next frame; answers its index
//   DELETE /v1/jobs/{id}/objects/{k}     remove an object from the next frame on
//   GET    /v1/jobs/{id}/masks           the frames done so far, in an export format
//   GET    /v1/jobs/{id}/frames/latest   the newest tracked frame as an image (a live view)

import Foundation
import Export
import Media
import TrackingRun

struct JobRoutes {
    let manager: JobManager
    let maxMaskPixels: Int
    let keepAliveInterval: Double

    func route(_ request: APIRequest, _ parts: [String]) async throws -> APIResponse {
        let method = request.method
        if parts.count == 2 {
            try allow(method, ["GET", "POST"], request.path)
            return method == "POST" ? try await create(request) : try list(request)
        }
        let id = try jobID(parts[2])
        switch Array(parts.dropFirst(3)) {
        case []:
            try allow(method, ["GET", "DELETE"], request.path)
            if method == "DELETE" {
                let record = try await manager.cancel(id)
                return .json(200, view(record))
            }
            guard let record = try manager.job(id) else { throw APIError.jobNotFound(id) }
            return .json(200, view(record))
        case ["events"]:
            try allow(method, ["GET"], request.path)
            return try events(id, request)
        case ["prompts"]:
            try allow(method, ["POST"], request.path)
            let spec = try APIJSON.decode(AddPromptsSpec.self, from: request.body, maskPixels: maxMaskPixels)
            try spec.check(limits: manager.config.limits)
            let (record, frame) = try await manager.addPrompts(id, spec.prompts)
            return .json(202, Applied(accepted: spec.prompts.map(\.object), frame: frame, job: view(record)))
        case let p where p.count == 2 && p[0] == "objects":
            try allow(method, ["DELETE"], request.path)
            guard let object = Int(p[1]), object > 0 else { throw APIError(.objectNotFound, "'\(p[1].prefix(32))' is not an object id") }
            let (record, frame) = try await manager.removeObject(id, object: object)
            return .json(202, Applied(accepted: [object], frame: frame, job: view(record)))
        case ["masks"]:
            try allow(method, ["GET"], request.path)
            return try await JobExport(manager: manager).response(id, format: request.query["format"] ?? "jsonl")
        case ["frames", "latest"]:
            try allow(method, ["GET"], request.path)
            return try latestFrame(id, request)
        default:
            throw APIError.routeNotFound(method, request.path)
        }
    }

    /// The answer to a change of a running job: which objects, and the frame it applied to (nil
    /// when the job ended before its next frame).
    struct Applied: Encodable {
        var accepted: [Int]
        var frame: Int?
        var job: JobView
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(accepted, forKey: .accepted)
            try c.encode(frame, forKey: .frame)
            try c.encode(job, forKey: .job)
        }
        enum CodingKeys: String, CodingKey { case accepted, frame, job }
    }

    func view(_ record: JobRecord) -> JobView {
        JobView(record, objects: manager.objects(of: record), applied: (try? manager.store.appliedPrompts(jobID: record.id)) ?? [])
    }

    private func jobID(_ text: String) throws -> String {
        guard text.count <= 64, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw APIError.jobNotFound(String(text.prefix(64)))
        }
        return text.lowercased()
    }

    /// The newest tracked frame of a running job as PNG (or JPEG), optionally scaled to `width`.
    private func latestFrame(_ id: String, _ request: APIRequest) throws -> APIResponse {
        guard let latest = manager.latestFrame(of: id) else {
            guard try manager.job(id) != nil else { throw APIError.jobNotFound(id) }
            throw APIError(.jobNotRunning, "job \(id) has no tracked frame to show (it is not running, or has not tracked a frame yet)")
        }
        let format = request.query["format"] ?? "png"
        guard format == "png" else { throw APIError(.invalidRequest, "format must be png") }
        let bytes = try PNGWriter().encodeRGB(latest.image)
        return APIResponse(status: 200, headers: ["Content-Type": "image/png", "Cache-Control": "no-store",
                                                  "X-Frame-Index": String(latest.frame)], body: .bytes(bytes))
    }

    func create(_ request: APIRequest) async throws -> APIResponse {
        let spec = try APIJSON.decode(JobSpec.self, from: request.body, maskPixels: maxMaskPixels)
        if manager.isDraining { throw APIError.shuttingDown }
        let validated = try await manager.validate(spec)
        let record = try manager.submit(validated)
        var response = APIResponse.json(201, view(record))
        response.headers["Location"] = "/v1/jobs/\(record.id)"
        return response
    }

    func list(_ request: APIRequest) throws -> APIResponse {
        var status: JobStatus?
        if let text = request.query["status"] {
            guard let s = JobStatus(rawValue: text) else {
                throw APIError(.invalidRequest, "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = s
        }
        func number(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = request.query[name] else { return value }
            guard let n = Int(text), range.contains(n) else {
                throw APIError(.invalidRequest, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        let limit = try number("limit", default: 100, range: 1...1000)
        let offset = try number("offset", default: 0, range: 0...Int(Int32.max))
        let records = try manager.jobs(status: status, limit: limit, offset: offset)
        struct List: Encodable { var jobs: [JobView] }
        return .json(200, List(jobs: records.map { view($0) }))
    }

    /// Server-Sent Events: `Last-Event-ID` (or `?after=N`) skips frames already seen.
    func events(_ id: String, _ request: APIRequest) throws -> APIResponse {
        var after: Int? = nil
        if let text = request.headers["last-event-id"] ?? request.query["after"] {
            guard let n = Int(text), n >= -1 else { throw APIError(.invalidRequest, "Last-Event-ID / after must be a frame number") }
            after = n
        }
        guard let events = try manager.events(id, afterID: after) else { throw APIError.jobNotFound(id) }
        let interval = keepAliveInterval
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        let forward = Task {
            continuation.yield(Array(": samtrackd job \(id)\n\n".utf8))
            for await event in events { continuation.yield(Array(event.text.utf8)) }
            continuation.finish()
        }
        let keepAlive = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                if Task.isCancelled { break }
                continuation.yield(Array(": keep-alive\n\n".utf8))
            }
        }
        continuation.onTermination = { _ in
            forward.cancel()
            keepAlive.cancel()
        }
        return APIResponse(status: 200, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                  "X-Accel-Buffering": "no"], body: .stream(stream))
    }
}
