// `samtrack track INPUT`: any FFmpeg input to per-frame masks (DESIGN §5, §6). Options and
// wiring only: prompts come from TrackPrompts, the run from TrackingRun, signals from
// Interruption, the display from Progress and run.json from ManifestRecorder.

import ArgumentParser
import Export
import FileIO
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
        to the end, then back to frame 0 (--direction), with the official SAM2VideoPredictor's semantics. \
        The output directory must be new or empty (--overwrite replaces an earlier run's outputs); \
        run.json beside the masks records the run.
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

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp(
        "Mask prompt ID[@FRAME]:FILE (non-zero pixels are object ID), or [@FRAME:]FILE without an id: every object of a palette (DAVIS) or grey PNG, pixel value = object id. Repeatable.",
        valueName: "mask"))
    var mask: [String] = []

    @Option(name: .long, help: "JSON prompts file: {\"prompts\": [{\"object\": 1, \"frame\": 0, \"box\": [x1, y1, x2, y2]}, ...]} (the daemon's prompt schema).")
    var prompts: String?

    @Option(name: .long, help: "Output directory for masks (must be new or empty unless --overwrite).")
    var output = "samtrack-out"

    @Option(name: .long, help: "Mask format: rle (masks.jsonl), png (per object), palette (per frame). Repeatable or comma-separated to write several.")
    var format: [String] = []

    @Flag(name: .long, help: "Replace an earlier run's outputs in the output and logits directories (only files samtrack writes are removed).")
    var overwrite = false

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

    @OptionGroup var inputSelection: InputSelection

    @Option(name: .long, parsing: .unconditional, help: "Stop when the input sends nothing for this many seconds (a stream whose sender stopped); 0 waits forever.")
    var idleTimeout: Double = 10

    @Option(name: .long, help: "Progress display: bar (redrawn line), plain (a line every 5 s, for logs) or none. Default: bar on a terminal, else plain.")
    var progress: ProgressStyle?

    @Flag(name: .long, help: "No progress or summary (--progress none).")
    var quiet = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if box.isEmpty && point.isEmpty && mask.isEmpty && prompts == nil {
            throw ValidationError("give at least one --box, --point, --mask or --prompts")
        }
        if let maxFrames, maxFrames <= 0 { throw ValidationError("--max-frames must be positive") }
        if live, let direction, direction != .forward { throw ValidationError("--live tracks forward only; drop --direction \(direction.rawValue)") }
        if fillHoles < 0 { throw ValidationError("--fill-holes must be 0 or more") }
        if !(idleTimeout >= 0 && idleTimeout <= 86_400) { throw ValidationError("--idle-timeout must be 0...86400 seconds") }
        if quiet, let progress, progress != .none { throw ValidationError("--quiet contradicts --progress \(progress.rawValue)") }
        _ = try formats()
        // Prompt syntax is checked here, not only in run(), so that the usage printed with the
        // error is this subcommand's.
        _ = try promptOptions.parse(loading: false)
    }

    private var promptOptions: TrackPrompts { TrackPrompts(boxes: box, points: point, masks: mask, promptsFile: prompts) }

    /// `--format`, repeated and comma-separated, without duplicates (default rle).
    func formats() throws -> [MaskFormat] {
        var list: [MaskFormat] = []
        for text in format {
            for name in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let value = MaskFormat(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--format '\(name)': expected rle, png or palette")
                }
                if !list.contains(value) { list.append(value) }
            }
        }
        return list.isEmpty ? [.rle] : list
    }

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        let style: ProgressStyle = quiet ? .none : (progress ?? .automatic)
        let output = OutputOptions(directory: self.output, formats: try formats(), overlay: overlay, logitsDirectory: saveLogits)
        let prompts = try promptOptions.parse()
        if let maxID = output.maxObjectID, let id = prompts.map(\.objectID).first(where: { $0 > maxID }) {
            throw CommandFailure("object id \(id) cannot be stored in a palette PNG (ids 1...\(maxID)); use smaller ids "
                                 + "or --format rle/png", exit: .usage)
        }
        try prepareOutputDirectories()
        let modelPath = try modelOptions.checkpointPath()
        let sam = try reportingErrors { try modelOptions.load() }
        let inputOptions = try inputSelection.inputOptions(idleTimeout: idleTimeout > 0 ? idleTimeout : nil)
        var request = TrackingRequest(
            input: input, inputOptions: inputOptions, prompts: prompts, output: output,
            maxFrames: maxFrames, live: live ? true : nil,
            trackerOptions: TrackerOptions(fillHoleArea: fillHoles, precision: compute.precision))
        request.direction = direction
        let recorder = ManifestRecorder(manifest(request, modelPath: modelPath))
        let run = TrackingRun(model: sam, request: request,
                              hooks: RunHooks(onSourceOpened: { recorder.sourceOpened(width: $0, height: $1, frameCount: $2) }))
        let interrupt = InterruptHandler(stop: { run.stop() }, quit: { Self.quitNow(run, recorder: recorder, output: output) })
        let reporter = ProgressReporter(style: style)
        let outcome: Result<TrackingSummary, RunError>
        do {
            outcome = .success(try run.run { progress in
                recorder.progress(progress)
                reporter.update(progress)
            })
        } catch {
            outcome = .failure(error)
        }
        // From here on this thread ends the process (a second Ctrl-C now waits for it).
        ExitGate.claim()
        withExtendedLifetime(interrupt) {}
        reporter.finish()
        let summary: TrackingSummary
        switch outcome {
        case let .failure(error):
            // run.json goes beside the frames that were written; a run that failed before its first
            // frame leaves nothing (not even the directory's masks.jsonl: `RunOutputs.finishAfterFailure`).
            let failure = CommandFailure(error)
            if recorder.framesReported > 0 {
                recorder.write(endReason: failure.exit == .interrupted ? "interrupted" : "failed",
                               framesTracked: recorder.framesReported, error: failure.description, digestWait: 5)
            }
            throw failure
        case let .success(done): summary = done
        }
        let endReason = summary.stopped ? "interrupted" : summary.endReason.rawValue
        if let error = recorder.write(endReason: endReason, framesTracked: summary.framesTracked, framesDropped: summary.droppedFrames) {
            throw CommandFailure(error)
        }
        if style != .none {
            var line = String(format: "tracked %d frames (%dx%d) in %.1f s (%.2f frames/s)", summary.framesTracked,
                              summary.sourceWidth, summary.sourceHeight, summary.seconds,
                              Double(summary.framesTracked) / max(summary.seconds, 1e-9))
            if summary.droppedFrames > 0 { line += ", \(summary.droppedFrames) frames dropped (live)" }
            FileHandle.standardError.write(Data((line + " -> \(self.output)\n").utf8))
        }
        if summary.stopped { throw ExitCode(CLIExit.interrupted.rawValue) }
        switch summary.endReason {
        case .truncated, .damaged:
            // The outputs hold every frame that could be decoded; the exit status says the input was incomplete.
            throw CommandFailure("\(input): \(summary.sourceEnd.map { "\($0)" } ?? "the input is damaged"); "
                                 + "the masks of the \(summary.framesTracked) frames decoded were written", exit: .dataError)
        case .sourceIdle where style != .none:
            FileHandle.standardError.write(Data("the input sent nothing for \(idleTimeout) s: stopped (--idle-timeout)\n".utf8))
        default: break
        }
    }

    /// The second Ctrl-C: finish the outputs with the frames done, write run.json, `_exit(130)`.
    static func quitNow(_ run: TrackingRun, recorder: ManifestRecorder, output: OutputOptions) -> Never {
        ExitGate.claim()
        switch run.finishNow(timeout: InterruptHandler.quitDeadline) {
        case let .success(frames)?:
            recorder.write(endReason: "interrupted", framesTracked: frames, digestWait: 2)
            FileHandle.standardError.write(Data("quit: \(frames) frames written -> \(output.directory ?? "")\n".utf8))
        case let .failure(error)?:
            FileHandle.standardError.write(Data("Error: \(CommandFailure(error).description)\n".utf8))
        case nil:
            if recorder.hasStarted {
                FileHandle.standardError.write(Data(("quit: the outputs could not be finished within \(Int(InterruptHandler.quitDeadline)) s; "
                    + "masks.jsonl.partial holds the finished frames\n").utf8))
            }
        }
        _exit(CLIExit.interrupted.rawValue)
    }

    /// Refuses a non-empty output or logits directory unless --overwrite (then clears samtrack's
    /// earlier outputs from it: TrackingRun's `OutputDirectory`).
    func prepareOutputDirectories() throws {
        var seen = Set<String>()
        for directory in [output, saveLogits].compactMap({ $0 }) where seen.insert(directory).inserted {
            // An overlay video written into the directory is this run's own file too.
            var own = Set<String>()
            if let overlay {
                let (folder, name) = AtomicFile.split(overlay)
                if URL(fileURLWithPath: folder.isEmpty ? "." : folder).standardizedFileURL.path
                    == URL(fileURLWithPath: directory).standardizedFileURL.path { own.insert(name) }
            }
            do {
                try OutputDirectory.prepare(directory, overwrite: overwrite, ownFiles: own)
            } catch {
                let remedy: String
                if case .notEmpty = error { remedy = ": add --overwrite to replace an earlier run's outputs, or choose a new directory" } else { remedy = "" }
                throw CommandFailure(error.description + remedy, exit: .cannotCreate)
            }
        }
    }

    /// run.json's fixed part.
    private func manifest(_ request: TrackingRequest, modelPath: String) -> RunManifest {
        var options: [String: String] = ["fill_holes": "\(fillHoles)", "precision": compute.precision.rawValue,
                                         "threads": "\(compute.threads ?? ComputeContext.processDefault.threads)",
                                         "idle_timeout": "\(idleTimeout)"]
        if let maxFrames { options["max_frames"] = "\(maxFrames)" }
        if live { options["live"] = "true" }
        let inputOptions = request.inputOptions.options
        return RunManifest(samtrackVersion: Samtrack.configuration.version, command: CommandLine.arguments,
                           source: RunManifest.Source(input: input, inputFormat: inputSelection.inputFormat,
                                                      inputOptions: inputOptions.isEmpty ? nil : inputOptions),
                           model: RunManifest.Model(path: modelPath, config: modelOptions.config),
                           prompts: request.prompts.compactMap(PromptSpec.init), outputs: RunManifest.Outputs(request.output),
                           options: options)
    }
}
extension TrackingDirection: ExpressibleByArgument {}
