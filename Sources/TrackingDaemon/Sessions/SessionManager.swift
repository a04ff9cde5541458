// SessionManager: the daemon's interactive sessions — created on a media with a model, looked up
// by id, deleted, and bounded: at most `sessions.max` at once (429 `too_many_sessions`), each
// expired after `sessions.idle_ttl_s` without a request (its memory released), each capped at
// `sessions.max_bytes` of tracked state (413 `session_too_large`).

import Foundation
import SAM2
import Tracker

/// The daemon's sessions (see the file comment). Thread-safe.
public final class SessionManager: @unchecked Sendable {  // `sessions` behind `lock`; the rest immutable
    public let limits: DaemonConfig.SessionLimits
    let models: ModelRegistry
    let defaultModel: String
    private let findMedia: @Sendable (String) throws -> any SessionMedia
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]

    public init(limits: DaemonConfig.SessionLimits, models: ModelRegistry, defaultModel: String,
                findMedia: @escaping @Sendable (String) throws -> any SessionMedia,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.limits = limits
        self.models = models
        self.defaultModel = defaultModel
        self.findMedia = findMedia
        self.log = log
    }

    /// Sessions open now.
    public var count: Int { lock.withLock { sessions.count } }

    /// Whether a session uses the media `id` (it cannot be deleted then).
    public func isUsing(media id: String) -> Bool { lock.withLock { sessions.values.contains { $0.media.id == id } } }

    /// Opens a session on `mediaID` with `model` (default: `defaultModel`). Loading the model and
    /// opening the frames happens off the caller's executor.
    func create(mediaID: String, model: String?) async throws -> Session {
        let name = model ?? defaultModel
        guard models.contains(name) else {
            throw APIError(.unknownModel, "unknown model '\(name)'; this daemon has: \(models.names.joined(separator: ", "))")
        }
        let media = try findMedia(mediaID)
        let limits = self.limits, models = self.models
        try lock.withLock {
            guard sessions.count < limits.maxSessions else {
                throw APIError(.tooManySessions, "\(sessions.count) sessions are open (sessions.max); close one (DELETE /v1/sessions/{id}) "
                               + "or wait for an idle one to expire", headers: ["Retry-After": "5"])
            }
        }
        let id = UUID().uuidString.lowercased()
        let session: Session = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result {
                    let sam = try models.model(named: name)
                    let frames = try media.frameProvider(imageSize: sam.config.imageSize)
                    return Session(id: id, media: media, modelName: name, model: sam, frames: frames,
                                   options: PredictorOptions(fillHoleArea: limits.fillHoles, featureCacheBytes: limits.featureCacheBytes),
                                   threads: limits.threads, maxBytes: limits.maxBytes)
                })
            }
        }
        try lock.withLock {
            guard sessions.count < limits.maxSessions else {
                throw APIError(.tooManySessions, "\(sessions.count) sessions are open (sessions.max)", headers: ["Retry-After": "5"])
            }
            sessions[id] = session
        }
        log("session \(id): opened on media \(mediaID) with model \(name)")
        return session
    }

    /// The session `id`; 404 `session_not_found`.
    func session(_ id: String) throws(APIError) -> Session {
        guard let session = lock.withLock({ sessions[id] }) else {
            throw APIError(.sessionNotFound, "no session with id '\(id)' (it may have expired after \(Int(limits.idleTimeToLive)) s idle)")
        }
        session.touch()
        return session
    }

    /// Closes the session `id` (a running propagation is cancelled); 404 when unknown.
    func delete(_ id: String) throws(APIError) {
        guard let session = lock.withLock({ sessions.removeValue(forKey: id) }) else {
            throw APIError(.sessionNotFound, "no session with id '\(id)'")
        }
        session.cancelPropagation()
        log("session \(id): closed")
    }

    /// Closes every session idle for longer than the time to live (a propagation counts as
    /// activity); returns their ids.
    @discardableResult
    public func expireIdle(now: Date = Date()) -> [String] {
        let expired: [Session] = lock.withLock {
            let old = sessions.values.filter { !$0.isPropagating && now.timeIntervalSince($0.idleSince) > limits.idleTimeToLive }
            for session in old { sessions[session.id] = nil }
            return old
        }
        for session in expired { log("session \(session.id): expired after \(Int(limits.idleTimeToLive)) s idle") }
        return expired.map(\.id)
    }

    /// Expires idle sessions every few seconds until the task is cancelled.
    public func runSweeper(every seconds: Double = 5) async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            expireIdle()
        }
    }

    /// Closes every session (shutdown).
    public func closeAll() {
        let all = lock.withLock { defer { sessions.removeAll() }; return Array(sessions.values) }
        for session in all { session.cancelPropagation() }
    }
}
