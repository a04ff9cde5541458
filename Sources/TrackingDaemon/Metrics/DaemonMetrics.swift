// DaemonMetrics: the daemon's metrics through swift-metrics, exposed by swift-prometheus's
// registry in the Prometheus text format for GET /metrics. Each daemon (and each test harness)
// has its own registry, so nothing is process-global.
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
//   samtrackd_job_claims_total, samtrackd_job_resumes_total, samtrackd_lease_losses_total
//                                                      counters (shared store)
//   samtrackd_claim_seconds                            histogram, the claim transaction of each job
//                                                      claimed (shared store)

import Foundation
import Metrics
import Prometheus
import Tracker
import TrackingRun

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

/// The daemon's metrics (see the file comment). Thread-safe.
public final class DaemonMetrics: Sendable {
    /// The registry /metrics renders.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let submitted: Metrics.Counter
    private let finished: [JobStatus: Metrics.Counter]
    private let frames: Metrics.Counter
    private let dropped: Metrics.Counter
    private let stages: [String: Metrics.Timer]
    private let jobGauges: [JobStatus: Metrics.Gauge]
    private let modelsLoaded: Metrics.Gauge
    private let claims: Metrics.Counter
    private let resumes: Metrics.Counter
    private let leaseLosses: Metrics.Counter
    private let claimSeconds: Metrics.Timer
    private let httpLock = NSLock()
    nonisolated(unsafe) private var httpCounters: [Int: Metrics.Counter] = [:]  // guarded by httpLock

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
            .map { Duration.nanoseconds(Int64($0 * 1e9)) }
        self.factory = factory
        submitted = Metrics.Counter(label: "samtrackd_jobs_submitted_total", factory: factory)
        finished = Dictionary(uniqueKeysWithValues: JobStatus.allCases.filter(\.isTerminal).map {
            ($0, Metrics.Counter(label: "samtrackd_jobs_finished_total", dimensions: [("state", $0.rawValue)], factory: factory))
        })
        frames = Metrics.Counter(label: "samtrackd_frames_tracked_total", factory: factory)
        dropped = Metrics.Counter(label: "samtrackd_dropped_frames_total", factory: factory)
        stages = Dictionary(uniqueKeysWithValues: FrameStageSeconds().named.map { name, _ in
            (name, Metrics.Timer(label: "samtrackd_stage_seconds", dimensions: [("stage", name)], factory: factory))
        })
        jobGauges = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map {
            ($0, Metrics.Gauge(label: "samtrackd_jobs", dimensions: [("state", $0.rawValue)], factory: factory))
        })
        modelsLoaded = Metrics.Gauge(label: "samtrackd_models_loaded", factory: factory)
        claims = Metrics.Counter(label: "samtrackd_job_claims_total", factory: factory)
        resumes = Metrics.Counter(label: "samtrackd_job_resumes_total", factory: factory)
        leaseLosses = Metrics.Counter(label: "samtrackd_lease_losses_total", factory: factory)
        claimSeconds = Metrics.Timer(label: "samtrackd_claim_seconds", factory: factory)
    }

    /// A shared-store node claimed a job (`resumed`: from a checkpoint another run saved) in a
    /// claim that took `seconds`.
    public func jobClaimed(resumed: Bool, seconds: Double) {
        claims.increment()
        claimSeconds.recordNanoseconds(Int64(max(0, seconds) * 1e9))
        if resumed { resumes.increment() }
    }
    /// A shared-store node lost the lease of a job it ran.
    public func leaseLost() { leaseLosses.increment() }

    public func jobSubmitted() { submitted.increment() }
    public func jobFinished(_ status: JobStatus) { finished[status]?.increment() }

    public func httpRequest(status: Int) {
        let counter = httpLock.withLock {
            if let existing = httpCounters[status] { return existing }
            let made = Metrics.Counter(label: "samtrackd_http_requests_total", dimensions: [("code", String(status))], factory: factory)
            httpCounters[status] = made
            return made
        }
        counter.increment()
    }

    /// One tracked frame with its stage times and the frames a live reader dropped since the last.
    public func frameTracked(_ seconds: FrameStageSeconds, newlyDropped: Int) {
        frames.increment()
        if newlyDropped > 0 { dropped.increment(by: newlyDropped) }
        for (name, value) in seconds.named { stages[name]?.recordNanoseconds(Int64(max(0, value) * 1e9)) }
    }

    /// The exposition text; `jobCounts` are the current jobs per state, `loadedModels` the models in memory.
    public func render(jobCounts: [JobStatus: Int], loadedModels: Int) -> String {
        for (status, gauge) in jobGauges { gauge.record(jobCounts[status] ?? 0) }
        modelsLoaded.record(loadedModels)
        return registry.emitToString()
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
