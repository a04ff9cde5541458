// DaemonResponder: Hummingbird's side of the API — turns a Hummingbird request into an
// `APIRequest` (reading at most `max_body_bytes` of body), and an `APIResponse` (bytes or an SSE
// stream) back into a Hummingbird response. All routing and checks are in `APIHandler`.

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
        var target = request.uri.path
        if let query = request.uri.query { target += "?" + query }
        let apiRequest = APIRequest(method: request.method.rawValue, target: target, headers: headers, body: body)
        return Self.response(await handler.handle(apiRequest))
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
