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

/// An HTTP request as the handler sees it.
public struct APIRequest: Sendable {
    public var method: String
    /// Path without the query, e.g. `/v1/jobs/abc`.
    public var path: String
    /// Decoded query parameters.
    public var query: [String: String]
    /// Header values by lower-cased name.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.body = body
    }

    /// Splits `target` (`/path?a=1&b=2`) into path and query.
    public init(method: String, target: String, headers: [String: String] = [:], body: [UInt8] = []) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count == 2 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.init(method: method, path: String(parts[0]), query: query, headers: headers, body: body)
    }
}

/// An HTTP response: status, headers and either bytes or a stream of chunks (SSE).
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        case stream(AsyncStream<[UInt8]>)
    }
    public var status: Int
    public var headers: [String: String]
    public var body: Body

    public init(status: Int, headers: [String: String] = [:], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json<T: Encodable>(_ status: Int, _ value: T) -> APIResponse {
        APIResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(APIJSON.encode(value)))
    }

    static func error(_ error: APIError) -> APIResponse {
        var headers = error.headers
        headers["Content-Type"] = "application/json"
        return APIResponse(status: error.status, headers: headers, body: .bytes(error.body))
    }

    /// The body's bytes (collecting a stream); for tests.
    public func collectedBody() async -> [UInt8] {
        switch body {
        case let .bytes(bytes): return bytes
        case let .stream(stream):
            var all: [UInt8] = []
            for await chunk in stream { all += chunk }
            return all
        }
    }
}

/// The JSON view of a job.
public struct JobView: Encodable, Sendable {
    public struct ErrorView: Encodable, Sendable {
        public var code: String
        public var message: String
    }
    public struct OutputView: Encodable, Sendable {
        public var format: String
        public var path: String
        /// Absolute directory on the daemon's machine.
        public var directory: String
    }
    public var id: String
    public var status: String
    public var source: String
    public var model: String
    public var live: Bool
    public var output: OutputView
    public var objects: [Int]
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var framesDone: Int
    public var totalFrames: Int?
    public var fps: Double?
    public var droppedFrames: Int
    public var checkpointFrame: Int?
    public var resumable: Bool
    public var attempts: Int
    public var error: ErrorView?
    public var request: JobSpec

    enum CodingKeys: String, CodingKey {
        case id, status, source, model, live, output, objects, fps, resumable, attempts, error, request
        case createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at", framesDone = "frames_done"
        case totalFrames = "total_frames", droppedFrames = "dropped_frames", checkpointFrame = "checkpoint_frame"
    }

    public init(_ r: JobRecord, objects: [Int]) {
        id = r.id
        status = r.status.rawValue
        source = r.spec.source
        model = r.spec.model
        live = r.live
        output = OutputView(format: (r.spec.output?.format ?? .rle).rawValue, path: r.spec.output?.path ?? r.id,
                            directory: r.outputDirectory)
        self.objects = objects
        createdAt = APIJSON.timestamp(r.createdAt)!
        startedAt = APIJSON.timestamp(r.startedAt)
        finishedAt = APIJSON.timestamp(r.finishedAt)
        framesDone = r.framesDone
        totalFrames = r.totalFrames
        fps = r.fps.map { $0.isFinite ? ($0 * 100).rounded() / 100 : 0 }
        droppedFrames = r.droppedFrames
        checkpointFrame = r.checkpointFrame
        resumable = r.resumable
        attempts = r.attempts
        error = r.errorCode.map { ErrorView(code: $0, message: r.errorMessage ?? "") }
        request = r.spec
    }

    /// Nulls are written (a client sees every field).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(model, forKey: .model)
        try c.encode(live, forKey: .live)
        try c.encode(output, forKey: .output)
        try c.encode(objects, forKey: .objects)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(framesDone, forKey: .framesDone)
        try c.encode(totalFrames, forKey: .totalFrames)
        try c.encode(fps, forKey: .fps)
        try c.encode(droppedFrames, forKey: .droppedFrames)
        try c.encode(checkpointFrame, forKey: .checkpointFrame)
        try c.encode(resumable, forKey: .resumable)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(error, forKey: .error)
        try c.encode(request, forKey: .request)
    }
}

/// Routes requests to the job manager.
public final class APIHandler: Sendable {
    public let manager: JobManager
    /// Seconds between SSE keep-alive comments.
    public let keepAliveInterval: Double

    public init(manager: JobManager, keepAliveInterval: Double = 15) {
        self.manager = manager
        self.keepAliveInterval = keepAliveInterval
    }

    /// Largest body accepted; the server should stop reading beyond it and answer `bodyTooLarge`.
    public var maxBodyBytes: Int { manager.config.limits.maxBodyBytes }

    /// Answers one request (never throws: failures become JSON errors).
    public func handle(_ request: APIRequest) async -> APIResponse {
        let response: APIResponse
        do {
            response = try await route(request)
        } catch let error as APIError {
            response = .error(error)
        } catch {
            response = .error(.internalError("\(error)"))
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
            let text = manager.metrics.render(jobCounts: manager.counts(), modelsLoaded: manager.models.loadedNames.count)
            return APIResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                               body: .bytes(Array(text.utf8)))
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
            let spec = try APIJSON.decode(AddPromptsSpec.self, from: request.body)
            try spec.check()
            let record = try await manager.addPrompts(id, spec.prompts)
            struct Accepted: Encodable { var accepted: [Int]; var job: JobView }
            return .json(202, Accepted(accepted: spec.prompts.map(\.object),
                                       job: JobView(record, objects: manager.objects(of: record))))
        default:
            throw APIError.routeNotFound(method, request.path)
        }
    }

    private func allow(_ method: String, _ allowed: [String], _ path: String) throws {
        guard allowed.contains(method) else { throw APIError.methodNotAllowed(method, path, allowed: allowed) }
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
        let spec = try APIJSON.decode(JobSpec.self, from: request.body)
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
                throw APIError.invalidRequest("status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = s
        }
        func number(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = request.query[name] else { return value }
            guard let n = Int(text), range.contains(n) else {
                throw APIError.invalidRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
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
            guard let n = Int(text) else { throw APIError.invalidRequest("Last-Event-ID / after must be a frame number") }
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
