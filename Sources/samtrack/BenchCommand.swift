// `samtrack bench`: measured speed. `bench tracker` (TrackerBench.swift) runs the same run loop
// as `track` and reports every stage; `bench kernels` (KernelBench.swift) times the Tensor
// kernels; `bench decode` times decoding plus preprocessing. Helpers shared by them.

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

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Time decoding plus preprocessing to the model input (per frame: wall time and CPU time).")

    @Option(name: .long, help: "Video to decode (looped when shorter than --frames).")
    var input: String

    @Option(name: .long, parsing: .unconditional, help: "Frames to decode.")
    var frames = 200

    @Option(name: .long, parsing: .unconditional, help: "Model input size in pixels.")
    var imageSize = 1024

    @Option(name: .long, parsing: .unconditional, help: "libswscale slice threads for the resize (`track` uses 1).")
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

/// Frames for the decode benchmark: a decoded video, reopened at its end to loop.
struct BenchFrames {
    let input: String
    let imageSize: Int
    private(set) var width = 0, height = 0
    private let options: FrameReaderOptions
    private var reader: FrameReader

    init(input: String, imageSize: Int, scalerThreads: Int = 1) throws {
        self.input = input
        self.imageSize = imageSize
        options = FrameReaderOptions(imageSize: imageSize, scalerThreads: scalerThreads)
        reader = try FrameReader(input: input, options: options)
        width = reader.info.width
        height = reader.info.height
    }

    /// The next frame.
    mutating func next() throws -> Tensor {
        if let frame = try reader.next(), let image = frame.image { return image }
        reader = try FrameReader(input: input, options: options)
        guard let frame = try reader.next(), let image = frame.image else {
            throw CommandFailure("\(input): no frames could be decoded", exit: .dataError)
        }
        return image
    }
}
