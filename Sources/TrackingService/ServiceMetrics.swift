// ServiceMetrics: the daemon's counters and histograms, rendered in the Prometheus text exposition
// format (version 0.0.4) for GET /metrics.
//
//   samtrackd_jobs{state="queued"|...}                 gauge, jobs by state (from the job table)
//   samtrackd_jobs_submitted_total                     counter
//   samtrackd_jobs_finished_total{state="..."}         counter, per terminal state
//   samtrackd_frames_tracked_total                     counter
//   samtrackd_dropped_frames_total                     counter (live sources)
//   samtrackd_stage_seconds{stage="..."}               histogram, per tracked frame:
//       decode, encoder, memory_attention, decoder, memory_encoder, output, frame (wall, all of it)
//   samtrackd_http_requests_total{code="..."}          counter
//   samtrackd_models_loaded                            gauge

import Foundation
import Tracker

/// A Prometheus histogram with fixed buckets (seconds).
struct Histogram {
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    var counts = [Int](repeating: 0, count: Histogram.bounds.count)
    var count = 0
    var sum = 0.0

    mutating func observe(_ value: Double) {
        for (i, bound) in Self.bounds.enumerated() where value <= bound { counts[i] += 1 }
        count += 1
        sum += value
    }
}

/// Per-frame seconds of each stage.
public struct FrameStageSeconds: Sendable {
    public var decode = 0.0, encoder = 0.0, memoryAttention = 0.0, decoder = 0.0, memoryEncoder = 0.0, output = 0.0
    public var frame = 0.0
    public init() {}

    var named: [(String, Double)] {
        [("decode", decode), ("encoder", encoder), ("memory_attention", memoryAttention), ("decoder", decoder),
         ("memory_encoder", memoryEncoder), ("output", output), ("frame", frame)]
    }
}

/// The daemon's metrics. Thread-safe.
public final class ServiceMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var jobsSubmitted = 0
    private var jobsFinished: [JobStatus: Int] = [:]
    private var framesTracked = 0
    private var droppedFrames = 0
    private var stages: [String: Histogram] = [:]
    private var httpRequests: [Int: Int] = [:]

    public init() {}

    public func jobSubmitted() { locked { jobsSubmitted += 1 } }
    public func jobFinished(_ status: JobStatus) { locked { jobsFinished[status, default: 0] += 1 } }
    public func httpRequest(status: Int) { locked { httpRequests[status, default: 0] += 1 } }

    /// One tracked frame with its stage times and the frames a live reader dropped since the last.
    public func frameTracked(_ stages: FrameStageSeconds, newlyDropped: Int) {
        locked {
            framesTracked += 1
            droppedFrames += max(0, newlyDropped)
            for (name, seconds) in stages.named { self.stages[name, default: Histogram()].observe(seconds) }
        }
    }

    public var framesTrackedTotal: Int { locked { framesTracked } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// The exposition text; `jobCounts` are the current jobs per state, `modelsLoaded` the models in memory.
    public func render(jobCounts: [JobStatus: Int], modelsLoaded: Int) -> String {
        locked {
            var out = ""
            func header(_ name: String, _ type: String, _ help: String) {
                out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            }
            header("samtrackd_jobs", "gauge", "Jobs by state.")
            for status in JobStatus.allCases { out += "samtrackd_jobs{state=\"\(status.rawValue)\"} \(jobCounts[status] ?? 0)\n" }
            header("samtrackd_jobs_submitted_total", "counter", "Jobs accepted since the daemon started.")
            out += "samtrackd_jobs_submitted_total \(jobsSubmitted)\n"
            header("samtrackd_jobs_finished_total", "counter", "Jobs that ended since the daemon started, by final state.")
            for status in JobStatus.allCases where status.isTerminal {
                out += "samtrackd_jobs_finished_total{state=\"\(status.rawValue)\"} \(jobsFinished[status] ?? 0)\n"
            }
            header("samtrackd_frames_tracked_total", "counter", "Frames tracked since the daemon started.")
            out += "samtrackd_frames_tracked_total \(framesTracked)\n"
            header("samtrackd_dropped_frames_total", "counter", "Frames live sources produced faster than they were tracked.")
            out += "samtrackd_dropped_frames_total \(droppedFrames)\n"
            header("samtrackd_stage_seconds", "histogram", "Seconds per tracked frame spent in each stage.")
            for stage in FrameStageSeconds().named.map(\.0) {
                let h = stages[stage] ?? Histogram()
                for (bound, count) in zip(Histogram.bounds, h.counts) {
                    out += "samtrackd_stage_seconds_bucket{stage=\"\(stage)\",le=\"\(format(bound))\"} \(count)\n"
                }
                out += "samtrackd_stage_seconds_bucket{stage=\"\(stage)\",le=\"+Inf\"} \(h.count)\n"
                out += "samtrackd_stage_seconds_sum{stage=\"\(stage)\"} \(format(h.sum))\n"
                out += "samtrackd_stage_seconds_count{stage=\"\(stage)\"} \(h.count)\n"
            }
            header("samtrackd_http_requests_total", "counter", "HTTP requests answered, by status code.")
            for (code, count) in httpRequests.sorted(by: { $0.key < $1.key }) {
                out += "samtrackd_http_requests_total{code=\"\(code)\"} \(count)\n"
            }
            header("samtrackd_models_loaded", "gauge", "Models loaded in memory.")
            out += "samtrackd_models_loaded \(modelsLoaded)\n"
            return out
        }
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension FrameStageSeconds {
    /// Stage seconds of one frame from the cumulative timings before and after it.
    init(before: FrameProgress?, after: FrameProgress, wall: Double) {
        self.init()
        let a = after.timings, b = before?.timings ?? StageTimings()
        encoder = max(0, a.encoder - b.encoder)
        memoryAttention = max(0, a.memoryAttention - b.memoryAttention)
        decoder = max(0, a.decoder - b.decoder)
        memoryEncoder = max(0, a.memoryEncoder - b.memoryEncoder)
        decode = max(0, after.decodeSeconds - (before?.decodeSeconds ?? 0))
        output = max(0, after.outputSeconds - (before?.outputSeconds ?? 0))
        frame = wall
    }
}
