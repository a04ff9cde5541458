// StageTimings: wall time spent in each model stage of a tracker (for `samtrack bench`, metrics).

import Foundation

/// Accumulated seconds per stage.
public struct StageTimings: Sendable, Equatable {
    public var encoder: Double = 0
    public var memoryAttention: Double = 0
    public var decoder: Double = 0
    public var memoryEncoder: Double = 0

    public init() {}

    public var total: Double { encoder + memoryAttention + decoder + memoryEncoder }

    /// Runs `body`, adding its wall time to `stage`.
    @inline(__always)
    mutating func measure<T>(_ stage: WritableKeyPath<StageTimings, Double>, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { self[keyPath: stage] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }
}
