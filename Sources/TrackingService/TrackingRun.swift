// TrackingRun: source -> decode-ahead reader -> VideoTracker -> writers, frame by frame. Used by
// `samtrack track` and by the daemon's jobs. Prompts are validated against the source before any
// frame is tracked; outputs are written atomically per file; stopping early still finishes every
// output with the frames done so far.

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
}

/// Summary of a finished (or stopped) run.
public struct TrackingSummary: Sendable {
    public var framesTracked: Int
    public var droppedFrames: Int
    public var seconds: Double
    public var stopped: Bool
    public var sourceWidth: Int, sourceHeight: Int
}

/// One tracking run over one source.
public final class TrackingRun: @unchecked Sendable {
    public let model: SAM2Model
    public let request: TrackingRequest
    private let stopFlag = InterruptSignal()

    public init(model: SAM2Model, request: TrackingRequest) {
        self.model = model
        self.request = request
    }

    /// Asks the run to stop after the current frame (thread-safe).
    public func stop() { stopFlag.interrupt() }

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
        let promptsByFrame = try validatedPrompts(width: width, height: height)
        var options = request.trackerOptions
        if options.frameCount == nil && !reader.isLive, let count = info.frameCount {
            options.frameCount = request.maxFrames.map { min($0, count) } ?? count
        }
        let tracker = VideoTracker(model: model, sourceHeight: height, sourceWidth: width, options: options)
        let writers = try OutputWriters(output: request.output, width: width, height: height,
                                        frameRate: info.frameRate?.value ?? 30)
        let start = DispatchTime.now().uptimeNanoseconds
        var tracked = 0
        var stopped = false
        do {
            while true {
                if stopFlag.isInterrupted { stopped = true; break }
                guard let frame = try reader.next(), let image = frame.image else { break }
                let t = tracker.frameIndex + 1
                var prompts: [Int: ObjectPrompt] = [:]
                for p in promptsByFrame[t] ?? [] {
                    switch p.kind {
                    case let .points(prompt): prompts[p.objectID] = .points(prompt)
                    case let .mask(mask):
                        let values = mask.withUnsafeBufferPointer { $0.map { Float($0) } }
                        prompts[p.objectID] = .mask(Tensor(shape: [height, width], values: values))
                    }
                }
                let results = try tracker.step(frame: image, prompts: prompts)
                let masks = try results.map {
                    ObjectMask(id: $0.objectID, score: $0.objectScore,
                               mask: try BinaryMask(logits: $0.lowResLogits, upsampledToHeight: height, width: width))
                }
                try writers.write(frame: t, pts: frame.pts, masks: masks, results: results, sourceRGB: frame.rgb)
                tracked += 1
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                progress(FrameProgress(frame: t, pts: frame.pts,
                                       objects: masks.map { ($0.id, $0.mask.area, $0.mask.boundingBox.array, $0.score) },
                                       framesPerSecond: Double(tracked) / max(elapsed, 1e-9),
                                       droppedFrames: reader.droppedFrames, totalFrames: options.frameCount,
                                       timings: tracker.timings))
            }
        } catch MediaError.interrupted {
            stopped = true
        } catch {
            try? writers.finish()
            throw error
        }
        try writers.finish()
        return TrackingSummary(framesTracked: tracked, droppedFrames: reader.droppedFrames,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                               stopped: stopped, sourceWidth: width, sourceHeight: height)
    }

    /// Prompts grouped by frame, each checked against the source size before tracking starts.
    func validatedPrompts(width: Int, height: Int) throws -> [Int: [TrackingPrompt]] {
        var byFrame: [Int: [TrackingPrompt]] = [:]
        for p in request.prompts {
            guard p.objectID > 0 else { throw TrackingError.invalidObjectID(p.objectID) }
            switch p.kind {
            case let .points(prompt):
                do {
                    guard !prompt.isEmpty else { throw PromptError.empty }
                    _ = try prompt.modelPoints(imageSize: model.config.imageSize, sourceHeight: height, sourceWidth: width)
                } catch let error as PromptError {
                    throw TrackingError.promptOutsideFrame(objectID: p.objectID, reason: error.description)
                }
            case let .mask(mask):
                guard mask.width == width, mask.height == height else {
                    throw TrackingError.maskSize(objectID: p.objectID, expected: [height, width], actual: [mask.height, mask.width])
                }
            }
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

    init(output: OutputOptions, width: Int, height: Int, frameRate: Double) throws {
        self.width = width
        self.height = height
        if let directory = output.directory {
            jsonl = output.format == .rle ? try MaskJSONLWriter(directory: directory) : nil
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
}
