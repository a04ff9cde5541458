// MediaRoutes: the media API (DESIGN §7.2):
//
//   POST   /v1/media?name=clip.mp4        the file as the body (streamed to disk by the server) -> 201
//   POST   /v1/media                      {"source": "<path under a source root>"} -> 201
//   GET    /v1/media                      every media, newest first
//   GET    /v1/media/{id}                 one
//   DELETE /v1/media/{id}                 (409 media_in_use while a session uses it)
//   GET    /v1/media/{id}/frames/{n}      the decoded frame as JPEG or PNG (?format=, ?width=)

import Foundation
import FileIO

/// The JSON form of a media.
struct MediaView: Encodable {
    var id: String
    var kind: String
    var name: String
    var width: Int
    var height: Int
    var frames: Int
    var fps: Double?
    var duration: Double?
    var bytes: Int
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, kind, name, width, height, frames, fps, duration, bytes
        case createdAt = "created_at"
    }

    init(_ record: MediaRecord) {
        id = record.id
        kind = record.kind.rawValue
        name = record.name
        width = record.width
        height = record.height
        frames = record.frames
        fps = record.fps.map { ($0 * 1000).rounded() / 1000 }
        duration = record.duration
        bytes = record.bytes
        createdAt = APIJSON.timestamp(record.createdAt)!
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind, forKey: .kind)
        try c.encode(name, forKey: .name)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(frames, forKey: .frames)
        try c.encode(fps, forKey: .fps)
        try c.encode(duration, forKey: .duration)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(createdAt, forKey: .createdAt)
    }
}

/// The body of `POST /v1/media` when it registers a source.
struct MediaSourceSpec: Decodable {
    var source: String
    enum CodingKeys: String, CodingKey, CaseIterable { case source }
    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        source = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .source)
    }
}

struct MediaRoutes {
    let media: MediaRegistry
    let sessions: SessionManager?
    let frames: MediaFrameServer

    func route(_ request: APIRequest, _ parts: [String]) async throws -> APIResponse {
        let method = request.method
        if parts.count == 2 {
            try allow(method, ["GET", "POST"], request.path)
            if method == "GET" {
                struct List: Encodable { var media: [MediaView] }
                return .json(200, List(media: media.all.map(MediaView.init)))
            }
            let record = try await create(request)
            var response = APIResponse.json(201, MediaView(record))
            response.headers["Location"] = "/v1/media/\(record.id)"
            return response
        }
        let id = try identifier(parts[2])
        switch Array(parts.dropFirst(3)) {
        case []:
            try allow(method, ["GET", "DELETE"], request.path)
            if method == "DELETE" {
                _ = try media.record(id)
                if sessions?.isUsing(media: id) == true {
                    throw APIError(.mediaInUse, "media \(id) is open in a session; close the session first (DELETE /v1/sessions/{id})")
                }
                frames.forget(id)
                return .json(200, MediaView(try media.delete(id)))
            }
            return .json(200, MediaView(try media.record(id)))
        case let p where p.count == 2 && p[0] == "frames":
            try allow(method, ["GET"], request.path)
            let record = try media.record(id)
            guard let n = Int(p[1]), n >= 0 else { throw APIError(.frameOutOfRange, "'\(p[1].prefix(32))' is not a frame number") }
            guard n < record.frames else {
                throw APIError(.frameOutOfRange, "frame \(n) is past the end of media \(id) (\(record.frames) frames: 0...\(record.frames - 1))")
            }
            return try await frames.image(record, frame: n, format: request.query["format"] ?? "jpeg",
                                          width: try request.query["width"].map(Self.width))
        default:
            throw APIError.routeNotFound(method, request.path)
        }
    }

    private static func width(_ text: String) throws(APIError) -> Int {
        guard let w = Int(text), (16...8192).contains(w) else { throw APIError(.invalidRequest, "width must be an integer in 16...8192") }
        return w
    }

    /// An upload (streamed to a file by the server, or the body itself) or a JSON source.
    private func create(_ request: APIRequest) async throws -> MediaRecord {
        let contentType = request.headers["content-type"]?.lowercased() ?? ""
        if let file = request.bodyFile {
            return try await media.addUpload(at: file.path, bytes: file.bytes, name: uploadName(request))
        }
        if contentType.hasPrefix("application/json") {
            let spec = try APIJSON.decode(MediaSourceSpec.self, from: request.body)
            return try await media.addSource(spec.source)
        }
        guard !request.body.isEmpty else { throw APIError(.notMedia, "the body is empty: send the video or image file as the body") }
        guard request.body.count <= media.limits.maxBytes else {
            throw APIError(.uploadTooLarge, "the upload exceeds uploads.max_bytes (\(media.limits.maxBytes) bytes)")
        }
        let path = try media.newUploadPath()
        try AtomicFile.write(request.body, to: path)
        return try await media.addUpload(at: path, bytes: request.body.count, name: uploadName(request))
    }

    private func uploadName(_ request: APIRequest) -> String {
        let name = request.query["name"].map { ($0 as NSString).lastPathComponent } ?? "upload"
        return String(name.prefix(255))
    }
}
