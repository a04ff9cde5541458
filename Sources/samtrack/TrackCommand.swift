// `samtrack track INPUT`: any FFmpeg input to per-frame masks (DESIGN §5, §6).

import ArgumentParser
import Export
import Foundation
import Media
import SAM2
import Tensor
import Tracker
import TrackingRun

struct TrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "track",
        abstract: "Track prompted objects through a video, stream, image sequence or device.",
        discussion: """
        INPUT is anything FFmpeg opens: file.mp4, frames/%05d.jpg, udp://127.0.0.1:5000, tcp://..., \
        /dev/video0, or - for stdin. Prompts use source pixels; ID is a positive object id, optionally \
        ID@FRAME to prompt a later frame (default frame 0). A file is tracked from its first prompted frame \
        to the end, then back to frame 0 (--direction), with the official SAM2VideoPredictor's semantics.
        """)

    @Argument(help: "Video file, image sequence pattern, URL, device, or - for stdin.")
    var input: String

    @OptionGroup var modelOptions: ModelOptions

    // Prompt values are taken even when they start with '-' (`--box -1:...` then gets the message
    // about the id, not "missing value").
    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Box prompt ID[@FRAME]:X1,Y1,X2,Y2. Repeatable.")
    var box: [String] = []

    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Point prompt ID[@FRAME]:X,Y[,LABEL] (LABEL 1 foreground, 0 background). Repeatable.")
    var point: [String] = []

    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Mask prompt ID[@FRAME]:PNG (non-zero pixels are the object, video size). Repeatable.")
    var mask: [String] = []

    @Option(name: .long, help: "Output directory for masks.")
    var output = "samtrack-out"

    @Option(name: .long, help: "Mask format: rle (masks.jsonl), png (per object), palette (per frame).")
    var format: MaskFormat = .rle

    @Option(name: .long, help: "Also write the source video with tinted masks to this .mp4 file.")
    var overlay: String?

    @Option(name: .long, help: "Also write each object's low-res logits per frame as .npy files here.")
    var saveLogits: String?

    @Option(name: .long, parsing: .unconditional, help: "Stop after N frames.")
    var maxFrames: Int?

    @Option(name: .long, help: "forward: from the first prompted frame to the end; backward: from it to frame 0; both: forward then backward (default for files; streams go forward).")
    var direction: TrackingDirection?

    @Flag(name: .long, help: "Live mode: when tracking is slower than the source, skip to the newest frame (automatic for devices and network streams).")
    var live = false

    @Option(name: .long, parsing: .unconditional, help: "Fill background holes up to N pixels in the low-res masks (0 = off).")
    var fillHoles = 8

    @Option(name: .long, help: "Input format for FFmpeg (e.g. v4l2, mpegts), when it cannot be guessed.")
    var inputFormat: String?

    @Option(name: .long, parsing: .unconditional, help: "Stop when the input sends nothing for this many seconds (a stream whose sender stopped); 0 waits forever.")
    var idleTimeout: Double = 10

    @Flag(name: .long, help: "No progress bar or summary.")
    var quiet = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if box.isEmpty && point.isEmpty && mask.isEmpty { throw ValidationError("give at least one --box, --point or --mask") }
        if let maxFrames, maxFrames <= 0 { throw ValidationError("--max-frames must be positive") }
        if live, let direction, direction != .forward { throw ValidationError("--live tracks forward only; drop --direction \(direction.rawValue)") }
        if fillHoles < 0 { throw ValidationError("--fill-holes must be 0 or more") }
        if !(idleTimeout >= 0 && idleTimeout <= 86_400) { throw ValidationError("--idle-timeout must be 0...86400 seconds") }
        // Prompt syntax is checked here, not only in run(), so that the usage printed with the
        // error is this subcommand's.
        _ = try parsePrompts(loadingMasks: false)
    }

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        let prompts = try parsePrompts()
        let summary: TrackingSummary = try reportingErrors {
            let sam = try modelOptions.load()
            let request = TrackingRequest(
                input: input, inputOptions: InputOptions(format: inputFormat, idleTimeout: idleTimeout > 0 ? idleTimeout : nil),
                prompts: prompts,
                output: OutputOptions(directory: output, format: format, overlay: overlay, logitsDirectory: saveLogits),
                maxFrames: maxFrames, live: live ? true : nil,
                trackerOptions: TrackerOptions(fillHoleArea: fillHoles, precision: compute.precision))
            var directed = request
            directed.direction = direction
            let run = TrackingRun(model: sam, request: directed)
            let interrupt = InterruptHandler { run.stop() }
            defer { interrupt.cancel() }
            let bar = ProgressBar(enabled: !quiet)
            let summary = try run.run { bar.update($0) }
            bar.finish()
            return summary
        }
        if !quiet {
            var line = String(format: "tracked %d frames (%dx%d) in %.1f s (%.2f frames/s)", summary.framesTracked,
                              summary.sourceWidth, summary.sourceHeight, summary.seconds,
                              Double(summary.framesTracked) / max(summary.seconds, 1e-9))
            if summary.droppedFrames > 0 { line += ", \(summary.droppedFrames) frames dropped (live)" }
            FileHandle.standardError.write(Data((line + " -> \(output)\n").utf8))
        }
        if summary.stopped { throw ExitCode(CLIExit.interrupted.rawValue) }
        switch summary.endReason {
        case .truncated, .damaged:
            // The outputs hold every frame that could be decoded; the exit status says the input was incomplete.
            throw CommandFailure("\(input): \(summary.sourceEnd.map { "\($0)" } ?? "the input is damaged"); "
                                 + "the masks of the \(summary.framesTracked) frames decoded were written", exit: .dataError)
        case .sourceIdle where !quiet:
            FileHandle.standardError.write(Data("the input sent nothing for \(idleTimeout) s: stopped (--idle-timeout)\n".utf8))
        default: break
        }
    }

    /// Parses ID[@FRAME]:VALUES.
    static func split(_ text: String, option: String) throws -> (id: Int, frame: Int, value: String) {
        guard let colon = text.firstIndex(of: ":") else { throw ValidationError("\(option) '\(text)': expected ID:VALUES") }
        let head = text[..<colon], value = String(text[text.index(after: colon)...])
        let parts = head.split(separator: "@", omittingEmptySubsequences: false)
        guard let id = Int(parts[0]), id > 0 else {
            throw ValidationError("\(option) '\(text)': object id must be a positive integer")
        }
        var frame = 0
        if parts.count == 2 {
            guard let f = Int(parts[1]), f >= 0 else { throw ValidationError("\(option) '\(text)': FRAME must be 0 or more") }
            frame = f
        } else if parts.count > 2 {
            throw ValidationError("\(option) '\(text)': expected ID or ID@FRAME before ':'")
        }
        return (id, frame, value)
    }

    /// The prompts; `loadingMasks: false` checks the syntax without reading the mask images.
    func parsePrompts(loadingMasks: Bool = true) throws -> [TrackingPrompt] {
        var byKey: [String: (id: Int, frame: Int, prompt: ImagePrompt)] = [:]
        func entry(_ id: Int, _ frame: Int) -> String { "\(id)@\(frame)" }
        for text in box {
            let (id, frame, value) = try Self.split(text, option: "--box")
            let v = try PromptParsing.numbers(value, count: 4, what: "--box")
            var current = byKey[entry(id, frame)] ?? (id, frame, ImagePrompt())
            guard current.prompt.box == nil else { throw ValidationError("--box: object \(id) has two boxes on frame \(frame)") }
            current.prompt.box = (v[0], v[1], v[2], v[3])
            byKey[entry(id, frame)] = current
        }
        for text in point {
            let (id, frame, value) = try Self.split(text, option: "--point")
            var current = byKey[entry(id, frame)] ?? (id, frame, ImagePrompt())
            current.prompt.points.append(try PromptParsing.point(value))
            byKey[entry(id, frame)] = current
        }
        var prompts = byKey.values.sorted { ($0.frame, $0.id) < ($1.frame, $1.id) }
            .map { TrackingPrompt(objectID: $0.id, frame: $0.frame, kind: .points($0.prompt)) }
        for text in mask {
            let (id, frame, path) = try Self.split(text, option: "--mask")
            if byKey[entry(id, frame)] != nil { throw ValidationError("--mask: object \(id) already has a point/box prompt on frame \(frame)") }
            let image = loadingMasks ? try reportingErrors { try MaskImage.load(path) } : BinaryMask(width: 1, height: 1)
            prompts.append(TrackingPrompt(objectID: id, frame: frame, kind: .mask(image)))
        }
        return prompts
    }
}

extension MaskFormat: ExpressibleByArgument {}
extension TrackingDirection: ExpressibleByArgument {}

/// Loads a mask image (any format FFmpeg reads): pixels with any non-zero channel are the object.
enum MaskImage {
    static func load(_ path: String) throws -> BinaryMask {
        let reader = try FrameReader(input: path, options: FrameReaderOptions(sourceRGB: true, maxFrames: 1))
        guard let frame = try reader.next(), let rgb = frame.rgb else { throw CommandFailure("\(path): no image could be decoded", exit: .dataError) }
        return BinaryMask(width: rgb.width, height: rgb.height) { x, y in
            let i = (y * rgb.width + x) * 3
            return rgb.pixels[i] != 0 || rgb.pixels[i + 1] != 0 || rgb.pixels[i + 2] != 0
        }
    }
}

/// Calls `handler` once on SIGINT / SIGTERM (the run then stops after the current frame and
/// writes everything it finished); a second signal exits at once.
final class InterruptHandler: @unchecked Sendable {  // set up once in init; the signal sources are only cancelled
    private var sources: [DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            var fired = false
            source.setEventHandler {
                if fired { exit(130) }
                fired = true
                FileHandle.standardError.write(Data("\nstopping after the current frame (again to quit now)\n".utf8))
                handler()
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// A one-line progress display on a terminal: frames, fps, ETA, dropped frames.
final class ProgressBar {
    let enabled: Bool
    private var lastDraw = 0.0

    init(enabled: Bool) { self.enabled = enabled && isatty(STDERR_FILENO) != 0 }

    func update(_ p: FrameProgress) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        var text = "frame \(p.frame + 1)"
        if let total = p.totalFrames, total > 0 {
            let fraction = Double(p.frame + 1) / Double(total)
            let width = 24, filled = Int(fraction * Double(width))
            text = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + "\(p.frame + 1)/\(total)"
            let remaining = Double(total - p.frame - 1) / max(p.framesPerSecond, 1e-9)
            text += String(format: "  ETA %d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        }
        text += String(format: "  %.2f fps", p.framesPerSecond)
        if p.droppedFrames > 0 { text += "  dropped \(p.droppedFrames)" }
        FileHandle.standardError.write(Data(("\r" + text + "\u{1B}[K").utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
