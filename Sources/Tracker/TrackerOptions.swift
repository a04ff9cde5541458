// TrackerOptions: behaviour switches of a VideoTracker (the official video predictor's options).

import Tensor

/// How a `VideoTracker` behaves.
public struct TrackerOptions: Sendable, Codable, Equatable {
    /// Fill background holes of at most this many pixels in the low-res masks (0 = off). The
    /// official predictor uses 8 (`fill_hole_area`) but skips it on CPU; parity runs use 0.
    public var fillHoleArea: Int = 8
    /// A frame that receives a correction (a prompt for an object already tracked on it) becomes a
    /// conditioning frame, kept in memory for the rest of the stream
    /// (official `add_all_frames_to_correct_as_cond`).
    public var correctionsAsConditioning: Bool = true
    /// Drop an object's recent (non-conditioning) memories around a corrected frame
    /// (official `clear_non_cond_mem_around_input`).
    public var clearRecentMemoryOnCorrection: Bool = false
    /// Number of frames in the source if known; object-pointer temporal encodings use
    /// min(frameCount, 16) as the official predictor does. Nil for live or unknown-length sources.
    public var frameCount: Int? = nil
    /// Store memory features rounded to bfloat16, as the official predictor does (halves memory).
    public var bfloat16Memories: Bool = true
    /// Arithmetic of the image encoder's products (Hiera's linear layers and window attention).
    /// `.bfloat16` needs AVX-512 BF16 (`Precision.bfloat16Supported`); elsewhere it runs as fp32.
    public var encoderPrecision: Precision = .float32
    /// Arithmetic of memory attention's products (projections and the attention over the memory).
    public var memoryAttentionPrecision: Precision = .float32
    /// Arithmetic of the memory encoder's products (the fuser's pointwise linear layers).
    public var memoryEncoderPrecision: Precision = .float32

    public init(fillHoleArea: Int = 8, correctionsAsConditioning: Bool = true, clearRecentMemoryOnCorrection: Bool = false,
                frameCount: Int? = nil, bfloat16Memories: Bool = true, encoderPrecision: Precision = .float32,
                memoryAttentionPrecision: Precision = .float32, memoryEncoderPrecision: Precision = .float32) {
        self.fillHoleArea = fillHoleArea
        self.correctionsAsConditioning = correctionsAsConditioning
        self.clearRecentMemoryOnCorrection = clearRecentMemoryOnCorrection
        self.frameCount = frameCount
        self.bfloat16Memories = bfloat16Memories
        self.encoderPrecision = encoderPrecision
        self.memoryAttentionPrecision = memoryAttentionPrecision
        self.memoryEncoderPrecision = memoryEncoderPrecision
    }

    /// The same precision for the image encoder, memory attention and the memory encoder (the mask
    /// decoder, ~0.4% of a frame's arithmetic, always runs in fp32).
    public init(fillHoleArea: Int = 8, frameCount: Int? = nil, precision: Precision) {
        self.init(fillHoleArea: fillHoleArea, frameCount: frameCount, encoderPrecision: precision,
                  memoryAttentionPrecision: precision, memoryEncoderPrecision: precision)
    }

    private enum CodingKeys: String, CodingKey {
        case fillHoleArea, correctionsAsConditioning, clearRecentMemoryOnCorrection, frameCount, bfloat16Memories
        case encoderPrecision, memoryAttentionPrecision, memoryEncoderPrecision
    }

    /// Decodes saved options; keys missing from states saved by older versions take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrackerOptions()
        fillHoleArea = try c.decodeIfPresent(Int.self, forKey: .fillHoleArea) ?? defaults.fillHoleArea
        correctionsAsConditioning = try c.decodeIfPresent(Bool.self, forKey: .correctionsAsConditioning)
            ?? defaults.correctionsAsConditioning
        clearRecentMemoryOnCorrection = try c.decodeIfPresent(Bool.self, forKey: .clearRecentMemoryOnCorrection)
            ?? defaults.clearRecentMemoryOnCorrection
        frameCount = try c.decodeIfPresent(Int.self, forKey: .frameCount)
        bfloat16Memories = try c.decodeIfPresent(Bool.self, forKey: .bfloat16Memories) ?? defaults.bfloat16Memories
        encoderPrecision = try c.decodeIfPresent(Precision.self, forKey: .encoderPrecision) ?? .float32
        memoryAttentionPrecision = try c.decodeIfPresent(Precision.self, forKey: .memoryAttentionPrecision) ?? .float32
        memoryEncoderPrecision = try c.decodeIfPresent(Precision.self, forKey: .memoryEncoderPrecision) ?? .float32
    }
}
