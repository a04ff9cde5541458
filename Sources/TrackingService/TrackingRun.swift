// TrackingRun: source -> decode-ahead reader -> VideoTracker -> writers, frame by frame. Used by
// `samtrack track` and by the daemon's jobs. Prompts are validated against the source before any
// frame is tracked; outputs are written atomically per file; stopping early still finishes every
// output with the frames done so far.
//
// For the daemon a run can also (all optional, set before `run`):
// - take prompts while it runs (`addPrompt`, thread-safe): they apply to the next frame tracked;
// - save its tracker state every N frames (`checkpoint`), and be suspended (`suspend()`): stop after
//   the current frame, save the state, and leave the outputs unfinished so that they can be resumed;
// - resume from a saved state (`resume`): the source is reopened, frames up to the saved one are
//   decoded and discarded, the tracker is restored and the masks.jsonl writer continues after the
//   saved frame, so the final outputs equal an uninterrupted run's.

import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker

/// Progress after each tracked frame.
public struct FrameProgress: Sendable {
    /// Tracked frame index (0-based) and the source frame's presentation time.
    public var frame: Int
    public var pts: Double?
    /// Per object: id, area (pixels), bbox [x, y, w, h], presence score.
    public var objects: [(id: Int, area: Int, bbox: [Int], score: Float)]
    /// Frames per second since the start.
    public var framesPerSecond: Double
    /// Frames the live reader dropped so far.
    public var droppedFrames: Int
    /// Total frames in the source when known.
    public var totalFrames: Int?
    /// Per-stage seconds spent so far.
    public var timings: StageTimings
    /// Objects that received a prompt on this frame (initial, scheduled or added while running).
    public var promptedObjects: [Int] = []
    /// Seconds spent so far waiting for decoded frames, and writing outputs.
    public var decodeSeconds: Double = 0
    public var outputSeconds: Double = 0
}

/// Summary of a finished (or stopped) run.
public struct TrackingSummary: Sendable {
    public var framesTracked: Int
    public var droppedFrames: Int
    public var seconds: Double
    public var stopped: Bool
    public var sourceWidth: Int, sourceHeight: Int
    /// True when the run was suspended (`suspend()`): the state is saved and the outputs are left
    /// unfinished for a later resume.
    public var suspended: Bool = false
    /// The frame after which the run resumed (nil: it started at frame 0).
    public var resumedAfterFrame: Int? = nil
    /// The last frame whose state was saved (nil: none).
    public var checkpointFrame: Int? = nil
}

/// Periodic saving of the tracker state (see `TrackingRun.checkpoint`).
public struct CheckpointOptions: Sendable {
    /// Where the state goes (safetensors, replaced atomically each time).
    public var statePath: String
    /// Save after every this many tracked frames (and when suspended).
    public var everyFrames: Int

    public init(statePath: String, everyFrames: Int) {
        self.statePath = statePath
        self.everyFrames = max(1, everyFrames)
    }
}

/// Where a resumed run picks up (see `TrackingRun.resume`).
public struct ResumePoint: Sendable {
    /// A state saved by an earlier run of the same request (`CheckpointOptions.statePath`).
    public var statePath: String
    /// Prompts the earlier run received while running, with the frame each was applied to; those
    /// after the saved frame are applied again at the same frames.
    public var appliedPrompts: [TrackingPrompt]

    public init(statePath: String, appliedPrompts: [TrackingPrompt] = []) {
        self.statePath = statePath
        self.appliedPrompts = appliedPrompts
    }
}

/// One tracking run over one source.
public final class TrackingRun: @unchecked Sendable {
    public let model: SAM2Model
    public let request: TrackingRequest
    /// Save the tracker state periodically (nil: never). Set before `run`.
    public var checkpoint: CheckpointOptions?
    /// Continue from a saved state instead of frame 0 (nil: start fresh). Set before `run`. When
    /// the state or the partial outputs cannot be used, the run starts at frame 0 and reports it
    /// through `onResumeFallback`.
    public var resume: ResumePoint?
    /// Called (on the run's thread) after each checkpoint with the frame saved.
    public var onCheckpoint: ((Int) -> Void)?
    /// Called (on the run's thread) before a frame is tracked with the prompts taken from
    /// `addPrompt` for it; the frame field of each is that frame.
    public var onPromptsApplied: ((Int, [TrackingPrompt]) -> Void)?
    /// Called when `resume` could not be used, with the reason; the run starts at frame 0.
    public var onResumeFallback: ((String) -> Void)?

    private let stopFlag = InterruptSignal()
    private let lock = NSLock()
    private var pendingPrompts: [TrackingPrompt] = []
    private var openedSize: (width: Int, height: Int)?
    private var suspendRequested = false

    public init(model: SAM2Model, request: TrackingRequest) {
        self.model = model
        self.request = request
    }

    /// Asks the run to stop after the current frame (thread-safe).
    public func stop() { stopFlag.interrupt() }

    /// Asks the run to stop after the current frame, save its state (with `checkpoint` set) and
    /// leave the outputs unfinished for a later `resume` (thread-safe).
    public func suspend() {
        lock.lock()
        suspendRequested = true
        lock.unlock()
        stopFlag.interrupt()
    }

    private var isSuspending: Bool {
        lock.lock()
        defer { lock.unlock() }
        return suspendRequested
    }

    /// The source's frame size once it is open (nil before; thread-safe).
    public var sourceSize: (width: Int, height: Int)? {
        lock.lock()
        defer { lock.unlock() }
        return openedSize
    }

    /// Queues a prompt for the next frame tracked (thread-safe). A later prompt for the same
    /// object replaces an earlier queued one.
    /// - Throws: `TrackingError` when the source is open and the prompt does not fit it; prompts
    ///   queued before the source opened are checked when applied (and fail the run).
    public func addPrompt(_ prompt: TrackingPrompt) throws {
        if let size = sourceSize {
            try Self.validate(prompt, imageSize: model.config.imageSize, width: size.width, height: size.height)
        }
        lock.lock()
        pendingPrompts.removeAll { $0.objectID == prompt.objectID }
        pendingPrompts.append(prompt)
        lock.unlock()
    }

    private func takePendingPrompts(frame: Int) -> [TrackingPrompt] {
        lock.lock()
        defer { lock.unlock() }
        let taken = pendingPrompts.map { TrackingPrompt(objectID: $0.objectID, frame: frame, kind: $0.kind) }
        pendingPrompts.removeAll()
        return taken
    }

    /// Runs to the end of the source (or `maxFrames`, or `stop()`), calling `progress` after each
    /// frame. Throws on bad prompts, unreadable input or unwritable outputs.
    @discardableResult
    public func run(progress: (FrameProgress) -> Void = { _ in }) throws -> TrackingSummary {
        guard !request.prompts.isEmpty else { throw TrackingError.noPrompts }
        var inputOptions = request.inputOptions
        inputOptions.interrupt = stopFlag
        let reader = try FrameReader(input: request.input, inputOptions: inputOptions,
                                     options: FrameReaderOptions(imageSize: model.config.imageSize,
                                                                 sourceRGB: request.output.overlay != nil,
                                                                 live: request.live, maxFrames: request.maxFrames))
        defer { reader.stop() }
        let info = reader.info
        let (width, height) = (info.width, info.height)
        var promptsByFrame = try validatedPrompts(width: width, height: height)
        lock.lock()
        openedSize = (width, height)
        lock.unlock()
        var options = request.trackerOptions
        if options.frameCount == nil && !reader.isLive, let count = info.frameCount {
            options.frameCount = request.maxFrames.map { min($0, count) } ?? count
        }
        let frameRate = info.frameRate?.value ?? 30

        // Resume: restore the tracker and the writers, or start fresh when either cannot be used.
        let tracker: VideoTracker
        let writers: OutputWriters
        var resumedAfter: Int? = nil
        if let resume, let restored = restoredRun(resume, width: width, height: height, frameRate: frameRate) {
            tracker = restored.0
            writers = restored.1
            resumedAfter = tracker.frameIndex
            for p in resume.appliedPrompts where p.frame > tracker.frameIndex {
                try Self.validate(p, imageSize: model.config.imageSize, width: width, height: height)
                promptsByFrame[p.frame, default: []].removeAll { $0.objectID == p.objectID }
                promptsByFrame[p.frame, default: []].append(p)
            }
        } else {
            tracker = VideoTracker(model: model, sourceHeight: height, sourceWidth: width, options: options)
            writers = try OutputWriters(output: request.output, width: width, height: height, frameRate: frameRate)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        var tracked = 0
        var stopped = false
        var lastCheckpoint: Int? = resumedAfter
        var decodeSeconds = 0.0, outputSeconds = 0.0
        func saveCheckpoint() throws {
            guard let checkpoint, tracker.frameIndex >= 0, lastCheckpoint != tracker.frameIndex else { return }
            try tracker.saveState(to: checkpoint.statePath)
            lastCheckpoint = tracker.frameIndex
            onCheckpoint?(tracker.frameIndex)
        }
        do {
            // Frames up to the restored one were tracked before: decode and discard them.
            if let resumedAfter {
                for _ in 0...resumedAfter {
                    if stopFlag.isInterrupted { break }
                    guard try reader.next() != nil else {
                        throw TrackingError.resumeFailed(reason: "the source ended before frame \(resumedAfter), where the saved state is")
                    }
                }
            }
            while true {
                if stopFlag.isInterrupted { stopped = true; break }
                let t0 = DispatchTime.now().uptimeNanoseconds
                guard let frame = try reader.next(), let image = frame.image else { break }
                decodeSeconds += seconds(since: t0)
                let t = tracker.frameIndex + 1
                var framePrompts = promptsByFrame[t] ?? []
                let added = takePendingPrompts(frame: t)
                if !added.isEmpty {
                    for p in added {
                        try Self.validate(p, imageSize: model.config.imageSize, width: width, height: height)
                        framePrompts.removeAll { $0.objectID == p.objectID }
                    }
                    framePrompts += added
                    onPromptsApplied?(t, added)
                }
                var prompts: [Int: ObjectPrompt] = [:]
                for p in framePrompts {
                    switch p.kind {
                    case let .points(prompt): prompts[p.objectID] = .points(prompt)
                    case let .mask(mask):
                        let values = mask.withUnsafeBufferPointer { $0.map { Float($0) } }
                        prompts[p.objectID] = .mask(Tensor(shape: [height, width], values: values))
                    }
                }
                let results = try tracker.step(frame: image, prompts: prompts)
                let t1 = DispatchTime.now().uptimeNanoseconds
                let masks = try results.map {
                    ObjectMask(id: $0.objectID, score: $0.objectScore,
                               mask: try BinaryMask(logits: $0.lowResLogits, upsampledToHeight: height, width: width))
                }
                try writers.write(frame: t, pts: frame.pts, masks: masks, results: results, sourceRGB: frame.rgb)
                outputSeconds += seconds(since: t1)
                tracked += 1
                if let checkpoint, (t + 1) % checkpoint.everyFrames == 0 { try saveCheckpoint() }
                let elapsed = seconds(since: start)
                progress(FrameProgress(frame: t, pts: frame.pts,
                                       objects: masks.map { ($0.id, $0.mask.area, $0.mask.boundingBox.array, $0.score) },
                                       framesPerSecond: Double(tracked) / max(elapsed, 1e-9),
                                       droppedFrames: reader.droppedFrames, totalFrames: options.frameCount,
                                       timings: tracker.timings,
                                       promptedObjects: results.filter(\.prompted).map(\.objectID),
                                       decodeSeconds: decodeSeconds, outputSeconds: outputSeconds))
            }
        } catch MediaError.interrupted {
            stopped = true
        } catch {
            if !isSuspending { try? writers.finish() }
            throw error
        }
        let suspended = stopped && isSuspending
        if suspended {
            // Leave the outputs unfinished: a later run resumes them from the saved state.
            try saveCheckpoint()
        } else {
            try writers.finish()
        }
        return TrackingSummary(framesTracked: tracked, droppedFrames: reader.droppedFrames,
                               seconds: seconds(since: start),
                               stopped: stopped, sourceWidth: width, sourceHeight: height,
                               suspended: suspended, resumedAfterFrame: resumedAfter, checkpointFrame: lastCheckpoint)
    }

    /// The restored tracker and resumed writers, or nil (reported through `onResumeFallback`).
    private func restoredRun(_ resume: ResumePoint, width: Int, height: Int,
                             frameRate: Double) -> (VideoTracker, OutputWriters)? {
        do {
            let tracker = try VideoTracker.restore(from: resume.statePath, model: model)
            guard tracker.sourceWidth == width, tracker.sourceHeight == height else {
                throw TrackingError.resumeFailed(reason: "the saved state is for a \(tracker.sourceWidth)x\(tracker.sourceHeight) source, "
                                                 + "the source is now \(width)x\(height)")
            }
            let writers = try OutputWriters(output: request.output, width: width, height: height, frameRate: frameRate,
                                            resumingAfter: tracker.frameIndex)
            return (tracker, writers)
        } catch {
            onResumeFallback?("\(error)")
            return nil
        }
    }

    /// Checks one prompt against a source of `width` x `height`.
    public static func validate(_ p: TrackingPrompt, imageSize: Int, width: Int, height: Int) throws {
        guard p.objectID > 0 else { throw TrackingError.invalidObjectID(p.objectID) }
        switch p.kind {
        case let .points(prompt):
            do {
                guard !prompt.isEmpty else { throw PromptError.empty }
                _ = try prompt.modelPoints(imageSize: imageSize, sourceHeight: height, sourceWidth: width)
            } catch let error as PromptError {
                throw TrackingError.promptOutsideFrame(objectID: p.objectID, reason: error.description)
            }
        case let .mask(mask):
            guard mask.width == width, mask.height == height else {
                throw TrackingError.maskSize(objectID: p.objectID, expected: [height, width], actual: [mask.height, mask.width])
            }
        }
    }

    /// Prompts grouped by frame, each checked against the source size before tracking starts.
    func validatedPrompts(width: Int, height: Int) throws -> [Int: [TrackingPrompt]] {
        var byFrame: [Int: [TrackingPrompt]] = [:]
        for p in request.prompts {
            try Self.validate(p, imageSize: model.config.imageSize, width: width, height: height)
            byFrame[p.frame, default: []].append(p)
        }
        if let first = byFrame.keys.min(), first != 0 { throw TrackingError.noPromptOnFirstFrame(frame: first) }
        return byFrame
    }
}

/// The writers a run's output options ask for.
final class OutputWriters {
    let jsonl: MaskJSONLWriter?
    let png: MaskPNGWriter?
    let palette: PalettePNGWriter?
    let logits: NPYWriter?
    let overlay: VideoWriter?
    let renderer = OverlayRenderer()
    let width: Int, height: Int

    /// With `resumingAfter`, the masks.jsonl output continues after that frame (PNG outputs are
    /// per frame and simply rewritten); an overlay video cannot be resumed.
    init(output: OutputOptions, width: Int, height: Int, frameRate: Double, resumingAfter: Int? = nil) throws {
        self.width = width
        self.height = height
        if resumingAfter != nil, output.overlay != nil {
            throw TrackingError.resumeFailed(reason: "an overlay video cannot be resumed")
        }
        if let directory = output.directory {
            if output.format == .rle, let resumingAfter {
                jsonl = try Self.resumedJSONL(directory: directory, after: resumingAfter)
            } else {
                jsonl = output.format == .rle ? try MaskJSONLWriter(directory: directory) : nil
            }
            png = output.format == .png ? try MaskPNGWriter(directory: directory) : nil
            palette = output.format == .palette ? try PalettePNGWriter(directory: directory) : nil
        } else {
            jsonl = nil; png = nil; palette = nil
        }
        logits = try output.logitsDirectory.map { try NPYWriter(directory: $0) }
        overlay = try output.overlay.map { try VideoWriter(path: $0, width: width, height: height, frameRate: frameRate) }
    }

    func write(frame: Int, pts: Double?, masks: [ObjectMask], results: [ObjectFrameResult], sourceRGB: RGBImage?) throws {
        try jsonl?.append(frame: frame, pts: pts, objects: masks)
        try png?.write(frame: frame, objects: masks)
        try palette?.write(frame: frame, width: width, height: height, objects: masks)
        if let logits { for r in results { try logits.write(frame: frame, id: r.objectID, logits: r.lowResLogits) } }
        if let overlay, let sourceRGB { try overlay.append(try renderer.render(sourceRGB, objects: masks)) }
    }

    func finish() throws {
        try jsonl?.finish()
        try overlay?.finish()
    }

    /// The masks.jsonl writer continuing after `frame`. A crash between finishing the file and
    /// recording the job's end leaves only the finished file: it is reopened as the partial one.
    static func resumedJSONL(directory: String, after frame: Int) throws -> MaskJSONLWriter {
        let final = (directory as NSString).appendingPathComponent(MaskJSONLWriter.fileName)
        let partial = final + MaskJSONLWriter.partialSuffix
        let files = FileManager.default
        if !files.fileExists(atPath: partial) && files.fileExists(atPath: final) {
            try files.moveItem(atPath: final, toPath: partial)
        }
        let writer = try MaskJSONLWriter.resume(directory: directory, continuingAt: frame + 1)
        guard (writer.lastFrame ?? -1) == frame else {
            throw TrackingError.resumeFailed(reason: "masks.jsonl.partial ends at frame \(writer.lastFrame.map(String.init) ?? "none"), "
                                             + "the saved state at frame \(frame)")
        }
        return writer
    }
}
