// APIHandler: the daemon's HTTP API as a function from request to response, independent of the
// HTTP server (samtrackd wires it to Hummingbird; tests call it directly, without sockets).
//
//   GET    /healthz                   liveness (no authentication)
//   GET    /metrics                   Prometheus text format
//   POST   /v1/jobs                   create a job (201)
//   GET    /v1/jobs                   list (?status=, ?limit= (max 1000), ?offset=)
//   GET    /v1/jobs/{id}              one job
//   DELETE /v1/jobs/{id}              cancel (stops after the current frame)
//   GET    /v1/jobs/{id}/events       Server-Sent Events: `frame` per tracked frame, then `end`
//   POST   /v1/jobs/{id}/prompts      add or correct objects on the next frame (202)
// Every failure is a 4xx/5xx with {"error": {"code", "message"}} (see APIError and
// docs/openapi.yaml).

import Foundation

/// Routes requests to the job manager.
public final class APIHandler: Sendable {
    public let manager: JobManager
    /// Seconds between SSE keep-alive comments.
    public let keepAliveInterval: Double

    /// Interactive sessions (nil: the session routes answer 404).
    public let sessions: SessionManager?

    public init(manager: JobManager, sessions: SessionManager? = nil, keepAliveInterval: Double = 15) {
        self.manager = manager
        self.sessions = sessions
        self.keepAliveInterval = keepAliveInterval
    }

    /// Largest mask a request's RLE may describe (pixels): bounded before anything is decoded.
    var maxMaskPixels: Int { min(manager.config.limits.maxPromptPixels, PromptSpec.maxMaskSide * PromptSpec.maxMaskSide) }

    /// Largest body accepted; the server should stop reading beyond it and answer `bodyTooLarge`.
    public var maxBodyBytes: Int { manager.config.limits.maxBodyBytes }

    /// The response for a request the server could not parse (bad request line, headers too
    /// large), so that even those get the JSON error body.
    public func malformedRequestResponse(_ message: String) -> APIResponse {
        manager.metrics.httpRequest(status: 400)
        return .error(APIError(.invalidRequest, message))
    }

    /// Answers one request (never throws: failures become JSON errors).
    public func handle(_ request: APIRequest) async -> APIResponse {
        let response: APIResponse
        do {
            response = try await route(request)
        } catch let error as APIError {
            response = .error(error)
        } catch {
            let (code, message) = ErrorCode.classify(error)
            response = .error(APIError(code.httpStatus >= 500 ? code : .internalError, message))
        }
        manager.metrics.httpRequest(status: response.status)
        return response
    }

    /// The response for a body that exceeded `maxBodyBytes` (for servers that stop reading early).
    public func bodyTooLargeResponse() -> APIResponse {
        manager.metrics.httpRequest(status: 413)
        return .error(.bodyTooLarge(limit: maxBodyBytes))
    }

    private func route(_ request: APIRequest) async throws -> APIResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = request.method
        if parts == ["healthz"] {
            try allow(method, ["GET", "HEAD"], request.path)
            return health()
        }
        try authenticate(request)
        guard request.body.count <= maxBodyBytes else { throw APIError.bodyTooLarge(limit: maxBodyBytes) }
        switch parts {
        case ["metrics"]:
            try allow(method, ["GET"], request.path)
            let text = manager.metrics.render(jobCounts: manager.counts(), loadedModels: manager.models.loadedNames.count)
            return APIResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                               body: .bytes(Array(text.utf8)))
        case let p where p.count >= 2 && p[0] == "v1" && p[1] == "sessions":
            guard let sessions else { throw APIError.routeNotFound(method, request.path) }
            return try await SessionRoutes(sessions: sessions, maxMaskPixels: maxMaskPixels).route(request, p)
        case ["v1", "jobs"]:
            try allow(method, ["GET", "POST"], request.path)
            return method == "POST" ? try await create(request) : try list(request)
        case let p where p.count == 3 && p[0] == "v1" && p[1] == "jobs":
            try allow(method, ["GET", "DELETE"], request.path)
            let id = try jobID(p[2])
            if method == "DELETE" {
                let record = try await manager.cancel(id)
                return .json(200, JobView(record, objects: manager.objects(of: record)))
            }
            guard let record = try manager.job(id) else { throw APIError.jobNotFound(id) }
            return .json(200, JobView(record, objects: manager.objects(of: record)))
        case let p where p.count == 4 && p[0] == "v1" && p[1] == "jobs" && p[3] == "events":
            try allow(method, ["GET"], request.path)
            return try events(try jobID(p[2]), request)
        case let p where p.count == 4 && p[0] == "v1" && p[1] == "jobs" && p[3] == "prompts":
            try allow(method, ["POST"], request.path)
            let id = try jobID(p[2])
            let spec = try APIJSON.decode(AddPromptsSpec.self, from: request.body, maskPixels: maxMaskPixels)
            try spec.check(limits: manager.config.limits)
            let record = try await manager.addPrompts(id, spec.prompts)
            struct Accepted: Encodable { var accepted: [Int]; var job: JobView }
            return .json(202, Accepted(accepted: spec.prompts.map(\.object),
                                       job: JobView(record, objects: manager.objects(of: record))))
        default:
            throw APIError.routeNotFound(method, request.path)
        }
    }

    private func jobID(_ text: String) throws -> String {
        guard text.count <= 64, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw APIError.jobNotFound(String(text.prefix(64)))
        }
        return text.lowercased()
    }

    /// Bearer token check (constant time) when the daemon has a token.
    private func authenticate(_ request: APIRequest) throws {
        guard let token = manager.config.token else { return }
        guard let header = request.headers["authorization"], header.count > 7,
              header.prefix(7).lowercased() == "bearer " else { throw APIError.unauthorized }
        let given = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8), expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        guard difference == 0 else { throw APIError.unauthorized }
    }

    private func health() -> APIResponse {
        struct Health: Encodable { var status: String; var queued: Int; var running: Int; var models: [String] }
        let counts = manager.counts()
        return .json(manager.isDraining ? 503 : 200,
                     Health(status: manager.isDraining ? "draining" : "ok", queued: counts[.queued] ?? 0,
                            running: counts[.running] ?? 0, models: manager.models.names))
    }

    private func create(_ request: APIRequest) async throws -> APIResponse {
        let spec = try APIJSON.decode(JobSpec.self, from: request.body, maskPixels: maxMaskPixels)
        if manager.isDraining { throw APIError.shuttingDown }
        let validated = try await manager.validate(spec)
        let record = try manager.submit(validated)
        var response = APIResponse.json(201, JobView(record, objects: manager.objects(of: record)))
        response.headers["Location"] = "/v1/jobs/\(record.id)"
        return response
    }

    private func list(_ request: APIRequest) throws -> APIResponse {
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
        return .json(200, List(jobs: records.map { JobView($0, objects: manager.objects(of: $0)) }))
    }

    /// Server-Sent Events: `Last-Event-ID` (or `?after=N`) skips frames already seen.
    private func events(_ id: String, _ request: APIRequest) throws -> APIResponse {
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
