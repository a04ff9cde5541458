// FrameIndex: where every frame of a video lies, built once by a demux pass without decoding,
// so that `RandomAccessVideo` can seek to the keyframe before any frame.
//
// Frames are numbered in presentation order, as the sequential decoder (`VideoSource`,
// `FrameReader`) delivers them: frame n is the packet with the n-th smallest pts among the
// packets the decoder outputs (packets marked discard by MP4 edit lists are decoded as
// references but never output, so they are seek points, not frames). A stream whose packets do
// not all carry distinct pts (raw elementary streams) cannot be mapped that way: the index is
// then `sequentialOnly` and frame n is the n-th frame decoded from the start.

import CFFmpeg
import Foundation

/// The frame index of a video file: every packet of its video stream in decode order, and the
/// frames they make in presentation order. Codable, so that it can be cached on disk (check
/// `matches(fileAt:)` before reusing a cached one).
public struct FrameIndex: Codable, Sendable, Equatable {
    /// Bumped when the layout or the numbering rules change; older cached indexes are rebuilt.
    public static let currentVersion = 1

    public let version: Int
    /// Index of the video stream in the container (`VideoInfo.streamIndex`).
    public let streamIndex: Int
    /// Time base of the timestamps below.
    public let timeBase: Rational
    /// The input file's size and modification time (seconds since 1970) when the index was
    /// built; nil for inputs that are not a single regular file (image2 patterns).
    public let fileSize: Int64?
    public let modificationTime: Double?

    // Packets in decode order (parallel arrays keep the JSON small).
    /// Presentation timestamps; nil where a packet has none.
    public let pts: [Int64?]
    /// Decode timestamps; nil where a packet has none.
    public let dts: [Int64?]
    /// Byte positions in the file (-1 unknown).
    public let positions: [Int64]
    /// Decode-order indices of the keyframes (where decoding can start).
    public let keyframes: [Int]
    /// Decode-order indices of the packets the decoder drops (MP4 edit lists).
    public let discarded: [Int]

    /// Decode-order index of each frame, frame n at [n] (presentation order).
    public let frames: [Int]
    /// True when frames cannot be told apart by pts: access decodes from the start.
    public let sequentialOnly: Bool

    /// The number of frames (exact: what the sequential decoder delivers for a sound file).
    public var frameCount: Int { frames.count }

    /// Builds the index from the packets of a pass over the input.
    init(packets: [PacketRecord], streamIndex: Int, timeBase: Rational, file: (size: Int64, modified: Double)?) {
        version = Self.currentVersion
        self.streamIndex = streamIndex
        self.timeBase = timeBase
        fileSize = file?.size
        modificationTime = file?.modified
        pts = packets.map(\.pts)
        dts = packets.map(\.dts)
        positions = packets.map(\.position)
        keyframes = packets.indices.filter { packets[$0].isKeyframe }
        discarded = packets.indices.filter { packets[$0].isDiscarded }
        let shown = packets.indices.filter { !packets[$0].isDiscarded }
        let stamps = shown.compactMap { packets[$0].pts }
        if stamps.count == shown.count && Set(stamps).count == stamps.count {
            frames = shown.sorted { packets[$0].pts! < packets[$1].pts! }
            sequentialOnly = false
        } else {
            frames = shown
            sequentialOnly = true
        }
    }

    /// Whether a cached index still describes the file at `path` (same version, size and
    /// modification time).
    public func matches(fileAt path: String) -> Bool {
        guard version == Self.currentVersion, let identity = Self.fileIdentity(path) else { return false }
        return identity.size == fileSize && identity.modified == modificationTime
    }

    /// Size and modification time of a regular file, or nil.
    static func fileIdentity(_ path: String) -> (size: Int64, modified: Double)? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
        return (Int64(status.st_size), modified)
    }

    /// Checks the arrays agree (a cached file may have been edited or cut).
    var isConsistent: Bool {
        let count = pts.count
        return dts.count == count && positions.count == count
            && keyframes.allSatisfy { $0 >= 0 && $0 < count } && discarded.allSatisfy { $0 >= 0 && $0 < count }
            && frames.allSatisfy { $0 >= 0 && $0 < count } && Set(frames).count == frames.count
            && (sequentialOnly || frames.allSatisfy { pts[$0] != nil })
    }

    // MARK: - Seeking

    /// The decode-order index of the keyframe to start decoding at to reach frame `n`: the last
    /// keyframe at or before the frame in decode order whose pts is not after the frame's pts.
    /// (An open GOP's leading frames come after its keyframe in decode order but are shown
    /// before it and need the previous GOP: the pts condition sends them further back.)
    /// `before`: only keyframes earlier than this decode index (a retry after a failed start).
    func keyframe(for n: Int, before limit: Int? = nil) -> Int? {
        guard !sequentialOnly else { return keyframes.first }
        let packet = frames[n]
        let framePTS = pts[packet]!
        var candidate: Int?
        for key in keyframes {
            if key > packet { break }
            if let limit, key >= limit { break }
            if let keyPTS = pts[key], keyPTS > framePTS { continue }
            candidate = key
        }
        return candidate
    }

    /// The seek request for the keyframe at decode index `key`: the packet to resume at, and the
    /// timestamp to ask the demuxer for (the smaller of its dts and pts, so that demuxers seeking
    /// by either land at or before it; nil when the packet has neither).
    func seekTarget(forPacket key: Int) -> (target: SeekTarget, timestamp: Int64?) {
        let target = SeekTarget(pts: pts[key], dts: dts[key], position: positions[key])
        return (target, [pts[key], dts[key]].compactMap { $0 }.min())
    }

    /// The frame number of each packet shown, by pts (for identifying decoded frames).
    func framesByPTS() -> [Int64: Int] {
        var map: [Int64: Int] = [:]
        map.reserveCapacity(frames.count)
        for (n, packet) in frames.enumerated() {
            if let stamp = pts[packet] { map[stamp] = n }
        }
        return map
    }

    /// Frame n's presentation time in seconds, when known.
    func seconds(ofFrame n: Int) -> Double? {
        guard let stamp = pts[frames[n]], let base = timeBase.value else { return nil }
        return Double(stamp) * base
    }
}

extension Rational: Codable {
    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        self.init(try container.decode(Int.self), try container.decode(Int.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(numerator)
        try container.encode(denominator)
    }
}
