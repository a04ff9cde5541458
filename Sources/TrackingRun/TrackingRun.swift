// TrackingRun: source -> decode-ahead reader -> VideoTracker -> outputs, frame by frame. Used by
// `samtrack track`, `samtrack bench tracker` and the daemon's jobs. Prompts are checked against
// the source (PromptRules) before any frame is tracked; outputs are written atomically per file;
// stopping early still finishes every output with the frames done so far. The run uses the
// compute context bound by its caller (`ComputeContext.run`).
//
// For the daemon a run can also (`RunHooks`, fixed at creation):
// - take prompts while it runs (`addPrompt`, thread-safe): they apply to the next frame tracked;
// - save its tracker state every N frames, and be suspended (`suspend()`): stop after the current
//   frame, save the state, and leave the outputs unfinished so that they can be resumed;
// - resume from a saved state: the source is reopened, frames up to the saved one are decoded and
//   discarded, the tracker is restored and the masks.jsonl writer continues after the saved
//   frame, so the final outputs equal an uninterrupted run's.

import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker

/// One tracking run over one source (see the file comment).
public final class TrackingRun: @unchecked Sendable {  // configuration immutable; mutable state behind `lock`
    public let model: SAM2Model
    public let request: TrackingRequest
    public let hooks: RunHooks
    /// Whether the streaming loop reads and encodes the next frame while it tracks this one
    /// (`EncodeAhead`; with two or more threads in the caller's compute context, not for live
    /// sources). Same results.
    /// By default: for models of up to `pipelinedImageSize` px, unless `SAMTRACK_PIPELINE=0`.
    public let encodesAhead: Bool

    private let stopFlag = InterruptSignal()
    private let lock = NSLock()
    private var pendingPrompts: [TrackingPrompt] = []
    private var openedSize: (width: Int, height: Int)?
    private var suspendRequested = false
    private var latest: (frame: Int, image: RGBImage)?
    private var activeOutputs: RunOutputs?
    /// Whether the streaming loop ran pipelined (`EncodeAhead`), set when it starts.
    private var pipelined = false

    public init(model: SAM2Model, request: TrackingRequest, hooks: RunHooks = RunHooks(),
                encodesAhead: Bool? = nil) {
        self.model = model
        self.request = request
        self.hooks = hooks
        self.encodesAhead = encodesAhead ?? (Self.pipelineEnabled && model.config.imageSize <= Self.pipelinedImageSize)
    }

    /// Whether the streaming loop ran (or runs) pipelined (`EncodeAhead`; thread-safe; for tests).
    var wasPipelined: Bool { lock.withLock { pipelined } }

    /// Asks the run to stop after the current frame (thread-safe).
    public func stop() { stopFlag.interrupt() }

    /// Asks the run to stop after the current frame, save its state (with a checkpoint hook) and
    /// leave the outputs unfinished for a later resume (thread-safe).
    public func suspend() {
        lock.withLock { suspendRequested = true }
        stopFlag.interrupt()
    }

    private var isSuspending: Bool { lock.withLock { suspendRequested } }

    /// Stops the run and finishes its outputs now, from any thread, without waiting for the frame
    /// being tracked (it is dropped): masks.jsonl and the overlay hold every frame written so
    /// far. Waits at most `timeout` seconds for a frame being written. Returns the frames
    /// written, or nil when the outputs are not open yet (or could not be locked in time: the
    /// partial masks.jsonl then holds every finished frame).
    public func finishNow(timeout: Double) -> Result<Int, RunError>? {
        stopFlag.interrupt()
        guard let outputs = lock.withLock({ activeOutputs }) else { return nil }
        return outputs.finishNow(timeout: timeout)
    }

    /// The source's frame size once it is open (nil before; thread-safe).
    public var sourceSize: (width: Int, height: Int)? { lock.withLock { openedSize } }

    /// The newest tracked frame's RGB at source size, with its index (`request.keepLatestFrame`;
    /// nil before the first frame; thread-safe).
    public var latestFrame: (frame: Int, image: RGBImage)? { lock.withLock { latest } }

    /// Records the opened source's size and tells `hooks.onSourceOpened`.
    func sourceOpened(width: Int, height: Int, frameCount: Int?) {
        lock.withLock { openedSize = (width, height) }
        hooks.onSourceOpened?(width, height, frameCount)
    }

    /// Queues a prompt for the next frame tracked (thread-safe). A later prompt for the same
    /// object replaces an earlier queued one.
    /// - Throws: `RunError.prompt` when the source is open and the prompt does not fit it; prompts
    ///   queued before the source opened are checked when applied (and fail the run).
    public func addPrompt(_ prompt: TrackingPrompt) throws(RunError) {
        if let size = sourceSize { try prompt.check(width: size.width, height: size.height) }
        lock.withLock {
            pendingPrompts.removeAll { $0.objectID == prompt.objectID }
            pendingPrompts.append(prompt)
        }
    }

    private func takePendingPrompts(frame: Int) -> [TrackingPrompt] {
        lock.withLock {
            let taken = pendingPrompts.map { TrackingPrompt(objectID: $0.objectID, frame: frame, kind: $0.kind) }
            pendingPrompts.removeAll()
            return taken
        }
    }

    /// Runs to the end of the source (or `maxFrames`, or `stop()`), calling `progress` after each
    /// frame. Throws `RunError` on bad prompts, an unreadable input or unwritable outputs.
    @discardableResult
    public func run(progress: (FrameProgress) -> Void = { _ in }) throws(RunError) -> TrackingSummary {
        guard !request.prompts.isEmpty else { throw .noPrompts }
        if wantsPredictor {
            do {
                let video = try PredictorRun.open(request)
                defer { video.close() }
                return try PredictorRun(run: self, video: video, stop: stopFlag).execute(progress: progress)
            } catch .notRandomAccess(_) where request.direction != .backward && request.direction != .both {
                // A stream with the default direction: forward, later prompts applied when reached.
            }
        }
        var inputOptions = request.inputOptions
        inputOptions.interrupt = stopFlag
        // One decoder thread unless the request asks for more: the model's workers use every
        // core, and FFmpeg's frame threads (one per core) would share them with the workers
        // while the reader only has to stay a frame ahead.
        if inputOptions.decoderThreads == 0 { inputOptions.decoderThreads = 1 }
        let reader: FrameReader
        do {
            reader = try FrameReader(input: request.input, inputOptions: inputOptions,
                                     options: FrameReaderOptions(imageSize: model.config.imageSize,
                                                                 sourceRGB: request.output.overlay != nil || request.keepLatestFrame,
                                                                 live: request.live, maxFrames: request.maxFrames))
        } catch {
            throw RunError.fromSource(error)
        }
        defer { reader.stop() }
        let info = reader.info
        let (width, height) = (info.width, info.height)
        var options = request.trackerOptions
        if options.frameCount == nil && !reader.isLive, let count = info.frameCount {
            options.frameCount = request.maxFrames.map { min($0, count) } ?? count
        }
        // Prompts name frames by number (`FrameNumbering`); the tracker counts by index.
        let numbering = reader.numbering.prefix(options.frameCount ?? Int.max)
        var promptsByFrame = try checkedPrompts(width: width, height: height, frameCount: options.frameCount ?? request.maxFrames,
                                                numbering: numbering)
        sourceOpened(width: width, height: height, frameCount: options.frameCount)
        let frameRate = info.frameRate?.value ?? 30

        // Resume: restore the tracker and the outputs, or start fresh when either cannot be used.
        let tracker: VideoTracker
        let outputs: RunOutputs
        var resumedAfter: Int? = nil
        if let resume = hooks.resume,
           let restored = restoredRun(resume, width: width, height: height, frameRate: frameRate, numbering: numbering) {
            (tracker, outputs) = restored
            resumedAfter = tracker.frameIndex
            for p in resume.appliedPrompts where p.frame > tracker.frameIndex {
                try p.check(width: width, height: height)
                promptsByFrame[p.frame, default: []].removeAll { $0.objectID == p.objectID }
                promptsByFrame[p.frame, default: []].append(p)
            }
        } else {
            tracker = VideoTracker(model: model, sourceHeight: height, sourceWidth: width, options: options)
            outputs = try RunOutputs(output: request.output, width: width, height: height, frameRate: frameRate)
        }
        lock.withLock { activeOutputs = outputs }
        var clock = RunClock()
        var tracked = 0
        var stopped = false
        var lastCheckpoint: Int? = resumedAfter
        func saveCheckpoint() throws(RunError) {
            guard let checkpoint = hooks.checkpoint, tracker.frameIndex >= 0, lastCheckpoint != tracker.frameIndex else { return }
            do {
                try tracker.saveState(to: checkpoint.statePath)
            } catch {
                throw RunError.fromOutput(error)
            }
            lastCheckpoint = tracker.frameIndex
            hooks.onCheckpoint?(tracker.frameIndex)
        }
        do throws(RunError) {
            // Frames up to the restored one were tracked before: decode and discard them.
            if let resumedAfter {
                for _ in 0...resumedAfter {
                    if stopFlag.isInterrupted { break }
                    guard try nextFrame(reader) != nil else {
                        throw .resume("the source ended before frame \(resumedAfter), where the saved state is")
                    }
                }
            }
            // With two or more threads, frame t + 1 is read and encoded on a thread of its own
            // while frame t is tracked (`EncodeAhead`), each stage in a lane of the run's cores.
            let lanes = encodesAhead && !reader.isLive ? ComputeContext.current.pipelineLanes() : nil
            lock.withLock { pipelined = lanes != nil }
            let trackerLane = lanes?.1
            let ahead = lanes.map { EncodeAhead(reader: reader, encoder: tracker.frameEncoder, lane: $0.0) }
            defer { ahead?.stop() }
            while true {
                if stopFlag.isInterrupted { stopped = true; break }
                let frame: VideoFrame, image: Tensor, encoded: EncodedFrame?
                if let ahead {
                    guard let item = try clock.measurePipelineWait({ () throws(RunError) in try ahead.next() }) else { break }
                    (frame, image, encoded) = (item.frame, item.image, item.encoded)
                } else {
                    guard let read = try clock.measureDecode({ () throws(RunError) in try nextFrame(reader) }),
                          let readImage = read.image else { break }
                    (frame, image, encoded) = (read, readImage, nil)
                }
                let t = tracker.frameIndex + 1
                var framePrompts = promptsByFrame[t] ?? []
                let added = takePendingPrompts(frame: t)
                if !added.isEmpty {
                    for p in added {
                        try p.check(width: width, height: height)
                        framePrompts.removeAll { $0.objectID == p.objectID }
                    }
                    framePrompts += added
                    hooks.onPromptsApplied?(t, added)
                }
                var prompts: [Int: ObjectPrompt] = [:]
                var removals: [Int] = []
                for p in framePrompts {
                    if let prompt = p.objectPrompt { prompts[p.objectID] = prompt } else { removals.append(p.objectID) }
                }
                let results: [ObjectFrameResult]
                do {
                    results = try clock.measureTracking {
                        // A removed object leaves before the frame is tracked (unknown ids are ignored:
                        // a removal may be replayed on resume after the object went already).
                        for id in removals where tracker.objectIDs.contains(id) { try tracker.removeObject(id) }
                        guard let encoded, let trackerLane else { return try tracker.step(frame: image, prompts: prompts) }
                        return try trackerLane.run { try tracker.step(encoded: encoded, prompts: prompts) }
                    }
                } catch let error as TrackerError {
                    throw .tracker(error)
                } catch {
                    throw .tracker(.noFrame)
                }
                let records = try clock.measureOutput { () throws(RunError) in try Self.onLane(trackerLane) { () throws(RunError) in
                    let masks = try results.map { (r) throws(RunError) in
                        do {
                            return ObjectMask(id: r.objectID, score: r.objectScore,
                                              mask: try BinaryMask(logits: r.lowResLogits, upsampledToHeight: height, width: width))
                        } catch { throw RunError.fromOutput(error) }
                    }
                    let records = MaskJSONLWriter.records(masks)
                    try outputs.write(frame: numbering.number(ofIndex: t), pts: frame.pts, masks: masks, records: records,
                                      results: results, sourceRGB: frame.rgb)
                    return records
                } }
                if request.keepLatestFrame, let rgb = frame.rgb { lock.withLock { latest = (t, rgb) } }
                if outputs.isFinished { stopped = true; break }  // `finishNow` closed them: the frame was dropped
                tracked += 1
                if let checkpoint = hooks.checkpoint, (t + 1) % checkpoint.everyFrames == 0 { try saveCheckpoint() }
                progress(FrameProgress(frame: numbering.number(ofIndex: t), pts: frame.pts,
                                       objects: records,
                                       framesPerSecond: Double(tracked) / max(clock.busySeconds, 1e-9),
                                       droppedFrames: reader.droppedFrames, totalFrames: options.frameCount,
                                       timings: tracker.timings,
                                       promptedObjects: results.filter(\.prompted).map(\.objectID),
                                       decodeSeconds: clock.decodeSeconds, outputSeconds: clock.outputSeconds, framesDone: tracked,
                                       index: t))
            }
        } catch {
            if case .source(.interrupted) = error {
                stopped = true
            } else {
                if !isSuspending { outputs.finishAfterFailure() }
                throw error
            }
        }
        let suspended = stopped && isSuspending
        // A stream of unknown length that ended before a prompted frame: the prompt was never used.
        let unreached = stopped ? nil : promptsByFrame.filter { $0.key > tracker.frameIndex }.min { $0.key < $1.key }
        if suspended {
            // Leave the outputs unfinished: a later run resumes them from the saved state.
            try saveCheckpoint()
        } else {
            try outputs.finish()
        }
        let lastFrame = tracker.frameIndex
        let sourceEnd = reader.endReason
        if let (frame, prompts) = unreached, let prompt = prompts.first {
            throw .prompt(objectID: prompt.objectID, frame: numbering.number(ofIndex: frame),
                          .frameOutOfRange(frame: numbering.number(ofIndex: frame), frameCount: lastFrame + 1))
        }
        var endReason: RunEndReason = stopped ? .stopped
            : (request.maxFrames.map { lastFrame + 1 >= $0 } ?? false) ? .maxFrames : .endOfSource
        if endReason == .endOfSource {
            switch sourceEnd {
            case .truncated?: endReason = .truncated
            case .decodeErrors?: endReason = .damaged
            case .idle?: endReason = .sourceIdle
            default: break
            }
        }
        return TrackingSummary(endReason: endReason, sourceEnd: sourceEnd, framesTracked: tracked, droppedFrames: reader.droppedFrames,
                               seconds: clock.elapsed, stopped: stopped, sourceWidth: width, sourceHeight: height,
                               suspended: suspended, resumedAfterFrame: resumedAfter, checkpointFrame: lastCheckpoint)
    }

    /// True when the run takes the predictor path (`PredictorRun`): a prompt after frame 0 (the
    /// official predictor attends to every prompted frame, later ones too, and tracks from the
    /// first one) or backward tracking, unless the request is live or a daemon job that saves and
    /// resumes its streaming state. A stream (no random access) falls back to the streaming path
    /// unless a backward pass was asked for explicitly.
    var wantsPredictor: Bool {
        hooks.checkpoint == nil && hooks.resume == nil && request.wantsRandomAccess
    }

    /// The largest model input size pipelined by default. Small models lose most to splitting each
    /// product over the cores, and gain most (256 px: -15% a frame); at 1024 px the products already
    /// split well (-2%) and the two stages' working buffers at once raise the peak memory by ~110 MiB
    /// (SAM 2.1 tiny: 632 -> 741 MiB).
    public static let pipelinedImageSize = 512

    /// Whether streaming runs may pipeline the encoder (`EncodeAhead`): yes, unless
    /// `SAMTRACK_PIPELINE=0` (to compare).
    public static let pipelineEnabled = ProcessInfo.processInfo.environment["SAMTRACK_PIPELINE"] != "0"

    /// Runs `body` inside `lane`'s `run` (holding one of its cores), or as it is without a lane.
    private static func onLane<T>(_ lane: ComputeContext?, _ body: () throws(RunError) -> T) throws(RunError) -> T {
        guard let lane else { return try body() }
        let result: Result<T, RunError> = lane.run {
            do throws(RunError) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func nextFrame(_ reader: FrameReader) throws(RunError) -> VideoFrame? {
        do { return try reader.next() } catch { throw RunError.fromSource(error) }
    }

    /// The restored tracker and resumed outputs, or nil (reported through `onResumeFallback`).
    private func restoredRun(_ resume: ResumePoint, width: Int, height: Int, frameRate: Double,
                             numbering: FrameNumbering) -> (VideoTracker, RunOutputs)? {
        do {
            let tracker = try VideoTracker.restore(from: resume.statePath, model: model)
            guard tracker.sourceWidth == width, tracker.sourceHeight == height else {
                throw RunError.resume("the saved state is for a \(tracker.sourceWidth)x\(tracker.sourceHeight) source, "
                                      + "the source is now \(width)x\(height)")
            }
            let outputs = try RunOutputs(output: request.output, width: width, height: height, frameRate: frameRate,
                                         resumingAfter: numbering.number(ofIndex: tracker.frameIndex))
            return (tracker, outputs)
        } catch {
            hooks.onResumeFallback?("\(error)")
            return nil
        }
    }

    /// The request's prompts grouped by frame index, each checked against the source first (a
    /// prompt on a frame the source does not have is an error before any work starts).
    func checkedPrompts(width: Int, height: Int, frameCount: Int?, numbering: FrameNumbering) throws(RunError) -> [Int: [TrackingPrompt]] {
        var byFrame: [Int: [TrackingPrompt]] = [:]
        for p in try Self.indexedPrompts(request.prompts, numbering: numbering, width: width, height: height, frameCount: frameCount) {
            byFrame[p.frame, default: []].append(p)
        }
        if let first = byFrame.keys.min(), first != 0 { throw .noPromptOnFirstFrame(frame: numbering.number(ofIndex: first)) }
        return byFrame
    }

    /// `prompts` with their frame numbers turned into frame indices (`FrameNumbering`), each
    /// checked against a `width` x `height` source of `frameCount` frames (nil: unknown). Errors
    /// name the frame as the prompt did.
    static func indexedPrompts(_ prompts: [TrackingPrompt], numbering: FrameNumbering, width: Int, height: Int,
                               frameCount: Int?) throws(RunError) -> [TrackingPrompt] {
        try prompts.map { (p) throws(RunError) in
            try p.check(width: width, height: height, frameCount: numbering.isPositional ? frameCount : nil)
            guard let index = numbering.index(ofNumber: p.frame) else {
                throw .prompt(objectID: p.objectID, frame: p.frame,
                              .frameNotInSource(frame: p.frame, numbers: numbering.numbersDescription ?? ""))
            }
            return TrackingPrompt(objectID: p.objectID, frame: index, kind: p.kind)
        }
    }
}

/// Wall time of a run split into decoding (waiting for frames), tracking and output.
struct RunClock {
    private let start = DispatchTime.now().uptimeNanoseconds
    private(set) var decodeSeconds = 0.0, trackingSeconds = 0.0, outputSeconds = 0.0

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    /// Time spent tracking and writing (not waiting for the source).
    var busySeconds: Double { trackingSeconds + outputSeconds }

    mutating func measureDecode<T>(_ body: () throws(RunError) -> T) throws(RunError) -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { decodeSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }

    /// Waits for the next frame of a pipelined run: the part of the wait its reading took
    /// (`Item.readSeconds`) counts as decoding, the rest (the encoder finishing it) as tracking.
    mutating func measurePipelineWait(_ body: () throws(RunError) -> EncodeAhead.Item?) throws(RunError) -> EncodeAhead.Item? {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let item = try body()
        let waited = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let reading = min(waited, item?.readSeconds ?? waited)
        decodeSeconds += reading
        trackingSeconds += waited - reading
        return item
    }

    mutating func measureTracking<T>(_ body: () throws -> T) throws -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { trackingSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }

    mutating func measureOutput<T>(_ body: () throws(RunError) -> T) throws(RunError) -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { outputSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }
}
