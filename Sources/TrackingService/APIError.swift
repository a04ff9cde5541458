// APIError: every refusal of the daemon's HTTP API, as a value with an HTTP status, a stable
// machine-readable code and a message that says what to do. The body is always
// `{"error": {"code": "...", "message": "..."}}`.

import Foundation

/// An API failure: HTTP status + code + message.
public struct APIError: Error, Equatable, CustomStringConvertible, Sendable {
    /// HTTP status (4xx for the client's mistakes, 5xx for the daemon's).
    public var status: Int
    /// Stable identifier, e.g. `invalid_json`, `unknown_model`, `too_many_jobs`.
    public var code: String
    /// Human-readable explanation with a remedy.
    public var message: String
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, `Allow`).
    public var headers: [String: String] = [:]

    public init(status: Int, code: String, message: String, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The JSON body.
    public var body: [UInt8] {
        let object: [String: Any] = ["error": ["code": code, "message": message]]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }

    // MARK: Catalogue

    public static func invalidJSON(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_json", message: message)
    }
    public static func invalidRequest(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_request", message: message)
    }
    public static func invalidPrompt(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_prompt", message: message)
    }
    public static func invalidOutputPath(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_output_path", message: message)
    }
    public static let unauthorized = APIError(
        status: 401, code: "unauthorized",
        message: "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token from the daemon's config",
        headers: ["WWW-Authenticate": "Bearer realm=\"samtrackd\""])
    public static func sourceNotAllowed(_ message: String) -> APIError {
        APIError(status: 403, code: "source_not_allowed", message: message)
    }
    public static func jobNotFound(_ id: String) -> APIError {
        APIError(status: 404, code: "job_not_found", message: "no job with id '\(id)' (GET /v1/jobs lists them)")
    }
    public static func routeNotFound(_ method: String, _ path: String) -> APIError {
        APIError(status: 404, code: "not_found", message: "no route for \(method) \(path) (see docs/openapi.yaml)")
    }
    public static func methodNotAllowed(_ method: String, _ path: String, allowed: [String]) -> APIError {
        APIError(status: 405, code: "method_not_allowed",
                 message: "\(method) is not allowed on \(path); use \(allowed.joined(separator: ", "))",
                 headers: ["Allow": allowed.joined(separator: ", ")])
    }
    public static func conflict(_ code: String, _ message: String) -> APIError {
        APIError(status: 409, code: code, message: message)
    }
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "body_too_large",
                 message: "the request body exceeds \(limit) bytes (limits.max_body_bytes in the daemon's config)")
    }
    public static func unprocessable(_ code: String, _ message: String) -> APIError {
        APIError(status: 422, code: code, message: message)
    }
    public static func tooManyJobs(_ message: String) -> APIError {
        APIError(status: 429, code: "too_many_jobs", message: message, headers: ["Retry-After": "5"])
    }
    public static func internalError(_ message: String) -> APIError {
        APIError(status: 500, code: "internal_error", message: message)
    }
    public static let shuttingDown = APIError(
        status: 503, code: "shutting_down", message: "the daemon is shutting down; retry after it restarts",
        headers: ["Retry-After": "5"])
}

/// Readable text for a `DecodingError`, naming the JSON path (`prompts[0].box`).
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return text.isEmpty ? "the body" : text
    }
    switch error {
    case let .typeMismatch(type, context):
        return "\(path(context.codingPath)): expected \(jsonTypeName(type))"
    case let .valueNotFound(type, context):
        return "\(path(context.codingPath)): expected \(jsonTypeName(type)), found null"
    case let .keyNotFound(key, context):
        return "\(path(context.codingPath + [key])) is required"
    case let .dataCorrupted(context):
        if context.codingPath.isEmpty { return context.debugDescription }
        return "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func jsonTypeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Int.Type, is Int64.Type, is UInt32.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "true or false"
    default:
        let name = "\(type)"
        if name.hasPrefix("Array") { return "an array" }
        return "an object"
    }
}

/// A coding key for any string, to list the keys an object really has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension Decoder {
    /// Throws when the JSON object has keys outside `known` (a typo such as `max_frame` should
    /// not be silently ignored).
    func rejectUnknownKeys(_ known: Set<String>) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let context = DecodingError.Context(
                codingPath: codingPath,
                debugDescription: "unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); "
                    + "allowed: \(known.sorted().joined(separator: ", "))")
            throw DecodingError.dataCorrupted(context)
        }
    }
}

/// JSON coders with the API's conventions: snake_case keys, sorted output, ISO 8601 dates.
enum APIJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        Array((try? encoder().encode(value)) ?? Data("null".utf8))
    }

    static func encodeString<T: Encodable>(_ value: T) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    /// Decodes `body`, turning every failure into a 400 with the JSON path in the message.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        guard !body.isEmpty else { throw APIError.invalidJSON("the request body is empty: send a JSON object") }
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch let error as DecodingError {
            if case let .dataCorrupted(context) = error, context.codingPath.isEmpty,
               (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) == nil {
                throw APIError.invalidJSON("the request body is not valid JSON")
            }
            throw APIError.invalidRequest(describe(error))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.invalidJSON("the request body is not valid JSON: \(error)")
        }
    }

    static func timestamp(_ date: Date?) -> String? {
        guard let date else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
