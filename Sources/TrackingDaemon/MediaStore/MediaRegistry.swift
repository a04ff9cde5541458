// MediaRegistry: the videos and images sessions work on — uploaded to the media root (streamed to
// disk, never held in memory) or registered from a path under the source roots — probed with
// FFmpeg once, described by DATA/media/<id>/media.json, served as frames, and deleted when no
// session uses them. Survives restarts (the records are read back at start-up).
//
//   MEDIA_ROOT/<id>/media.json     the record (MediaRecord)
//   MEDIA_ROOT/<id>/upload.<ext>   the uploaded file (uploads only)
//   MEDIA_ROOT/.incoming/          uploads being received (removed at start-up)

import Foundation
import FileIO
import Media

/// One registered video or image.
public struct MediaRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case video, image }
    public var id: String
    public var kind: Kind
    /// The name the client gave (uploads) or the source path (registered).
    public var name: String
    /// The file FFmpeg opens.
    public var path: String
    /// True when the file was uploaded (and is deleted with the record).
    public var uploaded: Bool
    public var width: Int
    public var height: Int
    public var frames: Int
    public var fps: Double?
    public var duration: Double?
    public var bytes: Int
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, kind, name, path, uploaded, width, height, frames, fps, duration, bytes
        case createdAt = "created_at"
    }
}

/// The daemon's media (see the file comment). Thread-safe.
public final class MediaRegistry: @unchecked Sendable {  // `records` behind `lock`; the rest immutable
    public let root: String
    let limits: DaemonConfig.UploadLimits
    let policy: PathPolicy
    private let lock = NSLock()
    private var records: [String: MediaRecord] = [:]
    private let log: @Sendable (String) -> Void

    /// Opens the media root, reading back the records there and clearing unfinished uploads.
    public init(root: String, limits: DaemonConfig.UploadLimits, policy: PathPolicy,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.root = root
        self.limits = limits
        self.policy = policy
        self.log = log
        try DirectoryHandle.makeDirectories(root)
        try? FileManager.default.removeItem(atPath: incoming)
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where !id.hasPrefix(".") {
            let file = ((root as NSString).appendingPathComponent(id) as NSString).appendingPathComponent("media.json")
            guard let data = FileManager.default.contents(atPath: file),
                  let record = try? Self.decoder.decode(MediaRecord.self, from: data), record.id == id else {
                log("media \(id): no readable media.json; ignored")
                continue
            }
            records[id] = record
        }
    }

    /// Where uploads are received before they are probed.
    public var incoming: String { (root as NSString).appendingPathComponent(".incoming") }

    /// Every record, newest first.
    public var all: [MediaRecord] { lock.withLock { records.values.sorted { $0.createdAt > $1.createdAt } } }

    /// The record `id`; 404 `media_not_found`.
    public func record(_ id: String) throws(APIError) -> MediaRecord {
        guard let record = lock.withLock({ records[id] }) else {
            throw APIError(.mediaNotFound, "no media with id '\(id)' (GET /v1/media lists them)")
        }
        return record
    }

    /// A new file in `incoming` for an upload to be written to.
    public func newUploadPath() throws -> String {
        try DirectoryHandle.makeDirectories(incoming)
        return (incoming as NSString).appendingPathComponent(UUID().uuidString.lowercased())
    }

    /// Registers an uploaded file (received at `path`, `bytes` long, named `name` by the client):
    /// probes it, moves it under its id. The file is removed when it is refused.
    public func addUpload(at path: String, bytes: Int, name: String) async throws -> MediaRecord {
        let id = UUID().uuidString.lowercased()
        let directory = (root as NSString).appendingPathComponent(id)
        do {
            let ext = Self.safeExtension(name)
            try DirectoryHandle.makeDirectories(directory)
            let final = (directory as NSString).appendingPathComponent("upload" + (ext.isEmpty ? "" : "." + ext))
            guard rename(path, final) == 0 else {
                throw APIError(.storageError, "cannot move the upload into the media root: \(systemErrorText(errno))")
            }
            let record = try await probe(id: id, path: final, name: name, uploaded: true, bytes: bytes)
            try save(record)
            return record
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Registers a file under the source roots (not copied).
    public func addSource(_ source: String) async throws -> MediaRecord {
        guard case let .file(path) = try policy.checkSource(source) else {
            throw APIError(.notMedia, "'\(source)' is a stream or device; sessions need a file or image sequence (register a file path)")
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let id = UUID().uuidString.lowercased()
        let record = try await probe(id: id, path: path, name: source, uploaded: false, bytes: bytes)
        try DirectoryHandle.makeDirectories((root as NSString).appendingPathComponent(id))
        try save(record)
        return record
    }

    /// Removes the record (and the uploaded file). The caller checks that no session uses it.
    public func delete(_ id: String) throws(APIError) -> MediaRecord {
        let record = try record(id)
        lock.withLock { records[id] = nil }
        try? FileManager.default.removeItem(atPath: (root as NSString).appendingPathComponent(id))
        log("media \(id): deleted")
        return record
    }

    // MARK: - Helpers

    private func probe(id: String, path: String, name: String, uploaded: Bool, bytes: Int) async throws -> MediaRecord {
        let roots = uploaded ? [root] : policy.sourceRoots
        let maxDuration = limits.maxDuration
        let result: Result<MediaRecord, Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: Result {
                    let source: any FrameSource
                    do {
                        source = try MediaInput.open(path, options: InputOptions(decoderThreads: 1, openTimeout: 10,
                                                                             confinement: InputConfinement(allowedDirectories: roots)))
                    } catch let error as MediaError {
                        throw APIError(.notMedia, "'\(name)' is not a video or image FFmpeg can read: \(error.description)")
                    }
                    let info = source.info
                    if let duration = info.duration, duration > maxDuration {
                        throw APIError(.notMedia, "'\(name)' lasts \(Int(duration)) s; this daemon accepts at most \(Int(maxDuration)) s "
                                       + "(uploads.max_duration_s)")
                    }
                    let frames = try Self.countFrames(source, declared: info.frameCount)
                    let image = frames == 1 && (info.duration ?? 0) < 0.1
                    return MediaRecord(id: id, kind: image ? .image : .video, name: name, path: path, uploaded: uploaded,
                                       width: info.width, height: info.height, frames: frames,
                                       fps: info.frameRate?.value, duration: info.duration, bytes: bytes, createdAt: Date())
                })
            }
        }
        return try result.get()
    }

    /// The exact frame count: decoded once when the container does not say (or says 0).
    private static func countFrames(_ source: any FrameSource, declared: Int?) throws -> Int {
        if let declared, declared > 0 { return declared }
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        guard count > 0 else { throw APIError(.notMedia, "'\(source.info.input)' holds no decodable frame") }
        return count
    }

    private func save(_ record: MediaRecord) throws {
        let file = ((root as NSString).appendingPathComponent(record.id) as NSString).appendingPathComponent("media.json")
        try AtomicFile.write(try Self.encoder.encode(record), to: file)
        lock.withLock { records[record.id] = record }
        log("media \(record.id): \(record.kind.rawValue) \(record.width)x\(record.height), \(record.frames) frame(s) from \(record.name)")
    }

    /// A file extension kept only when it is short and plain (FFmpeg probes by content anyway).
    static func safeExtension(_ name: String) -> String {
        let ext = (name as NSString).pathExtension.lowercased()
        return ext.count <= 8 && ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) ? ext : ""
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
