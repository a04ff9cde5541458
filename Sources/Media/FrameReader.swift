// FrameReader: decodes ahead on its own thread into a small bounded queue, so that decoding
// frame t+1 overlaps tracking frame t.
//
// Files (not live): every frame is delivered, in order; the decoding thread blocks while the
// queue is full, and also does the preprocessing (scaling + normalisation) ahead of the consumer.
// Live sources: the decoding thread never waits for the consumer. When the queue is full the
// oldest frame is dropped, and `next()` hands out the newest queued frame and drops the older
// ones; every dropped frame is counted in `droppedFrames`. Live frames are preprocessed by the
// consumer when taken, so no work is spent on frames that end up dropped.

import Foundation
import Tensor

/// One frame ready for tracking.
public struct VideoFrame: Sendable {
    /// 0-based position in decode order (live sources: gaps where frames were dropped).
    public let index: Int
    /// Presentation time in seconds; nil when the input has no timestamps.
    public let pts: Double?
    /// Source picture size in pixels.
    public let width: Int
    public let height: Int
    /// The frame's number from its file name when the input is a list of images
    /// (`00017.jpg` -> 17, see `ImageSequence`); nil for videos. Outputs name frames by it.
    public let number: Int?
    /// Model input [1, 3, S, S] (see `FramePreprocessor`); nil when no image size was requested.
    public let image: Tensor?
    /// The picture at source resolution as RGB24; nil unless requested.
    public let rgb: RGBImage?
}

/// Options of a `FrameReader`.
public struct FrameReaderOptions: Sendable {
    /// Model image size S; nil = do not build model inputs.
    public var imageSize: Int?
    /// Also convert each frame to RGB24 at source resolution (for overlays).
    public var sourceRGB: Bool
    /// Frames decoded ahead (queue capacity, at least 1).
    public var capacity: Int
    /// Live mode; nil = the source's own classification (`VideoInfo.isLive`).
    public var live: Bool?
    /// Stop after delivering this many frames.
    public var maxFrames: Int?
    /// libswscale slice threads for the conversions.
    public var scalerThreads: Int

    /// `capacity` nil: `defaultCapacity(imageSize:)`.
    public init(imageSize: Int? = nil, sourceRGB: Bool = false, capacity: Int? = nil, live: Bool? = nil,
                maxFrames: Int? = nil, scalerThreads: Int = 1) {
        self.imageSize = imageSize
        self.sourceRGB = sourceRGB
        self.capacity = capacity ?? Self.defaultCapacity(imageSize: imageSize)
        self.live = live
        self.maxFrames = maxFrames
        self.scalerThreads = scalerThreads
    }

    /// Frames decoded ahead by default: 4, fewer for large model inputs so that at most ~24 MiB of
    /// them wait in the queue (at least 2). A 1024 px input is 12 MiB and its frame takes seconds
    /// to track, so 2 ahead are plenty; 4 would keep 24 MiB more resident for nothing.
    public static func defaultCapacity(imageSize: Int?) -> Int {
        guard let size = imageSize, size > 0 else { return 4 }
        return max(2, min(4, (24 << 20) / (3 * size * size * MemoryLayout<Float>.size)))
    }
}

/// Decodes a `FrameSource` (a `VideoSource` or an `ImageListSource`) ahead of its consumer.
/// `next()` is meant for one consumer thread; `stop()`, `droppedFrames` and `framesDelivered`
/// may be used from any thread. Releasing the reader stops its thread.
public final class FrameReader: @unchecked Sendable {  // immutable; its pipeline's state is behind a condition lock
    /// The source's description.
    public var info: VideoInfo { pipeline.info }
    /// Whether this reader runs in live mode (newest frame wins).
    public var isLive: Bool { pipeline.isLive }
    /// Options in effect.
    public var options: FrameReaderOptions { pipeline.options }
    /// How the source's frames are numbered (by file name for numbered image lists).
    public let numbering: FrameNumbering

    // The thread holds the pipeline, not the reader, so dropping the reader ends the thread.
    private let pipeline: ReaderPipeline

    /// Starts decoding `source` on a new thread.
    public init(source: any FrameSource, options: FrameReaderOptions = FrameReaderOptions()) {
        numbering = FrameNumbering(sequence: (source as? ImageListSource)?.sequence)
        pipeline = ReaderPipeline(source: source, options: options)
        let pipeline = self.pipeline
        // Its normalisation loops stay on this thread: submitted to the process's pool they would
        // take it from the tracker it feeds (ComputeContext.onCallingThread).
        let thread = Thread { ComputeContext.onCallingThread { pipeline.produce() } }
        thread.name = "samtrack.decode"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Opens `input` (`MediaInput.open`: directories and globs of images too) and starts
    /// decoding it.
    public convenience init(input: String, inputOptions: InputOptions = InputOptions(),
                            options: FrameReaderOptions = FrameReaderOptions()) throws {
        var readerOptions = options
        if readerOptions.live == nil { readerOptions.live = inputOptions.live }
        self.init(source: try MediaInput.open(input, options: inputOptions), options: readerOptions)
    }

    deinit {
        pipeline.stop()
    }

    /// Frames dropped so far because the consumer was slower than a live source.
    public var droppedFrames: Int { pipeline.droppedFrames }

    /// Frames handed out by `next()` so far.
    public var framesDelivered: Int { pipeline.framesDelivered }

    /// Corrupt packets or frames the decoder skipped so far.
    public var decodeErrors: Int { pipeline.decodeErrors }

    /// Why decoding ended; nil while it goes on. Read it once `next()` returned nil (or threw):
    /// `.endOfStream` for a complete input, `.truncated` for a file cut short (fewer frames than
    /// its container declares), `.decodeErrors` when frames were skipped, `.failed` with the
    /// error `next()` threw, `.stopped` after `stop()` or `maxFrames`.
    public var endReason: EndReason? { pipeline.endReason }

    /// The next frame; blocks until one is decoded. Returns nil at the end of the input, after
    /// `maxFrames` frames, or after `stop()`.
    /// - Throws: the `MediaError` that ended decoding, after every frame decoded before it.
    public func next() throws -> VideoFrame? { try pipeline.next() }

    /// Ends decoding: interrupts a blocking read, stops the thread and waits for it to exit
    /// (at most `patience` seconds, 5 by default; a read FFmpeg cannot interrupt, e.g. a stalled
    /// stdin pipe, ends the thread later by itself). Later calls to `next()` return nil (a call
    /// blocked in `next()` returns at once). Idempotent.
    public func stop(patience: TimeInterval = 5) { pipeline.stop(patience: patience) }
}

/// The shared state between the decoding thread and the consumer.
private final class ReaderPipeline: @unchecked Sendable {  // mutable state behind `condition`
    let info: VideoInfo
    let isLive: Bool
    let options: FrameReaderOptions

    private let source: any FrameSource
    private let preprocessor: FramePreprocessor?
    private let rgbConverter: FramePreprocessor?
    private let condition = NSCondition()
    /// Decoded entries not yet delivered (delivered ones are removed at once, so the pipeline
    /// holds no reference to them: a model input goes back to the preprocessor's pool as soon
    /// as its consumer lets go of it).
    private var queue: [Entry] = []
    private var producerFinished = false
    private var producerExited = false
    private var producerError: Error?
    private var stopped = false
    private var dropped = 0
    private var delivered = 0
    private var decodeErrorCount = 0
    private var end: EndReason?

    private enum Entry {
        case ready(VideoFrame)
        case raw(DecodedFrame)
    }

    init(source: any FrameSource, options: FrameReaderOptions) {
        self.source = source
        self.info = source.info
        self.options = options
        isLive = options.live ?? source.info.isLive
        if let size = options.imageSize {
            preprocessor = FramePreprocessor(imageSize: size, threads: options.scalerThreads, inputName: source.info.input)
        } else {
            preprocessor = nil
        }
        // The source-resolution conversion ignores the image size; reuse the same instance when possible.
        rgbConverter = options.sourceRGB
            ? (preprocessor ?? FramePreprocessor(imageSize: 1, threads: options.scalerThreads, inputName: source.info.input))
            : nil
    }

    var droppedFrames: Int {
        condition.lock()
        defer { condition.unlock() }
        return dropped
    }

    var framesDelivered: Int {
        condition.lock()
        defer { condition.unlock() }
        return delivered
    }

    var decodeErrors: Int {
        condition.lock()
        defer { condition.unlock() }
        return decodeErrorCount
    }

    var endReason: EndReason? {
        condition.lock()
        defer { condition.unlock() }
        return end
    }

    func next() throws -> VideoFrame? {
        condition.lock()
        if let maxFrames = options.maxFrames, delivered >= maxFrames {
            condition.unlock()
            stop()
            return nil
        }
        while queue.isEmpty && !producerFinished && !stopped {
            condition.wait()
        }
        if stopped || queue.isEmpty {
            let error = stopped ? nil : producerError
            producerError = nil
            condition.unlock()
            if let error { throw error }
            return nil
        }
        if isLive {
            // Newest frame wins: everything older than the last queued frame is dropped.
            dropped += queue.count - 1
            queue.removeFirst(queue.count - 1)
        }
        let entry = queue.removeFirst()
        delivered += 1
        condition.broadcast()
        condition.unlock()

        switch entry {
        case let .ready(frame):
            return frame
        case let .raw(decoded):
            return try prepare(decoded)
        }
    }

    /// Stops the producer and waits for it (up to `patience` seconds: a read that FFmpeg cannot
    /// interrupt, such as a stalled stdin pipe, may outlast it; the thread then ends by itself
    /// when the read returns, and keeps this object alive until then).
    func stop(patience: TimeInterval = 5) {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        source.interrupt()
        let deadline = Date(timeIntervalSinceNow: patience)
        condition.lock()
        while !producerExited {
            if !condition.wait(until: deadline) { break }
        }
        queue.removeAll()
        condition.unlock()
    }

    /// The decoding thread's body.
    func produce() {
        defer {
            // Free the decoder here, on this thread, before reporting the exit: its frame
            // threads and buffer pools go away as soon as decoding ends, and once `stop()`
            // returns (or `next()` returned nil at the end of the input) nothing of the source's
            // FFmpeg state is left, whenever the last reference to the reader is dropped.
            // (Freeing it only with the reader overlapped it with the next reader's decoder when
            // inputs were opened one after another; glibc then spread the threads over ever more
            // malloc arenas: `samtrack bench tracker --input` grew ~1.3 MB of RSS per reopen.)
            let sourceEnd = source.endReason
            source.close()
            condition.lock()
            if end == nil { end = stopped ? .stopped : (sourceEnd ?? .stopped) }
            producerFinished = true
            producerExited = true
            condition.broadcast()
            condition.unlock()
        }
        let capacity = max(1, options.capacity)
        while true {
            condition.lock()
            if !isLive {
                while queue.count >= capacity && !stopped {
                    condition.wait()
                }
            }
            let stop = stopped
            condition.unlock()
            if stop { return }

            do {
                let decoded = try source.nextFrame()
                let errors = source.decodeErrors
                guard let decoded else {
                    condition.lock()
                    decodeErrorCount = errors
                    condition.unlock()
                    return
                }
                let entry: Entry = isLive ? .raw(decoded) : .ready(try prepare(decoded))
                condition.lock()
                decodeErrorCount = errors
                if stopped {
                    condition.unlock()
                    return
                }
                if isLive && queue.count >= capacity {
                    queue.removeFirst()
                    dropped += 1
                }
                queue.append(entry)
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                if !stopped {
                    producerError = error
                    if let error = error as? MediaError { end = .failed(error) }
                }
                condition.unlock()
                return
            }
        }
    }

    /// Converts a decoded frame into what the consumer asked for.
    private func prepare(_ decoded: DecodedFrame) throws -> VideoFrame {
        let image = try preprocessor?.modelInput(decoded)
        let rgb = try rgbConverter?.sourceRGB(decoded)
        return VideoFrame(index: decoded.index, pts: decoded.pts, width: decoded.width,
                          height: decoded.height, number: decoded.number, image: image, rgb: rgb)
    }
}
