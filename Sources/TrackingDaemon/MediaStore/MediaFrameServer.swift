// MediaFrameServer: decoded frames of registered media for HTTP (`GET /v1/media/{id}/frames/{n}`)
// and for sessions — one `RandomAccessVideo` per media, opened on first use (its frame index
// cached on disk beside the record), kept for the most recently used media, frames found by
// seeking to a keyframe, never by decoding from the start.

import Foundation
import FileIO
import Media
import Tensor
import Tracker

/// Random access to registered media (see the file comment). Thread-safe.
public final class MediaFrameServer: @unchecked Sendable {  // `open` behind `lock`; each video is thread-safe itself
    private let lock = NSLock()
    private var open: [String: RandomAccessVideo] = [:]
    private var order: [String] = []
    /// How many media stay open at once.
    public let capacity: Int
    let roots: @Sendable (MediaRecord) -> [String]

    public init(capacity: Int = 8, roots: @escaping @Sendable (MediaRecord) -> [String]) {
        self.capacity = max(1, capacity)
        self.roots = roots
    }

    /// The media's random-access reader (opened, or reused).
    func video(_ record: MediaRecord) throws -> RandomAccessVideo {
        if let hit = lock.withLock({ () -> RandomAccessVideo? in
            guard let hit = open[record.id] else { return nil }
            order.removeAll { $0 == record.id }
            order.append(record.id)
            return hit
        }) { return hit }
        let indexPath = (record.path as NSString).deletingLastPathComponent == "" ? nil
            : Self.indexPath(record)
        let cached = indexPath.flatMap { FileManager.default.contents(atPath: $0) }.flatMap { try? JSONDecoder().decode(FrameIndex.self, from: $0) }
        let video: RandomAccessVideo
        do {
            video = try RandomAccessVideo(record.path, options: InputOptions(decoderThreads: 1,
                                                                          confinement: InputConfinement(allowedDirectories: roots(record))),
                                          index: cached, cacheBytes: 64 << 20)
        } catch let error as MediaError {
            throw APIError(.notMedia, "media \(record.id) cannot be read: \(error.description)")
        }
        if let indexPath, cached == nil, let index = video.index, let data = try? JSONEncoder().encode(index) {
            try? AtomicFile.write(data, to: indexPath)
        }
        let evicted: [RandomAccessVideo] = lock.withLock {
            open[record.id] = video
            order.append(record.id)
            var closed: [RandomAccessVideo] = []
            while order.count > capacity, let oldest = order.first {
                order.removeFirst()
                if let old = open.removeValue(forKey: oldest) { closed.append(old) }
            }
            return closed
        }
        for old in evicted { old.close() }
        return video
    }

    /// Forgets (closes) a media's reader, when the media is deleted.
    func forget(_ id: String) {
        let video = lock.withLock { () -> RandomAccessVideo? in
            order.removeAll { $0 == id }
            return open.removeValue(forKey: id)
        }
        video?.close()
    }

    /// Frame `n` as JPEG or PNG, optionally scaled to `width` (aspect kept).
    func image(_ record: MediaRecord, frame n: Int, format: String, width: Int?) async throws -> APIResponse {
        let imageFormat: FrameImageFormat
        switch format {
        case "jpeg", "jpg": imageFormat = .jpeg()
        case "png": imageFormat = .png
        default: throw APIError(.invalidRequest, "format must be jpeg or png")
        }
        let video = try self.video(record)
        let bytes: [UInt8] = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result {
                    do { return try video.encodedImage(n, format: imageFormat, width: width) }
                    catch let error as MediaError { throw APIError(.notMedia, "frame \(n) of media \(record.id): \(error.description)") }
                })
            }
        }
        return APIResponse(status: 200, headers: ["Content-Type": imageFormat.mimeType, "Cache-Control": "private, max-age=3600"],
                           body: .bytes(bytes))
    }

    static func indexPath(_ record: MediaRecord) -> String? {
        guard record.uploaded else { return nil }
        return ((record.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("index.json")
    }
}

/// A session's frames: model inputs from the media's random-access reader.
final class MediaSessionFrames: FrameProvider {
    let video: RandomAccessVideo
    let imageSize: Int
    let frameCount: Int, sourceWidth: Int, sourceHeight: Int

    init(_ video: RandomAccessVideo, record: MediaRecord, imageSize: Int) {
        self.video = video
        self.imageSize = imageSize
        frameCount = record.frames
        sourceWidth = record.width
        sourceHeight = record.height
    }

    func frame(_ index: Int) throws -> Tensor { try video.modelInput(index, imageSize: imageSize) }
}

/// A registered media as a session's media.
public struct RegisteredMedia: SessionMedia {
    let record: MediaRecord
    let server: MediaFrameServer

    public init(record: MediaRecord, server: MediaFrameServer) {
        self.record = record
        self.server = server
    }

    public var id: String { record.id }
    public var width: Int { record.width }
    public var height: Int { record.height }
    public var frameCount: Int { record.frames }

    public func frameProvider(imageSize: Int) throws -> any FrameProvider {
        MediaSessionFrames(try server.video(record), record: record, imageSize: imageSize)
    }
}
