// FrameEncoder: the larger half of a tracker's image encoder (the Hiera trunk) as a value that
// can run on another thread, and what it produces with the time it took
// (`VideoTracker.step(encoded:prompts:)` runs the neck, the rest of the encoder).

import Foundation
import SAM2
import Tensor

/// A frame's trunk outputs and the seconds the trunk took (added to the tracker's encoder
/// timings with the neck's). The neck runs on the tracker's thread: in a pipelined run the trunk
/// lane is the longer one, so the neck (~2 ms of the default model's ~39) balances the lanes.
public struct EncodedFrame: Sendable {
    public let trunk: TrunkFeatures
    public let seconds: Double
}

/// The image encoder of a model at a precision (`VideoTracker.frameEncoder`). Thread-safe: it
/// only reads the model.
public struct FrameEncoder: Sendable {
    public let model: SAM2Model
    public let precision: Precision

    /// Throws `TrackerError.imageShape` unless `image` is the model's input [1, 3, S, S].
    public func checkShape(_ image: Tensor) throws {
        let s = model.config.imageSize
        guard image.shape == [1, 3, s, s] else { throw TrackerError.imageShape(expected: [1, 3, s, s], actual: image.shape) }
    }

    /// The trunk outputs of one preprocessed frame [1, 3, S, S], on the current compute context.
    public func encode(_ image: Tensor) throws -> EncodedFrame {
        try checkShape(image)
        let (trunk, seconds) = timed { model.trunkFeatures(image) }
        return EncodedFrame(trunk: trunk, seconds: seconds)
    }

    /// The frame's features from its trunk outputs (the neck), on the current compute context;
    /// with the seconds it took.
    public func finish(_ frame: EncodedFrame) -> (features: FrameFeatures, seconds: Double) {
        timed { model.frameFeatures(of: frame.trunk) }
    }

    /// `body` at this encoder's precision, with the seconds it took.
    private func timed<T>(_ body: () -> T) -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = Precision.$current.withValue(precision) { body() }
        return (result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
