// PromptFrameSegmentation: one object's mask on one prompted frame, exactly as `samtrack track`
// gives it on that frame for the same prompt (`samtrack segment`): the frame is read through
// the same random-access path (`RandomAccessVideo.modelInput`, the bytes the tracker gets), the
// prompt goes to a `VideoPredictor` as `PredictorRun` adds it (an initial conditioning frame: no
// memory, `no_mem_embed` added, the multimask choice of the official video predictor, hole
// filling), and the mask is the low-res logits upsampled to the source size as the run's outputs
// do. It is not the official `SAM2ImagePredictor` (which never fills holes and takes one mask for
// a box only when asked): segment previews what tracking will start from.

import Export
import Media
import SAM2
import Tensor
import Tracker

/// The tracker's result for one prompt on one frame (see the file comment).
public struct PromptFrameSegmentation: Sendable {
    /// One mask the decoder chose from, with its predicted IoU.
    public struct Candidate: Sendable {
        public var mask: BinaryMask
        public var iou: Float
    }

    /// The frame's number (`FrameNumbering`) and index.
    public var frameNumber: Int, frameIndex: Int
    /// The object's mask at the source size (what masks.jsonl holds for the frame).
    public var mask: BinaryMask
    /// Its low-res logits [S/4, S/4] after hole filling.
    public var lowResLogits: Tensor
    /// The object presence logit (the score in masks.jsonl).
    public var objectScore: Float
    /// The decoder's candidates when it gave several (one click), in decoder order; the mask is
    /// made from `chosen` (highest IoU, first on ties).
    public var candidates: [Candidate]
    public var chosen: Int?
    /// The frame as RGB24 at the source size (`RandomAccessVideo.sourceRGB`).
    public var sourceRGB: RGBImage

    /// Segments frame number `frame` (nil: the first frame) of `input` from `prompt`, object
    /// `objectID` (the id only names the object; results do not depend on it).
    /// - Throws: `RunError`: `.source` (unreadable input), `.notRandomAccess` (a pipe or stream),
    ///   `.prompt` (a frame the input does not have, a prompt outside the frame, a mask of
    ///   another size), `.predictor`.
    public static func segment(model: SAM2Model, input: String, inputOptions: InputOptions = InputOptions(),
                               frame: Int?, objectID: Int = 1, prompt: TrackingPrompt.Kind,
                               options: TrackerOptions) throws(RunError) -> PromptFrameSegmentation {
        let video = try PredictorRun.open(input, options: inputOptions)
        defer { video.close() }
        let (width, height) = (video.info.width, video.info.height)
        let numbering = video.numbering
        let number = frame ?? numbering.number(ofIndex: 0)
        let request = TrackingPrompt(objectID: objectID, frame: number, kind: prompt)
        let indexed = try TrackingRun.indexedPrompts([request], numbering: numbering, width: width, height: height,
                                                     frameCount: video.frameCount)[0]
        let predictor = VideoPredictor(
            model: model, frames: RandomAccessFrames(video, imageSize: model.config.imageSize, frameCount: video.frameCount),
            options: PredictorRun.predictorOptions(options))
        do {
            guard let result = try PredictorRun.add(indexed, to: predictor, width: width, height: height),
                  let object = result.frame.result(objectID) else {
                throw RunError.noPrompts
            }
            let upsample = { (logits: Tensor) throws -> BinaryMask in
                try BinaryMask(logits: logits, upsampledToHeight: height, width: width)
            }
            let candidates = try result.candidates.map { Candidate(mask: try upsample($0.lowResLogits), iou: $0.iou) }
            var chosen: Int? = nil
            for (j, c) in candidates.enumerated() where chosen == nil || c.iou > candidates[chosen!].iou { chosen = j }
            return PromptFrameSegmentation(frameNumber: number, frameIndex: indexed.frame, mask: try upsample(object.lowResLogits),
                                           lowResLogits: object.lowResLogits, objectScore: object.objectScore,
                                           candidates: candidates, chosen: chosen, sourceRGB: try video.sourceRGB(indexed.frame))
        } catch let error as RunError {
            throw error
        } catch let error as PredictorError {
            throw RunError.fromPredictor(error)
        } catch let error as MediaError {
            throw .source(error)
        } catch {
            throw RunError.fromOutput(error)
        }
    }
}
