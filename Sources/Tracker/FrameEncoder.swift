// FrameEncoder: a tracker's image encoder as a value that can run on another thread, and the
// features it produces with the time they took (`VideoTracker.step(encoded:prompts:)`).

import Foundation
import SAM2
import Tensor

/// A frame's image features and the seconds the encoder took (added to the tracker's timings).
public struct EncodedFrame: Sendable {
    public let features: FrameFeatures
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

    /// The features of one preprocessed frame [1, 3, S, S], on the current compute context.
    public func encode(_ image: Tensor) throws -> EncodedFrame {
        try checkShape(image)
        let start = DispatchTime.now().uptimeNanoseconds
        let features = Precision.$current.withValue(precision) { model.frameFeatures(image) }
        return EncodedFrame(features: features, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
