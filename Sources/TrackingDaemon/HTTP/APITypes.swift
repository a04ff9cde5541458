// APITypes: an HTTP request and response as the API handler sees them, independent of the HTTP
// server (samtrackd adapts Hummingbird's; tests build them directly, without sockets).

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
    /// An upload the server streamed to this file instead of `body` (POST /v1/media), with its
    /// length; the handler takes the file over (moves it into the media root, or removes it).
    public var bodyFile: (path: String, bytes: Int)?

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
