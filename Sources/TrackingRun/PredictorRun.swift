// PredictorRun: a run with the official `SAM2VideoPredictor`'s semantics, for files whose prompts
// are not all on frame 0 or that are tracked backward (`TrackingRequest.direction`): every prompt
// is added on its frame, then `propagate_in_video` runs forward from the earliest prompted frame
// and, for `both` / `backward`, in reverse from it to frame 0 (as the official code, the reverse
// pass covers the frames before that earliest prompted frame). Frames are read at random through
// Media's `RandomAccessVideo`.
//
// Memory: the predictor's tracked outputs are dropped once a propagation has moved more than its
// memory window past them (`VideoPredictor.memoryWindowFrames`), except the window after the
// earliest prompted frame that the reverse pass starts from, so the model state stays bounded
// however long the file; prompted frames' outputs are kept. Each frame's masks are kept as COCO
// RLE (a few kB per object and frame) and the outputs are written in frame order once tracking
// is done, since masks.jsonl and the overlay video are written front to back.

import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker

/// Model inputs of a file read at random, for a `VideoPredictor`.
final class RandomAccessFrames: FrameProvider {
    let video: RandomAccessVideo
    let imageSize: Int
    let frameCount: Int, sourceWidth: Int, sourceHeight: Int

    init(_ video: RandomAccessVideo, imageSize: Int, frameCount: Int) {
        self.video = video
        self.imageSize = imageSize
        self.frameCount = frameCount
        sourceWidth = video.info.width
        sourceHeight = video.info.height
    }

    func frame(_ index: Int) throws -> Tensor { try video.modelInput(index, imageSize: imageSize) }
}

/// The predictor path of a `TrackingRun` (see the file comment).
struct PredictorRun {
    let run: TrackingRun
    let video: RandomAccessVideo
    let stop: InterruptSignal

    /// Opens `request.input` for random access.
    /// - Throws: `RunError.source`; for a pipe, stream or device, `.source(.invalidArgument)`
    ///   naming the fix.
    static func open(_ request: TrackingRequest) throws(RunError) -> RandomAccessVideo {
        try open(request.input, options: request.inputOptions)
    }

    /// Opens `input` for random access (errors as `open(_:)`).
    static func open(_ input: String, options: InputOptions) throws(RunError) -> RandomAccessVideo {
        do {
            return try RandomAccessVideo(input, options: options)
        } catch let error as MediaError {
            if case .invalidArgument = error { throw .notRandomAccess(input: input) }
            throw .source(error)
        } catch {
            throw RunError.fromSource(error)
        }
    }

    func execute(progress: (FrameProgress) -> Void) throws(RunError) -> TrackingSummary {
        let request = run.request, model = run.model
        let (width, height) = (video.info.width, video.info.height)
        let frameCount = request.maxFrames.map { min($0, video.frameCount) } ?? video.frameCount
        // Prompts name frames by number (`FrameNumbering`); the predictor counts by index.
        let numbering = video.numbering.prefix(frameCount)
        let prompts = try TrackingRun.indexedPrompts(request.prompts, numbering: numbering, width: width, height: height,
                                                     frameCount: frameCount)
        run.sourceOpened(width: width, height: height, frameCount: frameCount)

        let predictor = VideoPredictor(
            model: model, frames: RandomAccessFrames(video, imageSize: model.config.imageSize, frameCount: frameCount),
            options: Self.predictorOptions(request.trackerOptions))
        var clock = RunClock()
        var records: [Int: [MaskRecord]] = [:]
        var logits: [Int: [ObjectFrameResult]] = [:]
        var stopped = false, processed = 0
        let direction = request.direction ?? .both
        do {
            try clock.measureTracking {
                for prompt in prompts.sorted(by: { ($0.frame, $0.objectID) < ($1.frame, $1.objectID) }) {
                    try Self.add(prompt, to: predictor, width: width, height: height)
                }
            }
            let first = prompts.map(\.frame).min()!
            let window = predictor.memoryWindowFrames
            // Frames are read at random from a file: no waiting on a source, all of the time is busy.
            let started = DispatchTime.now().uptimeNanoseconds
            let passes = (direction == .backward ? [] : [false]) + (direction == .forward ? [] : [true])
            for reverse in passes where !stopped {
                let summary = try clock.measureTracking {
                    try predictor.propagate(reverse: reverse) { frame in
                        let t = frame.frame
                        let masks = try frame.objects.map { r in
                            ObjectMask(id: r.objectID, score: r.objectScore,
                                       mask: try BinaryMask(logits: r.lowResLogits, upsampledToHeight: height, width: width))
                        }
                        records[t] = MaskJSONLWriter.records(masks)
                        if request.output.logitsDirectory != nil { logits[t] = frame.objects }
                        // Outputs the propagation has left behind (and the reverse pass will not read).
                        let behind = reverse ? t + window + 1 : t - window - 1
                        if reverse || behind > first + window {
                            predictor.discardTrackedOutputs { $0 == behind }
                        }
                        processed += 1
                        progress(FrameProgress(frame: numbering.number(ofIndex: t), pts: pts(t), objects: records[t]!,
                                               framesPerSecond: Double(processed) * 1e9 / Double(max(DispatchTime.now().uptimeNanoseconds - started, 1)), droppedFrames: 0,
                                               totalFrames: frameCount, timings: predictor.timings,
                                               promptedObjects: frame.objects.filter { predictor.objects[$0.objectID]?.hasPrompt(on: t) == true }
                                                   .map(\.objectID),
                                               framesDone: processed, index: t))
                        return stop.isInterrupted ? .stop : .continue
                    }
                }
                stopped = summary.cancelled || stop.isInterrupted
            }
            // Backward from frame 0 tracks nothing (as the official code): the prompted frame's
            // own masks are still the result.
            if records.isEmpty && !stopped {
                let frame = try predictor.results(frame: first)
                records[first] = MaskJSONLWriter.records(try frame.objects.map { r in
                    ObjectMask(id: r.objectID, score: r.objectScore,
                               mask: try BinaryMask(logits: r.lowResLogits, upsampledToHeight: height, width: width))
                })
            }
        } catch let error as RunError {
            throw error
        } catch let error as PredictorError {
            throw RunError.fromPredictor(error)
        } catch let error as TrackerError {
            throw .tracker(error)
        } catch {
            throw RunError.fromOutput(error)
        }
        try clock.measureOutput { () throws(RunError) in
            try write(records: records, logits: logits, frameCount: frameCount, numbering: numbering, width: width, height: height)
        }
        return TrackingSummary(endReason: stopped ? .stopped : request.maxFrames.map { $0 < video.frameCount } == true ? .maxFrames : .endOfSource,
                               sourceEnd: nil, framesTracked: records.count, droppedFrames: 0, seconds: clock.elapsed,
                               stopped: stopped, sourceWidth: width, sourceHeight: height)
    }

    /// The predictor's options for a run's tracker options.
    static func predictorOptions(_ options: TrackerOptions) -> PredictorOptions {
        PredictorOptions(fillHoleArea: options.fillHoleArea, correctionsAsConditioning: options.correctionsAsConditioning,
                         bfloat16Memories: options.bfloat16Memories, featureCacheBytes: 64 << 20,
                         encoderPrecision: options.encoderPrecision,
                         memoryAttentionPrecision: options.memoryAttentionPrecision,
                         memoryEncoderPrecision: options.memoryEncoderPrecision)
    }

    /// Frame `t`'s presentation time (as the streaming path gives it).
    private func pts(_ t: Int) -> Double? { video.seconds(ofFrame: t) }

    /// Adds `prompt` (frame = index) as `track` does; returns the prompt's result (nil for a removal).
    @discardableResult
    static func add(_ prompt: TrackingPrompt, to predictor: VideoPredictor, width: Int, height: Int) throws -> PromptResult? {
        switch prompt.kind {
        case let .points(image):
            // Several entries for one object on one frame were merged by the caller; a box clears.
            return try predictor.addPointsOrBox(frame: prompt.frame, object: prompt.objectID, prompt: image, clearOld: true)
        case let .mask(mask):
            let values = mask.withUnsafeBufferPointer { $0.map { Float($0) } }
            return try predictor.addMask(frame: prompt.frame, object: prompt.objectID, mask: Tensor(shape: [height, width], values: values))
        case .removal:
            if predictor.objects[prompt.objectID] != nil { try predictor.removeObject(prompt.objectID) }
            return nil
        }
    }

    /// Every output in frame order; the overlay gets every frame of the file, with masks where
    /// there are some.
    private func write(records: [Int: [MaskRecord]], logits: [Int: [ObjectFrameResult]], frameCount: Int,
                       numbering: FrameNumbering, width: Int, height: Int) throws(RunError) {
        let request = run.request
        let outputs = try RunOutputs(output: request.output, width: width, height: height, frameRate: video.info.frameRate?.value ?? 30)
        let withOverlay = request.output.overlay != nil
        do {
            for t in 0..<frameCount {
                let frameRecords = records[t]
                if frameRecords == nil && !withOverlay { continue }
                let masks = try (frameRecords ?? []).map { ObjectMask(id: $0.id, score: $0.score, mask: try $0.rle.decoded()) }
                let rgb = withOverlay ? try video.sourceRGB(t) : nil
                try outputs.write(frame: numbering.number(ofIndex: t), pts: pts(t), masks: masks, records: frameRecords ?? [], results: logits[t] ?? [],
                                  sourceRGB: rgb, recordFrame: frameRecords != nil)
            }
            try outputs.finish()
        } catch let error as RunError {
            throw error
        } catch let error as MediaError {
            throw .source(error)
        } catch {
            throw RunError.fromOutput(error)
        }
    }
}
