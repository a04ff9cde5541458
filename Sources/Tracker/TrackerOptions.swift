// TrackerOptions: behaviour switches of a VideoTracker (the official video predictor's options).

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

    public init(fillHoleArea: Int = 8, correctionsAsConditioning: Bool = true, clearRecentMemoryOnCorrection: Bool = false,
                frameCount: Int? = nil, bfloat16Memories: Bool = true) {
        self.fillHoleArea = fillHoleArea
        self.correctionsAsConditioning = correctionsAsConditioning
        self.clearRecentMemoryOnCorrection = clearRecentMemoryOnCorrection
        self.frameCount = frameCount
        self.bfloat16Memories = bfloat16Memories
    }
}
