// RandomAccessVideo: any frame of a video file, image2 pattern or image list, by number, for
// interactive sessions (DESIGN §7.2): the frame index is built once (`FrameIndex`, one demux
// pass without decoding, cacheable on disk); frame n is decoded by seeking to the last keyframe
// at or before it and decoding forward, or by decoding on when the decoder is already on the way
// to n (the next frame, a later frame of the same GOP). Frames decoded on the way are kept in a
// byte-bounded LRU cache, so stepping backwards through a GOP decodes it once per cache-full.
//
// Frame n has exactly the pixels the sequential `VideoSource` / `FrameReader` deliver as frame n
// (`RandomAccessVideoTests` compares every frame's planes), and `modelInput` / `sourceRGB` go
// through the same `FramePreprocessor` as the reader, so they are the same bytes too.
//
// Threads: every method takes the object's lock, so it may be shared, but calls run one at a
// time (a decode holds the lock; the daemon serialises per media anyway). Returned frames and
// tensors are immutable and may cross threads.

import CFFmpeg
import Foundation
import Tensor

/// Random access to the frames of one input.
public final class RandomAccessVideo: @unchecked Sendable {  // all mutable state behind `lock`
    /// The stream's description (`frameCount` is the exact count, from the index).
    public let info: VideoInfo
    /// The frame index of a video or image2 input (save it with `JSONEncoder` and pass it back to
    /// `init` to skip the demux pass); nil for image lists, whose file list is their index.
    public let index: FrameIndex?
    /// The images of an image-list input (a directory or glob); nil otherwise.
    public let images: ImageSequence?
    /// Bytes of decoded frames the cache may keep.
    public let cacheCapacityBytes: Int

    /// Work done so far, to see what an access cost.
    public struct Statistics: Sendable, Equatable {
        /// Repositionings of the demuxer (each followed by decoding from a keyframe).
        public var seeks = 0
        /// Frames the decoder delivered (including those decoded on the way to another).
        public var framesDecoded = 0
        /// Requests answered from the cache.
        public var cacheHits = 0
        /// Repositionings that had to go back to the start of the input, by seeking there or by
        /// reopening it (a demuxer that did not resume at the keyframe; image2 on a single file).
        public var restarts = 0
    }

    private let lock = NSLock()
    private let input: String
    private let options: InputOptions
    private var cache: FrameCache
    private var counters = Statistics()
    private var preprocessors: [Int: FramePreprocessor] = [:]
    private var rgbConverter: FramePreprocessor?
    private var encoder: FrameImageEncoder?
    // Video inputs: the open source and where its decoder stands.
    private var source: VideoSource?
    private var framesByPTS: [Int64: Int] = [:]
    /// Decode index of the keyframe decoding started at since the last seek; nil: must seek.
    private var startKeyframe: Int?
    /// The last frame the decoder delivered since that seek (-1: none yet).
    private var lastDelivered = -1

    /// Opens `input` (a file, an image2 pattern such as `frames/%05d.jpg`, a directory or glob of
    /// images) and indexes it: for a video, one demux pass unless `index` is a cached index that
    /// still matches the file (`FrameIndex.matches(fileAt:)`).
    /// - Parameters:
    ///   - options: as for `VideoSource` (a confinement applies to every file read); decoder
    ///     threads 0 = one per core.
    ///   - cacheBytes: bound of the decoded-frame cache (default 128 MiB: about 40 frames of
    ///     1080p yuv420p); 0 disables it.
    /// - Throws: `MediaError`: the open errors of `VideoSource` / `ImageSequence`;
    ///   `.invalidArgument` for a pipe, stream or device (no random access);
    ///   `.notMediaFile` when the input holds no frame.
    public init(_ input: String, options: InputOptions = InputOptions(), index cached: FrameIndex? = nil,
                cacheBytes: Int = 128 << 20) throws {
        self.input = input
        self.options = options
        cacheCapacityBytes = max(0, cacheBytes)
        cache = FrameCache(capacityBytes: cacheCapacityBytes)
        if let sequence = try MediaInput.imageSequence(input, options: options) {
            let list = try ImageListSource(sequence, options: options)
            info = list.info
            images = sequence
            index = nil
            return
        }
        images = nil
        // Refused before opening: probing a pipe would consume bytes a forward reader needs.
        if Self.isForwardOnly(input) {
            throw MediaError.invalidArgument(
                "'\(input)' cannot be read at random (a pipe, stream or device); give a file")
        }
        let source = try VideoSource(input, options: options)
        guard !source.info.isLive, source.isSeekable else {
            throw MediaError.invalidArgument(
                "'\(input)' cannot be read at random (a pipe, stream or device); give a file")
        }
        let file = FrameIndex.fileIdentity(Self.localPath(input))
        let built: FrameIndex
        if let cached, cached.isConsistent, cached.streamIndex == source.info.streamIndex,
           cached.timeBase == source.info.timeBase, file != nil, cached.matches(fileAt: Self.localPath(input)) {
            built = cached
        } else {
            built = FrameIndex(packets: try source.scanPackets(), streamIndex: source.info.streamIndex,
                               timeBase: source.info.timeBase, file: file)
        }
        guard built.frameCount > 0 else {
            throw MediaError.notMediaFile(input: input, reason: "no video frames")
        }
        let described = source.info
        info = VideoInfo(input: described.input, url: described.url, formatName: described.formatName,
                         codecName: described.codecName, streamIndex: described.streamIndex,
                         width: described.width, height: described.height, pixelFormat: described.pixelFormat,
                         frameRate: described.frameRate, timeBase: described.timeBase, duration: described.duration,
                         frameCount: built.frameCount, isLive: false)
        index = built
        framesByPTS = built.framesByPTS()
        self.source = source
    }

    /// The number of frames.
    public var frameCount: Int { info.frameCount ?? 0 }

    /// Bytes of decoded frames held by the cache now.
    public var cachedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return cache.totalBytes
    }

    /// Work done so far.
    public var statistics: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    /// Frame `n` (0-based, presentation order; `index` is n, `number` the file-name number of
    /// image lists).
    /// - Throws: `.invalidArgument` for n outside 0..<frameCount; decode errors of the input.
    public func frame(_ n: Int) throws -> DecodedFrame {
        lock.lock()
        defer { lock.unlock() }
        return try lockedFrame(n)
    }

    /// The model input of frame `n`: Tensor [1, 3, S, S] for S = `imageSize`, exactly what
    /// `FrameReader` hands the tracker for that frame (`FramePreprocessor.modelInput`).
    public func modelInput(_ n: Int, imageSize: Int) throws -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        let decoded = try lockedFrame(n)
        let preprocessor = preprocessors[imageSize] ?? FramePreprocessor(imageSize: imageSize, inputName: input)
        preprocessors[imageSize] = preprocessor
        return try preprocessor.modelInput(decoded)
    }

    /// Frame `n` as RGB24 at its source size (`FramePreprocessor.sourceRGB`).
    public func sourceRGB(_ n: Int) throws -> RGBImage {
        lock.lock()
        defer { lock.unlock() }
        let decoded = try lockedFrame(n)
        let converter = rgbConverter ?? FramePreprocessor(imageSize: 1, inputName: input)
        rgbConverter = converter
        return try converter.sourceRGB(decoded)
    }

    /// Frame `n` encoded as an image file (`FrameImageEncoder`), optionally scaled to `width`
    /// pixels wide with the aspect ratio kept.
    public func encodedImage(_ n: Int, format: FrameImageFormat, width: Int? = nil) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        let decoded = try lockedFrame(n)
        let encoder = self.encoder ?? FrameImageEncoder()
        self.encoder = encoder
        return try encoder.encode(decoded, format: format, width: width)
    }

    /// Frees the decoder, the demuxer and the cached frames now (an idle media); the index stays
    /// and the next access reopens the input.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        source?.close()
        source = nil
        startKeyframe = nil
        lastDelivered = -1
        cache.removeAll()
    }

    // MARK: - Decoding

    private func lockedFrame(_ n: Int) throws -> DecodedFrame {
        guard n >= 0, n < frameCount else {
            throw MediaError.invalidArgument("frame \(n) of '\(input)' does not exist (it has \(frameCount) frames, 0-\(frameCount - 1))")
        }
        if let cached = cache.frame(n) {
            counters.cacheHits += 1
            return cached
        }
        if let images {
            let frame = try ImageListSource.decode(images.images[n], index: n, sequence: images, options: imageOptions,
                                                   seconds: info.frameRate.map { ImageListSource.seconds(ofFrame: n, rate: $0) })
            counters.framesDecoded += 1
            cache.insert(frame, as: n)
            return frame
        }
        return try decodeVideoFrame(n)
    }

    private var imageOptions: InputOptions {
        var options = self.options
        options.options.removeValue(forKey: "framerate")
        options.decoderThreads = 1
        options.live = false
        return options
    }

    /// Decodes frame `n` of a video: on from where the decoder stands when it is on the way to
    /// n, else from the keyframe before n. Repositioning falls back step by step: a seek by the
    /// keyframe's timestamp; a seek to the start skipping to the keyframe (the demuxer resumed
    /// after it); reopening the input (a demuxer that cannot seek back, such as image2 on a single
    /// file). A keyframe that was reached but does not lead to n (the decoder cannot start cleanly
    /// there) sends the search to the keyframe before it.
    private func decodeVideoFrame(_ n: Int) throws -> DecodedFrame {
        guard let index else { throw MediaError.invalidArgument("'\(input)' has no frame index") }
        var limit: Int?
        while true {
            let key = index.sequentialOnly ? 0 : (index.keyframe(for: n, before: limit) ?? 0)
            var attempts: [Reposition] = [.seek, .seekFromStart, .reopen]
            if let source, canContinue(to: n, keyframe: key, source: source, index: index) {
                attempts.insert(.none, at: 0)
            }
            attempts: for attempt in attempts {
                let source = try reposition(attempt, toPacket: key, index: index)
                do {
                    if let found = try decodeForward(source, until: n, index: index) { return found }
                    // The keyframe was reached and decoded from, yet n did not come: start earlier.
                    if source.seekTarget == nil && attempt != .none { break attempts }
                } catch is SeekMiss {
                    // The demuxer resumed after the keyframe: the next way of getting there.
                }
                startKeyframe = nil
            }
            startKeyframe = nil
            guard key > 0, !index.sequentialOnly else {
                throw MediaError.readFailed(input: input, reason: "frame \(n) could not be decoded")
            }
            limit = key
        }
    }

    /// Ways of getting the decoder to a keyframe, cheapest first.
    private enum Reposition {
        /// Decode on from where the decoder stands.
        case none
        /// Seek by the keyframe's timestamp.
        case seek
        /// Seek by the first packet's timestamp and skip to the keyframe.
        case seekFromStart
        /// Open the input again and skip to the keyframe.
        case reopen
    }

    /// Puts the decoder on the way to the keyframe at decode index `key`; returns the source.
    private func reposition(_ how: Reposition, toPacket key: Int, index: FrameIndex) throws -> VideoSource {
        if how == .reopen {
            source?.close()
            source = nil
        }
        let source = try self.source ?? VideoSource(input, options: options)
        self.source = source
        switch how {
        case .none:
            return source
        case .seek, .seekFromStart:
            startKeyframe = nil
            let timestamp = index.seekTarget(forPacket: how == .seek ? key : 0).timestamp
            try source.seek(to: index.seekTarget(forPacket: key).target, timestamp: timestamp)
        case .reopen:
            source.skip(to: index.seekTarget(forPacket: key).target)
        }
        counters.seeks += 1
        if how != .seek { counters.restarts += 1 }
        startKeyframe = key
        lastDelivered = -1
        return source
    }

    /// Whether decoding on (without a seek) reaches frame `n` correctly and soon: the decoder
    /// started at or before n's keyframe, has not delivered n yet, and is either at n's keyframe
    /// already or about to deliver n.
    private func canContinue(to n: Int, keyframe key: Int, source: VideoSource, index: FrameIndex) -> Bool {
        guard let start = startKeyframe, lastDelivered < n, !source.finished else { return false }
        if index.sequentialOnly { return true }
        let fedThrough = start + source.packetsFedSinceSeek - 1
        return start <= key && (key <= fedThrough || n == lastDelivered + 1)
    }

    /// Decodes until frame `n` comes out; caches every good frame on the way. Returns nil when
    /// the decoder passes n or ends without delivering it.
    private func decodeForward(_ source: VideoSource, until n: Int, index: FrameIndex) throws -> DecodedFrame? {
        guard let start = startKeyframe else { return nil }
        let nopts = samtrack_nopts_value()
        let startPTS = index.sequentialOnly ? nil : index.pts[start]
        while let decoded = try source.nextFrame() {
            counters.framesDecoded += 1
            let number: Int
            if index.sequentialOnly {
                number = decoded.index
            } else {
                let raw = decoded.frame.pointee.pts != nopts ? decoded.frame.pointee.pts : decoded.frame.pointee.best_effort_timestamp
                // Frames shown before the keyframe (an open GOP's leading frames) are not
                // decodable from it; frames of unknown time are not ours to number.
                guard let found = framesByPTS[raw], startPTS.map({ raw >= $0 }) ?? true else { continue }
                number = found
            }
            guard number > lastDelivered else { continue }
            lastDelivered = number
            let frame = DecodedFrame(referencing: decoded, index: number, pts: index.seconds(ofFrame: number), number: nil)
            cache.insert(frame, as: number)
            if number == n { return frame }
            if number > n { return nil }
        }
        return nil
    }

    /// The file path of an input named as a path or `file:` URL.
    /// True for inputs known to be forward-only without opening them: standard input, `pipe:`,
    /// `fd:`, live network schemes and `/dev/` paths.
    public static func isForwardOnly(_ input: String) -> Bool {
        if input == "-" || input.hasPrefix("pipe:") || input.hasPrefix("fd:") || input.hasPrefix("/dev/") { return true }
        guard let scheme = VideoSource.scheme(of: input) else { return false }
        return VideoSource.liveSchemes.contains(scheme) && scheme != "http" && scheme != "https"
    }

    private static func localPath(_ input: String) -> String {
        input.hasPrefix("file:") ? String(input.dropFirst(5)) : input
    }
}
