// StageTimings: wall time spent in each model stage of a tracker (for `samtrack bench`, metrics).

import Foundation

/// Accumulated seconds per stage.
public struct StageTimings: Sendable, Equatable {
    public var encoder: Double = 0
    public var memoryAttention: Double = 0
    public var decoder: Double = 0
    public var memoryEncoder: Double = 0
    /// Work done in those seconds (for FLOP rates, `SAM2.FLOPCount`): runs of the encoder, memory
    /// attention, decoder (mask prompts, which skip the decoder, included) and memory encoder
    /// stages, and the memory tokens (spatial + object-pointer) the memory attention runs attended,
    /// summed over runs.
    public var encoderRuns = 0, memoryAttentionRuns = 0, decoderRuns = 0, memoryEncoderRuns = 0
    public var memoryTokens = 0

    public init() {}

    public var total: Double { encoder + memoryAttention + decoder + memoryEncoder }

    /// Runs `body`, adding its wall time to `stage`.
    @inline(__always)
    mutating func measure<T>(_ stage: WritableKeyPath<StageTimings, Double>, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(stage, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    /// Adds one run of `stage` that took `seconds` (measured here by `measure`, or elsewhere: a
    /// frame encoded on another thread).
    mutating func record(_ stage: WritableKeyPath<StageTimings, Double>, seconds: Double) {
        if stage == \.encoder { encoderRuns += 1 }
        else if stage == \.memoryAttention { memoryAttentionRuns += 1 }
        else if stage == \.decoder { decoderRuns += 1 }
        else if stage == \.memoryEncoder { memoryEncoderRuns += 1 }
        self[keyPath: stage] += seconds
    }
}
