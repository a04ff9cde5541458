// APIHandler: the daemon's HTTP API as a function from request to response, independent of the
// HTTP server (samtrackd wires it to Hummingbird; tests call it directly, without sockets): the
// bearer-token check, the body limit, /healthz and /metrics, and the route families — jobs
// (JobRoutes.swift), sessions (SessionRoutes.swift), media (MediaRoutes.swift). Every failure is a
// 4xx/5xx with {"error": {"code", "message"}} (ErrorCatalogue.swift, docs/openapi.yaml).

import Foundation
import TrackingRun

/// Routes requests to the job manager.
public final class APIHandler: Sendable {
    public let manager: JobManager
    /// Seconds between SSE keep-alive comments.
    public let keepAliveInterval: Double

    /// Interactive sessions (nil: the session routes answer 404).
    public let sessions: SessionManager?
    /// Registered media and their frames (nil: the media routes answer 404).
    public let media: MediaRegistry?
    public let frames: MediaFrameServer?

    public init(manager: JobManager, sessions: SessionManager? = nil, media: MediaRegistry? = nil, frames: MediaFrameServer? = nil,
                keepAliveInterval: Double = 15) {
        self.manager = manager
        self.sessions = sessions
        self.media = media
        self.frames = frames
        self.keepAliveInterval = keepAliveInterval
    }

    /// Where the server should stream a request's body instead of collecting it (an upload to
    /// POST /v1/media that is not JSON), with the most bytes it may hold; nil for other requests.
    public func uploadDestination(method: String, path: String, contentType: String?) throws -> (path: String, limit: Int)? {
        guard method.uppercased() == "POST", path == "/v1/media" || path == "/v1/media/", let media,
              !(contentType?.lowercased().hasPrefix("application/json") ?? false) else { return nil }
        return (try media.newUploadPath(), media.limits.maxBytes)
    }

    /// The response for an upload that exceeded `uploads.max_bytes`.
    public func uploadTooLargeResponse(limit: Int) -> APIResponse {
        manager.metrics.httpRequest(status: 413)
        return .error(APIError(.uploadTooLarge, "the upload exceeds \(limit) bytes (uploads.max_bytes in the daemon's config)"))
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
        case let p where p.count >= 2 && p[0] == "v1" && p[1] == "media":
            guard let media, let frames else { throw APIError.routeNotFound(method, request.path) }
            return try await MediaRoutes(media: media, sessions: sessions, frames: frames).route(request, p)
        case let p where p.count >= 2 && p[0] == "v1" && p[1] == "sessions":
            guard let sessions else { throw APIError.routeNotFound(method, request.path) }
            return try await SessionRoutes(sessions: sessions, maxMaskPixels: maxMaskPixels).route(request, p)
        case let p where p.count >= 2 && p[0] == "v1" && p[1] == "jobs":
            return try await JobRoutes(manager: manager, maxMaskPixels: maxMaskPixels, keepAliveInterval: keepAliveInterval)
                .route(request, p)
        default:
            throw APIError.routeNotFound(method, request.path)
        }
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
}
