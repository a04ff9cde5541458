// DaemonResponder: Hummingbird's side of the API — turns a Hummingbird request into an
// `APIRequest` (reading at most `max_body_bytes` of body), and an `APIResponse` (bytes or an SSE
// stream) back into a Hummingbird response. All routing and checks are in `APIHandler`.

import FileIO
import Foundation
import Hummingbird
import TrackingDaemon

struct DaemonResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let handler: APIHandler

    func respond(to request: Request, context: Context) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        var target = request.uri.path
        if let query = request.uri.query { target += "?" + query }
        // An upload is streamed to a file, never held in memory.
        if let upload = try handler.uploadDestination(method: request.method.rawValue, path: request.uri.path,
                                                      contentType: headers["content-type"]) {
            if let length = headers["content-length"].flatMap(Int.init), length > upload.limit {
                return Self.response(handler.uploadTooLargeResponse(limit: upload.limit), closeConnection: true)
            }
            guard let bytes = try await Self.stream(request.body, to: upload.path, limit: upload.limit) else {
                return Self.response(handler.uploadTooLargeResponse(limit: upload.limit), closeConnection: true)
            }
            var apiRequest = APIRequest(method: request.method.rawValue, target: target, headers: headers)
            apiRequest.bodyFile = (upload.path, bytes)
            return Self.response(await handler.handle(apiRequest))
        }
        let limit = handler.maxBodyBytes
        if let length = headers["content-length"].flatMap(Int.init), length > limit {
            return Self.response(handler.bodyTooLargeResponse(), closeConnection: true)
        }
        var body: [UInt8] = []
        for try await buffer in request.body {
            guard body.count + buffer.readableBytes <= limit else {
                return Self.response(handler.bodyTooLargeResponse(), closeConnection: true)
            }
            body += buffer.readableBytesView
        }
        let apiRequest = APIRequest(method: request.method.rawValue, target: target, headers: headers, body: body)
        return Self.response(await handler.handle(apiRequest))
    }

    /// Writes the body to `path` chunk by chunk; the byte count, or nil (file removed) past `limit`.
    static func stream(_ body: RequestBody, to path: String, limit: Int) async throws -> Int? {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FileError.writeFailed(path: path, reason: systemErrorText(errno), code: errno) }
        var total = 0
        do {
            for try await buffer in body {
                total += buffer.readableBytes
                guard total <= limit else {
                    close(fd)
                    unlink(path)
                    return nil
                }
                try buffer.withUnsafeReadableBytes { try writeFully(fd, $0, path: path) }
            }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        close(fd)
        return total
    }

    static func response(_ api: APIResponse, closeConnection: Bool = false) -> Response {
        var fields = HTTPFields()
        for (name, value) in api.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPFields.Element.Name(name) { fields[field] = value }
        }
        if closeConnection { fields[HTTPFields.Element.Name.connection] = "close" }
        let body: ResponseBody
        switch api.body {
        case let .bytes(bytes):
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        case let .stream(stream):
            body = ResponseBody { writer in
                for await chunk in stream {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            }
        }
        return Response(status: HTTPResponse.Status(code: api.status), headers: fields, body: body)
    }
}
