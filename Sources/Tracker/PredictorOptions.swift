// PredictorOptions: behaviour switches of a VideoPredictor (the official SAM2VideoPredictor's
// options) and its feature-cache budget.

import Tensor

/// How a `VideoPredictor` behaves.
public struct PredictorOptions: Sendable, Codable, Equatable {
    /// Fill background holes of at most this many pixels in the low-res masks (0 = off). The
    /// official build uses 8 (`fill_hole_area`) but skips it on CPU; parity runs use 0.
    public var fillHoleArea: Int = 8
    /// A prompt on a frame the object was already tracked on (a correction) makes that frame a
    /// conditioning frame, whose memory every later propagation attends to (official
    /// `add_all_frames_to_correct_as_cond`; the official build's default is false, the project's
    /// true, as issue 25 asks: corrections stick). When false, a correction only replaces the
    /// frame's non-conditioning output: later frames use it as a recent memory, and a propagation
    /// that starts on that frame tracks it again (as the official predictor).
    public var correctionsAsConditioning: Bool = true
    /// After a prompt, drop the object's non-conditioning outputs within num_maskmem frames of the
    /// prompted frame, when the prompt is committed and when a propagation passes that frame
    /// (official `clear_non_cond_mem_around_input`, default false; sam2 1.1.0 calls an undefined
    /// helper with it on, so it has no parity check, only unit tests).
    public var clearNonConditioningAroundInput: Bool = false
    /// Store memory features rounded to bfloat16, as the official predictor does (halves memory).
    public var bfloat16Memories: Bool = true
    /// Bytes of image features (and memory-attention starts) kept per predictor, least recently
    /// used frames evicted first; 0 keeps none. A frame of SAM 2.1 tiny at 1024 px takes ~21 MB
    /// (~25 MB with its memory-attention start). The daemon's `cache.features_bytes`.
    public var featureCacheBytes: Int = 256 << 20
    /// Arithmetic of the image encoder's, memory attention's and memory encoder's products
    /// (as `TrackerOptions`; fp32 is the parity mode).
    public var encoderPrecision: Precision = .float32
    public var memoryAttentionPrecision: Precision = .float32
    public var memoryEncoderPrecision: Precision = .float32

    public init(fillHoleArea: Int = 8, correctionsAsConditioning: Bool = true, clearNonConditioningAroundInput: Bool = false,
                bfloat16Memories: Bool = true, featureCacheBytes: Int = 256 << 20, encoderPrecision: Precision = .float32,
                memoryAttentionPrecision: Precision = .float32, memoryEncoderPrecision: Precision = .float32) {
        self.fillHoleArea = fillHoleArea
        self.correctionsAsConditioning = correctionsAsConditioning
        self.clearNonConditioningAroundInput = clearNonConditioningAroundInput
        self.bfloat16Memories = bfloat16Memories
        self.featureCacheBytes = featureCacheBytes
        self.encoderPrecision = encoderPrecision
        self.memoryAttentionPrecision = memoryAttentionPrecision
        self.memoryEncoderPrecision = memoryEncoderPrecision
    }
}
