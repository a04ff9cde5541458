// ErrorCatalogue: every error code the daemon gives — in HTTP responses
// (`{"error": {"code", "message"}}`) and in failed jobs' records — with its HTTP status, in one
// enum. Nothing else spells a code; `man samtrackd` and docs/openapi.yaml list the same set
// (a test checks that they do).

import Foundation

/// A stable, machine-readable error code (see the file comment).
public enum ErrorCode: String, Sendable, CaseIterable, Codable {
    // Requests
    case invalidJSON = "invalid_json"
    case invalidRequest = "invalid_request"
    case invalidPrompt = "invalid_prompt"
    case invalidOutputPath = "invalid_output_path"
    case unauthorized
    case sourceNotAllowed = "source_not_allowed"
    case notFound = "not_found"
    case jobNotFound = "job_not_found"
    case mediaNotFound = "media_not_found"
    case sessionNotFound = "session_not_found"
    case objectNotFound = "object_not_found"
    case methodNotAllowed = "method_not_allowed"
    case outputInUse = "output_in_use"
    case jobFinished = "job_finished"
    case jobNotRunning = "job_not_running"
    case mediaInUse = "media_in_use"
    case propagationRunning = "propagation_running"
    case noMasks = "no_masks"
    case bodyTooLarge = "body_too_large"
    case promptsTooLarge = "prompts_too_large"
    case uploadTooLarge = "upload_too_large"
    case sessionTooLarge = "session_too_large"
    case notMedia = "not_media"
    case frameOutOfRange = "frame_out_of_range"
    case tooManySessions = "too_many_sessions"
    case unknownModel = "unknown_model"
    case promptOutsideFrame = "prompt_outside_frame"
    case badMask = "bad_mask"
    case noPromptOnFirstFrame = "no_prompt_on_first_frame"
    case tooManyObjects = "too_many_objects"
    case unsupportedOutput = "unsupported_output"
    case bf16Unsupported = "bf16_unsupported"
    case sourceNotFound = "source_not_found"
    case unreadableSource = "unreadable_source"
    case tooManyJobs = "too_many_jobs"
    case shuttingDown = "shutting_down"
    case internalError = "internal_error"
    case storageError = "storage_error"
    // Jobs that ended badly (their `error.code`)
    case sourceError = "source_error"
    case outputError = "output_error"
    case diskFull = "disk_full"
    case modelError = "model_error"
    case trackerError = "tracker_error"
    case resumeFailed = "resume_failed"
    case interrupted
    case crashed
    case quarantined

    /// The HTTP status of a response with this code.
    public var httpStatus: Int {
        switch self {
        case .invalidJSON, .invalidRequest, .invalidOutputPath: return 400
        case .unauthorized: return 401
        case .sourceNotAllowed: return 403
        case .notFound, .jobNotFound, .mediaNotFound, .sessionNotFound, .objectNotFound: return 404
        case .methodNotAllowed: return 405
        case .outputInUse, .jobFinished, .jobNotRunning, .mediaInUse, .propagationRunning, .noMasks: return 409
        case .bodyTooLarge, .promptsTooLarge, .uploadTooLarge, .sessionTooLarge: return 413
        case .invalidPrompt, .unknownModel, .promptOutsideFrame, .badMask, .notMedia, .frameOutOfRange, .noPromptOnFirstFrame, .tooManyObjects, .unsupportedOutput,
             .bf16Unsupported, .sourceNotFound, .unreadableSource:
            return 422
        case .tooManyJobs, .tooManySessions: return 429
        case .shuttingDown: return 503
        case .internalError, .storageError: return 500
        case .sourceError, .outputError, .diskFull, .modelError, .trackerError, .resumeFailed, .interrupted, .crashed,
             .quarantined:
            return 500
        }
    }
}

/// An API failure: a code (which fixes the HTTP status) and a message that says what to do.
public struct APIError: Error, Equatable, CustomStringConvertible, Sendable {
    public var code: ErrorCode
    /// Human-readable explanation with a remedy.
    public var message: String
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, `Allow`).
    public var headers: [String: String] = [:]

    public init(_ code: ErrorCode, _ message: String, headers: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// HTTP status (4xx for the client's mistakes, 5xx for the daemon's).
    public var status: Int { code.httpStatus }

    public var description: String { "\(status) \(code.rawValue): \(message)" }

    /// The JSON body.
    public var body: [UInt8] {
        let object: [String: Any] = ["error": ["code": code.rawValue, "message": message]]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }

    // MARK: Common ones

    public static let unauthorized = APIError(
        .unauthorized,
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token from the daemon's config",
        headers: ["WWW-Authenticate": "Bearer realm=\"samtrackd\""])
    public static func jobNotFound(_ id: String) -> APIError {
        APIError(.jobNotFound, "no job with id '\(id)' (GET /v1/jobs lists them)")
    }
    public static func routeNotFound(_ method: String, _ path: String) -> APIError {
        APIError(.notFound, "no route for \(method) \(path) (see docs/openapi.yaml)")
    }
    public static func methodNotAllowed(_ method: String, _ path: String, allowed: [String]) -> APIError {
        APIError(.methodNotAllowed, "\(method) is not allowed on \(path); use \(allowed.joined(separator: ", "))",
                 headers: ["Allow": allowed.joined(separator: ", ")])
    }
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.bodyTooLarge, "the request body exceeds \(limit) bytes (limits.max_body_bytes in the daemon's config)")
    }
    public static func tooManyJobs(_ message: String) -> APIError {
        APIError(.tooManyJobs, message, headers: ["Retry-After": "5"])
    }
    public static let shuttingDown = APIError(
        .shuttingDown, "the daemon is shutting down; retry after it restarts", headers: ["Retry-After": "5"])
}
