// FrameProvider: random access to a video's preprocessed frames, for `VideoPredictor` (the
// official predictor's `init_state` loads every frame; here frames are asked for when needed and
// their features cached). Tracker never decodes: the run library implements this over Media
// (FFmpeg seeking), tests over tensors in memory.
//
// Frame tensors: [1, 3, S, S], RGB resized to S x S and normalised (DESIGN §2), S = the model's
// image size.

import Tensor

/// A video whose frames can be read in any order.
///
/// `frame(_:)` is called from the thread driving the predictor, for indices in
/// 0..<frameCount only; it may be called again for a frame whose features were evicted.
public protocol FrameProvider: AnyObject {
    /// Number of frames (> 0).
    var frameCount: Int { get }
    /// Source frame size in pixels, the space prompts and masks refer to.
    var sourceWidth: Int { get }
    var sourceHeight: Int { get }
    /// Frame `index` preprocessed for the model: [1, 3, S, S].
    func frame(_ index: Int) throws -> Tensor
}

/// Frames already in memory (tests, short clips, images): each [1, 3, S, S].
public final class TensorFrames: FrameProvider {
    public let frames: [Tensor]
    public let sourceWidth: Int, sourceHeight: Int
    /// How many times each frame was read (tests use it to see the feature cache work).
    public private(set) var reads: [Int]

    public init(_ frames: [Tensor], sourceWidth: Int, sourceHeight: Int) {
        self.frames = frames
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        reads = Array(repeating: 0, count: frames.count)
    }

    public var frameCount: Int { frames.count }

    public func frame(_ index: Int) throws -> Tensor {
        reads[index] += 1
        return frames[index]
    }
}
