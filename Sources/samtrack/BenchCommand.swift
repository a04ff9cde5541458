// `samtrack bench`: measured speed. `bench kernels` times the Tensor kernels at SAM 2.1 tiny's
// real sizes; `bench tracker` runs the streaming tracker on real frames and reports per-stage
// milliseconds, frames per second and resident memory.

import ArgumentParser
import Checkpoint
import Export
import COpenBLAS
import FileIO
import Foundation
import Media
import SAM2
import Tensor
import Tracker

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure kernel and tracker speed (use a release build).",
        subcommands: [TrackerBench.self, KernelBench.self, DecodeBench.self], defaultSubcommand: TrackerBench.self)
}

/// Wall-clock seconds of `body`, best of `repeats` after one warm-up.
func timeBest(repeats: Int = 3, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

/// Resident and peak resident memory of this process in MiB (from /proc/self/status); `anonymous`
/// is the part that is the process's own memory (heap, stacks), `file` the mapped files' pages
/// (code of the libraries, which grows as new code paths run).
func residentMemoryMiB() -> (current: Double, peak: Double, anonymous: Double, file: Double) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0, 0, 0) }
    func field(_ name: String) -> Double {
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.split(separator: " ").compactMap { Double($0) }
            if let kb = digits.first { return kb / 1024 }
        }
        return 0
    }
    return (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"), field("RssFile:") + field("RssShmem:"))
}

func environmentSummary() -> String {
    let coreType = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""
    let bf16 = Precision.bfloat16Supported ? "bf16 products available (AVX-512 BF16)" : "no bf16 products (no AVX-512 BF16)"
    let heap = HeapTuning.applied ? "freed tensors reused (heap tuning)" : "glibc heap defaults"
    return "OpenBLAS core \(Parallel.openBLASCoreName)\(coreType), threads \(Parallel.threadCount) (products split over samtrack's workers, OpenBLAS single-threaded), \(Parallel.openBLASConfig); \(bf16); \(heap)"
}

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Time the Tensor kernels at SAM 2.1 tiny sizes.")

    @Option(name: .long, help: "Timed repetitions per kernel (best is reported).")
    var repeats = 3

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        print(environmentSummary())
        var rng = SystemRandomNumberGenerator()
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        func report(_ name: String, seconds: Double, flops: Double? = nil) {
            let gflops = flops.map { String(format: "  %7.1f GFLOPS", $0 / seconds / 1e9) } ?? ""
            print(String(format: "%-52@ %9.2f ms%@", name as NSString, seconds * 1000, gflops as NSString))
        }
        // --precision bf16: attention and the linear layer run in a bf16 scope (the lines say so).
        let precision = compute.precision
        let tag = precision == .bfloat16 ? " [bf16]" : ""
        func scoped(_ body: () -> Void) { Precision.$current.withValue(precision, operation: body) }
        let n = 4096
        let a = random([n, n]), b = random([n, n])
        report("sgemm 4096x4096x4096", seconds: timeBest(repeats: repeats) { _ = a.matmul(b) }, flops: 2 * pow(Double(n), 3))
        // Memory attention of tiny at 1024 px: 4096 queries, 7 memories x 4096 + 64 pointer tokens.
        let q = random([1, 1, 4096, 256]), k = random([1, 1, 28672, 256]), v = random([1, 1, 28672, 256])
        report("attention 4096 q x 28672 k x 256" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = scaledDotProductAttention(query: q, key: k, value: v) }
        }, flops: 4 * 4096 * 28672 * 256)
        // Hiera stage-1 windowed attention: 1024 windows of 64 tokens, 1 head of 96.
        let wq = random([1024, 1, 64, 96])
        report("windowed attention 1024 x (64 x 64 x 96)" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = scaledDotProductAttention(query: wq, key: wq, value: wq) }
        }, flops: 4 * 1024 * 64 * 64 * 96)
        let tokens = random([1, 256, 256, 96])
        let w1 = random([384, 96]), b1 = random([384])
        let packed = PackedWeightCache()
        report("linear 65536 x 96 -> 384 (Hiera MLP)" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = tokens.linear(weight: w1, bias: b1, packed: packed) }
        }, flops: 2 * 65536 * 96 * 384)
        let image = random([1, 3, 1024, 1024]), patch = random([96, 3, 7, 7]), pb = random([96])
        report("conv2d 3->96 7x7 s4 on 1024x1024 (patch embed)", seconds: timeBest(repeats: repeats) {
            _ = image.conv2d(weight: patch, bias: pb, options: Conv2dOptions(stride: 4, padding: 3))
        }, flops: 2 * 96 * 3 * 49 * 256 * 256)
        let feats = random([1, 256, 64, 64]), dw = random([256, 1, 7, 7]), db = random([256])
        report("depthwise conv2d 256ch 7x7 on 64x64 (fuser)", seconds: timeBest(repeats: repeats) {
            _ = feats.conv2d(weight: dw, bias: db, options: Conv2dOptions(stride: 1, padding: 3, groups: 256))
        }, flops: 2 * 256 * 49 * 64 * 64)
        let ln = random([96]), lb = random([96])
        report("layerNorm [65536, 96]", seconds: timeBest(repeats: repeats) { _ = tokens.layerNorm(weight: ln, bias: lb, eps: 1e-6) })
        let c256 = random([256])
        report("layerNorm2d [1, 256, 64, 64]", seconds: timeBest(repeats: repeats) { _ = feats.layerNorm2d(weight: c256, bias: c256, eps: 1e-6) })
        let scores = random([4096, 28672])
        report("softmax [4096, 28672]", seconds: timeBest(repeats: repeats) { _ = scores.softmax() })
        report("gelu [65536, 384]", seconds: timeBest(repeats: repeats) { _ = tokens.linear(weight: w1, bias: b1).applying(.gelu) })
        let low = random([1, 1, 256, 256])
        report("bilinear 256x256 -> 1024x1024", seconds: timeBest(repeats: repeats) {
            _ = low.interpolate(height: 1024, width: 1024, mode: .bilinear(antialias: false))
        })
    }
}

struct TrackerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracker",
        abstract: "Run the tracker on real frames: per-stage ms and GFLOPS per frame, frames/s, resident memory.")

    @Option(name: .long, help: "Checkpoint (.pt/.safetensors). Without it, --config builds random weights.")
    var model: String?

    @Option(name: .long, help: "Official config with random weights: tiny, small, base_plus, large (SAM 2.1).")
    var config = "tiny"

    @Option(name: .long, help: "Input size in pixels for --config (a multiple of 16; the memory-attention RoPE grid follows, e.g. 512 -> 32x32). Default: the config's 1024.")
    var imageSize: Int?

    @Option(name: .long, help: "Video to track (looped when shorter than --frames). Default: random frames.")
    var input: String?

    @Option(name: .long, help: "Frames to track.")
    var frames = 10

    @Option(name: .long, help: "Objects to track (boxes spread over the frame).")
    var objects = 1

    @Option(name: .long, help: "Report memory at these frame numbers (comma-separated).")
    var memoryAt = "10,100,1000"

    @Option(name: .long, help: "Write each frame's latency and stage times (ms) to this CSV file.")
    var latencyLog: String?

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard let imageSize else { return }
        if model != nil { throw ValidationError("--image-size applies to --config (a checkpoint's size comes with it)") }
        if imageSize < 64 || imageSize % 16 != 0 {
            throw ValidationError("--image-size must be a multiple of 16, at least 64 (got \(imageSize))")
        }
    }

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        guard frames > 0, objects > 0 else { throw ValidationError("--frames and --objects must be positive") }
        let checkpoints = memoryAt.split(separator: ",").compactMap { Int($0) }
        try reportingErrors {
            let sam: SAM2Model
            if let model {
                sam = try SAM2Model.load(checkpoint: model)
            } else {
                guard let variant = SAM2Config.Variant(rawValue: config) else {
                    throw ValidationError("--config must be one of tiny, small, base_plus, large")
                }
                sam = try SAM2Model(config: .preset(variant, imageSize: imageSize ?? 1024),
                                    store: WeightStore(synthesizingWithSeed: 1))
            }
            let s = sam.config.imageSize
            print(environmentSummary())
            print("model \(sam.config.name), \(sam.checkpointPath), \(s) px, \(objects) object(s), \(frames) frames, "
                  + "precision \(compute.precision.rawValue) (encoder, memory attention, memory encoder)")
            var frameSource = try BenchFrames(input: input, imageSize: s)
            let tracker = VideoTracker(model: sam, sourceHeight: frameSource.height, sourceWidth: frameSource.width,
                                       options: TrackerOptions(frameCount: nil, precision: compute.precision))
            var prompts: [Int: ObjectPrompt] = [:]
            for i in 0..<objects {
                let w = Float(frameSource.width), h = Float(frameSource.height)
                let x0 = w * Float(i) / Float(objects)
                prompts[i + 1] = .points(ImagePrompt(box: (x0 + 1, h * 0.25, x0 + w / Float(objects) - 1, h * 0.75)))
            }
            var perFrame: [Double] = []
            var log = "frame,total_ms,encoder_ms,memory_attention_ms,decoder_ms,memory_encoder_ms,cpu_ms,involuntary_switches\n"
            var steady = StageTimings()
            let start = DispatchTime.now().uptimeNanoseconds
            for t in 0..<frames {
                let image = try frameSource.next()
                let before = tracker.timings
                let usageBefore = latencyLog == nil ? nil : processUsage()
                let begin = DispatchTime.now().uptimeNanoseconds
                _ = try tracker.step(frame: image, prompts: t == 0 ? prompts : [:])
                perFrame.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9)
                if t > 0 { steady.add(tracker.timings, since: before) }
                if let usageBefore {
                    let now = tracker.timings, usage = processUsage()
                    log += String(format: "%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d\n", t, perFrame[t] * 1000,
                                  (now.encoder - before.encoder) * 1000, (now.memoryAttention - before.memoryAttention) * 1000,
                                  (now.decoder - before.decoder) * 1000, (now.memoryEncoder - before.memoryEncoder) * 1000,
                                  (usage.cpuSeconds - usageBefore.cpuSeconds) * 1000,
                                  usage.involuntarySwitches - usageBefore.involuntarySwitches)
                }
                if checkpoints.contains(t + 1) {
                    let rss = residentMemoryMiB()
                    print(String(format: "frame %5d: RSS %.1f MiB (peak %.1f MiB; anonymous %.1f, files %.1f), tracker memories %.3f MiB",
                                 t + 1, rss.current, rss.peak, rss.anonymous, rss.file, Double(tracker.memoryByteCount) / 1048576))
                }
            }
            let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if let latencyLog { try AtomicFile.write(Data(log.utf8), to: latencyLog) }
            let tracked = max(frames - 1, 1)
            // Work of the tracked frames (FLOPCount: 2 x multiply-adds of products, convolutions
            // and attention, as torch's FLOP counter counts them).
            let count = FLOPCount(sam.config)
            let work = steady.flops(count)
            func line(_ name: String, _ seconds: Double, _ flops: Double) -> String {
                let perFrame = String(format: "%9.1f ms", seconds * 1000 / Double(tracked))
                guard flops > 0, seconds > 0 else { return "  \(name)\(perFrame)" }
                return "  \(name)\(perFrame)" + String(format: "  %7.1f GFLOP %7.1f GFLOPS", flops / 1e9 / Double(tracked), flops / seconds / 1e9)
            }
            print("per tracked frame (frames 2..\(frames), mean; GFLOP per frame and rate):")
            print(line("encoder          ", steady.encoder, work.encoder))
            print(line("memory attention ", steady.memoryAttention, work.memoryAttention))
            print(line("decoder          ", steady.decoder, work.decoder))
            print(line("memory encoder   ", steady.memoryEncoder, work.memoryEncoder))
            print(line("total model      ", steady.total, work.total))
            if steady.memoryAttentionRuns > 0 {
                print("memory tokens attended: mean \(steady.memoryTokens / steady.memoryAttentionRuns) per object and frame")
            }
            let sorted = perFrame.dropFirst().sorted()
            if !sorted.isEmpty {
                let median = sorted[sorted.count / 2], p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
                print(String(format: "frame latency: median %.1f ms, p99 %.1f ms (p99/median %.2f)", median * 1000, p99 * 1000, p99 / median))
            }
            print(String(format: "throughput: %.2f frames/s over %d frames (%.1f s)", Double(frames) / total, frames, total))
            let rss = residentMemoryMiB()
            print(String(format: "resident memory: %.1f MiB, peak %.1f MiB", rss.current, rss.peak))
        }
    }
}

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Time decoding plus preprocessing to the model input (per frame: wall time and CPU time).")

    @Option(name: .long, help: "Video to decode (looped when shorter than --frames).")
    var input: String

    @Option(name: .long, help: "Frames to decode.")
    var frames = 200

    @Option(name: .long, help: "Model input size in pixels.")
    var imageSize = 1024

    @Option(name: .long, help: "libswscale slice threads for the resize (`track` uses 1).")
    var scalerThreads = 1

    func validate() throws {
        guard frames > 0, imageSize > 0, scalerThreads > 0 else {
            throw ValidationError("--frames, --image-size and --scaler-threads must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            var source = try BenchFrames(input: input, imageSize: imageSize, scalerThreads: scalerThreads)
            print("\(input): \(source.width)x\(source.height) -> \(imageSize)x\(imageSize) model input, "
                  + "\(scalerThreads) scaler thread(s), \(frames) frames")
            _ = try source.next()  // the first frame (decoder start-up) is not timed
            let cpuStart = processCPUSeconds(), start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<frames { _ = try source.next() }
            let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, cpu = processCPUSeconds() - cpuStart
            print(String(format: "per frame: %.2f ms wall (decoded ahead on the reader's thread), %.2f ms CPU (all threads)",
                         wall * 1000 / Double(frames), cpu * 1000 / Double(frames)))
        }
    }
}

/// User + system CPU seconds of this process (all threads), from getrusage.
func processCPUSeconds() -> Double { processUsage().cpuSeconds }

/// The process's CPU time (user + system, all threads) and how often the kernel preempted its
/// threads (involuntary context switches), from `getrusage`.
func processUsage() -> (cpuSeconds: Double, involuntarySwitches: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_nivcsw)
}

/// Floating-point operations of each stage, from `FLOPCount` and the work a tracker counted.
struct StageFLOPs {
    var encoder = 0.0, memoryAttention = 0.0, decoder = 0.0, memoryEncoder = 0.0
    var total: Double { encoder + memoryAttention + decoder + memoryEncoder }
}

extension StageTimings {
    /// Adds what happened between `before` and `after` (two readings of one tracker's timings).
    mutating func add(_ after: StageTimings, since before: StageTimings) {
        encoder += after.encoder - before.encoder
        memoryAttention += after.memoryAttention - before.memoryAttention
        decoder += after.decoder - before.decoder
        memoryEncoder += after.memoryEncoder - before.memoryEncoder
        encoderRuns += after.encoderRuns - before.encoderRuns
        memoryAttentionRuns += after.memoryAttentionRuns - before.memoryAttentionRuns
        decoderRuns += after.decoderRuns - before.decoderRuns
        memoryEncoderRuns += after.memoryEncoderRuns - before.memoryEncoderRuns
        memoryTokens += after.memoryTokens - before.memoryTokens
    }

    /// Operations of the counted runs. Memory attention is affine in the memory tokens M, so the
    /// runs' total is runs x F(0) + (sum of M) x (F(1) - F(0)). Decoder runs are tracking runs
    /// (two prompt tokens: the "no point" input and its padding).
    func flops(_ count: FLOPCount) -> StageFLOPs {
        let fixed = count.memoryAttention(memoryTokens: 0)
        let perToken = count.memoryAttention(memoryTokens: 1) - fixed
        return StageFLOPs(encoder: Double(encoderRuns) * count.imageEncoder,
                          memoryAttention: Double(memoryAttentionRuns) * fixed + Double(memoryTokens) * perToken,
                          decoder: Double(decoderRuns) * count.maskDecoder(promptTokens: 2),
                          memoryEncoder: Double(memoryEncoderRuns) * count.memoryEncoder)
    }
}

/// Frames for the tracker benchmark: a decoded video, reopened at its end to loop (nothing is
/// cached, so resident memory measures the tracker), or random noise without a video.
struct BenchFrames {
    let input: String?
    let imageSize: Int
    private(set) var width = 1280, height = 720
    private let options: FrameReaderOptions
    private var reader: FrameReader?
    private var noise: Tensor?

    init(input: String?, imageSize: Int, scalerThreads: Int = 1) throws {
        self.input = input
        self.imageSize = imageSize
        options = FrameReaderOptions(imageSize: imageSize, scalerThreads: scalerThreads)
        if let input {
            let reader = try FrameReader(input: input, options: options)
            width = reader.info.width
            height = reader.info.height
            self.reader = reader
        }
    }

    /// The next frame.
    mutating func next() throws -> Tensor {
        if let input, var current = reader {
            if let frame = try current.next(), let image = frame.image { return image }
            current = try FrameReader(input: input, options: options)
            reader = current
            guard let frame = try current.next(), let image = frame.image else {
                throw CommandFailure("\(input): no frames could be decoded", exit: .dataError)
            }
            return image
        }
        if noise == nil {
            var rng = SystemRandomNumberGenerator()
            noise = Tensor(shape: [1, 3, imageSize, imageSize],
                           values: (0..<(3 * imageSize * imageSize)).map { _ in Float.random(in: -2...2, using: &rng) })
        }
        return noise!
    }
}
