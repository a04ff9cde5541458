// `samtrack bench tracker`: the same run loop as `samtrack track` (TrackingRun: decode-ahead
// reader -> tracker -> outputs) on a video or on generated noise, with per-stage milliseconds
// (decode wait, encoder, memory attention, decoder, memory encoder, output), GFLOPS, frame latency
// percentiles, throughput and resident memory.

import ArgumentParser
import Checkpoint
import FileIO
import Foundation
import Media
import SAM2
import Tensor
import Tracker
import TrackingRun

struct TrackerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracker",
        abstract: "Run the tracker on real frames: per-stage ms and GFLOPS per frame, frames/s, resident memory.")

    @Option(name: .long, help: "Checkpoint (.pt/.safetensors). Without it, --config builds random weights.")
    var model: String?

    @Option(name: .long, help: "Official config with random weights: tiny, small, base_plus, large (SAM 2.1).")
    var config = "tiny"

    @Option(name: .long, parsing: .unconditional, help: "Input size in pixels for --config (a multiple of 16; the memory-attention RoPE grid follows, e.g. 512 -> 32x32). Default: the config's 1024.")
    var imageSize: Int?

    @Option(name: .long, help: "Video to track (the run stops at its end: loop it with ffmpeg -stream_loop for longer runs). Default: generated 1280x720 noise.")
    var input: String?

    @Option(name: .long, parsing: .unconditional, help: "Frames to track.")
    var frames = 10

    @Option(name: .long, parsing: .unconditional, help: "Objects to track (boxes spread over the frame).")
    var objects = 1

    @Option(name: .long, help: "Report memory at these frame numbers (comma-separated).")
    var memoryAt = "10,100,1000"

    @Option(name: .long, help: "Write each frame's latency and stage times (ms) to this CSV file.")
    var latencyLog: String?

    @Option(name: .long, help: "Also write the masks (format rle) here, so the output stage includes writing.")
    var output: String?

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard frames > 0, objects > 0 else { throw ValidationError("--frames and --objects must be positive") }
        guard let imageSize else { return }
        if model != nil { throw ValidationError("--image-size applies to --config (a checkpoint's size comes with it)") }
        if imageSize < 64 || imageSize % 16 != 0 {
            throw ValidationError("--image-size must be a multiple of 16, at least 64 (got \(imageSize))")
        }
    }

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        let checkpoints = Set(memoryAt.split(separator: ",").compactMap { Int($0) })
        try reportingErrors {
            let sam = try loadModel()
            print(environmentSummary())
            print("model \(sam.config.name), \(sam.checkpointPath), \(sam.config.imageSize) px, \(objects) object(s), "
                  + "\(frames) frames, precision \(compute.precision.rawValue) (encoder, memory attention, memory encoder)")
            let (input, inputOptions, width, height) = try benchSource()
            let prompts = (0..<objects).map { i -> TrackingPrompt in
                let w = Float(width), h = Float(height), x0 = w * Float(i) / Float(objects)
                return TrackingPrompt(objectID: i + 1, kind: .points(ImagePrompt(box: (x0 + 1, h * 0.25, x0 + w / Float(objects) - 1, h * 0.75))))
            }
            let request = TrackingRequest(input: input, inputOptions: inputOptions, prompts: prompts,
                                          output: OutputOptions(directory: output), maxFrames: frames,
                                          trackerOptions: TrackerOptions(precision: compute.precision))
            var recorder = BenchRecorder(logging: latencyLog != nil)
            let summary = try TrackingRun(model: sam, request: request).run { progress in
                recorder.record(progress)
                if checkpoints.contains(progress.frame + 1) {
                    let rss = residentMemoryMiB()
                    print(String(format: "frame %5d: RSS %.1f MiB (peak %.1f MiB; anonymous %.1f, files %.1f)",
                                 progress.frame + 1, rss.current, rss.peak, rss.anonymous, rss.file))
                }
            }
            if let latencyLog { try AtomicFile.write(Data(recorder.log.utf8), to: latencyLog) }
            recorder.report(FLOPCount(sam.config), framesTracked: summary.framesTracked, seconds: summary.seconds)
        }
    }

    private func loadModel() throws -> SAM2Model {
        if let model { return try SAM2Model.load(checkpoint: model) }
        guard let variant = SAM2Config.Variant(rawValue: config) else {
            throw ValidationError("--config must be one of tiny, small, base_plus, large")
        }
        return try SAM2Model(config: .preset(variant, imageSize: imageSize ?? 1024), store: WeightStore(synthesizingWithSeed: 1))
    }

    /// The video, or 1280x720 noise generated by FFmpeg's lavfi (new noise every frame).
    private func benchSource() throws -> (String, InputOptions, Int, Int) {
        if let input {
            let probe = try VideoSource(input, options: InputOptions(decoderThreads: 1))
            if let count = probe.info.frameCount, count < frames {
                print("note: \(input) has \(count) frames; the run stops there (loop it with ffmpeg -stream_loop for \(frames))")
            }
            return (input, InputOptions(), probe.info.width, probe.info.height)
        }
        return ("color=c=gray:s=1280x720:r=30,noise=alls=100:allf=t+u", InputOptions(format: "lavfi"), 1280, 720)
    }
}

/// Per-frame figures of a bench run, from the run loop's progress.
struct BenchRecorder {
    let logging: Bool
    var log = "frame,total_ms,decode_ms,encoder_ms,memory_attention_ms,decoder_ms,memory_encoder_ms,output_ms,cpu_ms,involuntary_switches\n"
    private var previous: FrameProgress?
    private var lastTime = DispatchTime.now().uptimeNanoseconds
    private var lastUsage = processUsage()
    private(set) var latencies: [Double] = []
    /// Sums over frames 2..N (the first frame, with its prompts and warm-up, is left out).
    private(set) var steady = StageTimings()
    private(set) var decode = 0.0, output = 0.0

    init(logging: Bool) { self.logging = logging }

    mutating func record(_ p: FrameProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        let latency = Double(now - lastTime) / 1e9
        lastTime = now
        let before = previous?.timings ?? StageTimings()
        let decodeStep = p.decodeSeconds - (previous?.decodeSeconds ?? 0), outputStep = p.outputSeconds - (previous?.outputSeconds ?? 0)
        if previous != nil {
            latencies.append(latency)
            steady.add(p.timings, since: before)
            decode += decodeStep
            output += outputStep
        }
        if logging {
            let usage = processUsage(), a = p.timings
            log += String(format: "%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d\n", p.frame, latency * 1000, decodeStep * 1000,
                          (a.encoder - before.encoder) * 1000, (a.memoryAttention - before.memoryAttention) * 1000,
                          (a.decoder - before.decoder) * 1000, (a.memoryEncoder - before.memoryEncoder) * 1000, outputStep * 1000,
                          (usage.cpuSeconds - lastUsage.cpuSeconds) * 1000, usage.involuntarySwitches - lastUsage.involuntarySwitches)
            lastUsage = usage
        }
        previous = p
    }

    func report(_ count: FLOPCount, framesTracked: Int, seconds: Double) {
        let tracked = max(latencies.count, 1)
        let work = steady.flops(count)
        func line(_ name: String, _ seconds: Double, _ flops: Double) -> String {
            let perFrame = String(format: "%9.1f ms", seconds * 1000 / Double(tracked))
            guard flops > 0, seconds > 0 else { return "  \(name)\(perFrame)" }
            return "  \(name)\(perFrame)" + String(format: "  %7.1f GFLOP %7.1f GFLOPS", flops / 1e9 / Double(tracked), flops / seconds / 1e9)
        }
        print("per tracked frame (frames 2..\(framesTracked), mean; GFLOP per frame and rate):")
        print(line("decode (waiting) ", decode, 0))
        print(line("encoder          ", steady.encoder, work.encoder))
        print(line("memory attention ", steady.memoryAttention, work.memoryAttention))
        print(line("decoder          ", steady.decoder, work.decoder))
        print(line("memory encoder   ", steady.memoryEncoder, work.memoryEncoder))
        print(line("output           ", output, 0))
        print(line("total model      ", steady.total, work.total))
        if steady.memoryAttentionRuns > 0 {
            print("memory tokens attended: mean \(steady.memoryTokens / steady.memoryAttentionRuns) per object and frame")
        }
        // With the pipelined run (EncodeAhead) the stages of two frames overlap, so the stages add up
        // to more than the time between frames: this line is the rate.
        print(String(format: "wall per frame     %9.1f ms  (time between consecutive frames' results)",
                          latencies.reduce(0, +) * 1000 / Double(tracked)))
        let sorted = latencies.sorted()
        if !sorted.isEmpty {
            let median = sorted[sorted.count / 2], p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
            print(String(format: "frame latency: median %.1f ms, p99 %.1f ms (p99/median %.2f)", median * 1000, p99 * 1000, p99 / median))
        }
        print(String(format: "throughput: %.2f frames/s over %d frames (%.1f s)", Double(framesTracked) / seconds, framesTracked, seconds))
        let rss = residentMemoryMiB()
        print(String(format: "resident memory: %.1f MiB, peak %.1f MiB", rss.current, rss.peak))
    }
}
