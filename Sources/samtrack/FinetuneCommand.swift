// `samtrack finetune`: trains the prompt encoder and mask decoder of a model on annotated frames
// (DAVIS folders, a COCO instances file, or a video with masks.jsonl) and writes an official-format
// checkpoint (DESIGN §11). Options and wiring only: the run is Training's `FinetuneRun`.

import ArgumentParser
import Foundation
import SAM2
import Training

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune the prompt encoder and mask decoder on annotated frames; write an official .pt.",
        discussion: """
        The image encoder stays frozen: its features (and, for video frames, the memory of the \
        ground-truth masks of earlier frames) are computed once per frame. Each step draws \
        --batch samples: an object on a frame prompted with a point or a jittered box and \
        correction clicks, or tracked onto a frame through its memory; the loss is \
        the official training's (focal x20 + Dice on the best mask, IoU and object-score terms). \
        Ctrl-C saves the weights and the run's state (OUT.pt.state); --resume continues it.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Training data: a DAVIS folder (JPEGImages/, Annotations/), a COCO instances .json (or its folder), or a folder with masks.jsonl and the video.")
    var data: String

    @Option(name: .long, help: "Data layout: davis, coco or jsonl (default: told from the folder).")
    var format: TrainingDataFormat?

    @Option(name: .long, help: "The video of a masks.jsonl (default: video.* beside it).")
    var video: String?

    @Option(name: .long, help: "Output checkpoint (.pt, official format); OUT.pt.state keeps the run for --resume.")
    var output: String

    @Option(name: .long, help: "Optimizer steps.")
    var steps = 1000

    @Option(name: .long, help: "Samples (an object on a frame) per step.")
    var batch = 4

    @Option(name: .customLong("lr-decoder"), help: "Learning rate of the mask decoder.")
    var lrDecoder = 5e-6

    @Option(name: .customLong("lr-prompt-encoder"), help: "Learning rate of the prompt encoder.")
    var lrPromptEncoder = 5e-6

    @Option(name: .long, help: "AdamW weight decay (none on biases and LayerNorm weights).")
    var weightDecay = 1e-4

    @Option(name: .long, help: "Fraction of sequences held out for evaluation (one sequence: its last frames).")
    var holdout = 0.1

    @Option(name: .long, help: "Evaluate the held-out split (mean IoU) every N steps; 0: only before and after.")
    var evalEvery = 100

    @Option(name: .long, help: "Seed of every random choice; the same seed gives the same run.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Linear warm-up steps before the schedule.")
    var warmup = 50

    @Option(name: .long, help: "Learning-rate schedule after the warm-up: cosine (to 1/10), step (x0.1 after 2/3) or constant.")
    var schedule: LearningRateSchedule = .cosine

    @Option(name: .long, help: "Correction clicks after a point or box prompt (official recipe: 7).")
    var corrections = 7

    @Option(name: .customLong("clip-grad"), help: "Clip the gradient to this global L2 norm (0: off).")
    var clipGrad = 0.1

    @Option(name: .long, help: "Fraction of samples that are tracked frames (video data).")
    var trackedFraction = 0.5

    @Option(name: .long, help: "Folder for the cached features (default: memory, or a temporary folder for large sets).")
    var cache: String?

    @Flag(name: .long, help: "Continue the run saved in OUT.pt.state (same model, data and options; --steps may grow).")
    var resume = false

    @Flag(name: .long, help: "No progress or summary.")
    var quiet = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if steps < 0 { throw ValidationError("--steps must be 0 or more") }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if !(lrDecoder >= 0) || !(lrPromptEncoder >= 0) { throw ValidationError("learning rates must be 0 or more") }
        if !(weightDecay >= 0) { throw ValidationError("--weight-decay must be 0 or more") }
        if !(holdout >= 0 && holdout < 1) { throw ValidationError("--holdout must be in [0, 1)") }
        if evalEvery < 0 { throw ValidationError("--eval-every must be 0 or more") }
        if warmup < 0 { throw ValidationError("--warmup must be 0 or more") }
        if corrections < 0 { throw ValidationError("--corrections must be 0 or more") }
        if !(clipGrad >= 0) { throw ValidationError("--clip-grad must be 0 or more") }
        if !(trackedFraction >= 0 && trackedFraction <= 1) { throw ValidationError("--tracked-fraction must be in [0, 1]") }
    }

    func run() throws {
        try compute.apply()
        var options = FinetuneOptions()
        options.steps = steps
        options.batch = batch
        options.learningRateDecoder = lrDecoder
        options.learningRatePromptEncoder = lrPromptEncoder
        options.weightDecay = weightDecay
        options.holdout = holdout
        options.evalEvery = evalEvery
        options.seed = seed
        options.warmup = warmup
        options.schedule = schedule
        options.corrections = corrections
        options.gradientClip = clipGrad
        options.trackedFraction = trackedFraction
        let summary: FinetuneSummary = try reportingErrors {
            do {
                var request = FinetuneRequest(model: try modelOptions.checkpointPath(), data: data, output: output)
                request.config = try modelOptions.config.map { try ConfigInference.load(configFile: $0) }
                request.format = format
                request.video = video
                request.resume = resume
                request.options = options
                request.cacheDirectory = cache
                let run = FinetuneRun(request)
                let display = FinetuneDisplay(enabled: !quiet)
                run.onPreparation = display.preparation
                run.onData = display.data
                run.onStep = display.step
                run.onEvaluation = display.evaluation
                // Ctrl-C: stop after the current step and save the weights and the state; a second
                // one quits at once (the state saved at the last evaluation stays).
                let interrupt = InterruptHandler(stop: { run.stop() }, quit: { _exit(CLIExit.interrupted.rawValue) },
                                                 stopNote: "stopping after the current step, then saving (again to quit now)",
                                                 quitNote: "quitting now, without saving (the state of the last evaluation stays)")
                let summary = try run.run()
                withExtendedLifetime(interrupt) {}
                display.finish(summary)
                return summary
            } catch let error as TrainingDataError {
                if case .missing = error { throw CommandFailure(error.description, exit: .noInput) }
                throw CommandFailure(error.description, exit: .dataError)
            } catch let error as FinetuneError {
                switch error {
                case .noState, .resumeMismatch, .invalidOptions: throw CommandFailure(error.description, exit: .usage)
                case .badState, .noTrainingSamples: throw CommandFailure(error.description, exit: .dataError)
                }
            }
        }
        if summary.stopped { throw ExitCode(CLIExit.interrupted.rawValue) }
    }
}

extension TrainingDataFormat: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}

/// Progress on a terminal (one redrawn line) and a line per evaluation and at the end on stderr.
final class FinetuneDisplay {
    let enabled: Bool, terminal: Bool
    private var lastDraw = 0.0
    private var latestIoU: Double?
    private var stepSeconds: [Double] = []

    init(enabled: Bool) {
        self.enabled = enabled
        terminal = enabled && isatty(STDERR_FILENO) != 0
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    func preparation(_ done: Int, _ total: Int) {
        guard terminal else { return }
        write("\rencoding frames \(done)/\(total)\u{1B}[K")
        if done == total { write("\r\u{1B}[K") }
    }

    func data(_ data: TrainingData, _ samples: TrainingSamples) {
        guard enabled else { return }
        write("\(data.format.rawValue) data: \(data.sequences.count) sequences, \(data.frameCount) annotated frames; "
              + "training samples: \(samples.trainPrompted.count) prompted, \(samples.trainTracked.count) tracked; "
              + "held out: \(samples.heldOut.count)\n")
    }

    func step(_ report: StepReport) {
        stepSeconds.append(report.seconds)
        guard terminal else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastDraw >= 0.2 || report.step == report.steps else { return }
        lastDraw = now
        let recent = stepSeconds.suffix(20)
        let perStep = recent.reduce(0, +) / Double(max(recent.count, 1))
        let remaining = Double(report.steps - report.step) * perStep
        let width = 20, filled = report.steps > 0 ? report.step * width / report.steps : width
        var text = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
        text += "\(report.step)/\(report.steps)" + String(format: "  loss %.4f  lr %.2e", report.loss, report.learningRateDecoder)
        if let latestIoU { text += String(format: "  held-out IoU %.4f", latestIoU) }
        text += String(format: "  %.2f s/step  ETA %d:%02d", perStep, Int(remaining) / 60, Int(remaining) % 60)
        write("\r" + text + "\u{1B}[K")
    }

    func evaluation(_ report: EvalReport) {
        latestIoU = report.meanIoU
        guard enabled else { return }
        var text = String(format: "step %d: held-out mean IoU %.4f (%d samples", report.step, report.meanIoU, report.samples)
        if let p = report.promptedIoU { text += String(format: "; prompted %.4f", p) }
        if let t = report.trackedIoU { text += String(format: "; tracked %.4f", t) }
        write((terminal ? "\r\u{1B}[K" : "") + text + ")\n")
    }

    func finish(_ summary: FinetuneSummary) {
        guard enabled else { return }
        if terminal { write("\r\u{1B}[K") }
        var text = summary.stopped ? "stopped after step \(summary.steps)" : "trained \(summary.steps) steps"
        if let s = summary.secondsPerStep { text += String(format: " (%.3f s/step)", s) }
        // The loss trend: the mean of the first and of the last tenth of the steps (at least one).
        let losses = summary.losses
        if losses.count >= 2 {
            let n = max(1, losses.count / 10)
            let first = losses.prefix(n).reduce(0, +) / Double(n), last = losses.suffix(n).reduce(0, +) / Double(n)
            text += String(format: "; loss %.4f -> %.4f (mean of the first and last %d steps)", first, last, n)
        }
        if let first = summary.evaluations.first, let last = summary.evaluations.last, first.step != last.step {
            text += String(format: "; held-out mean IoU %.4f -> %.4f", first.meanIoU, last.meanIoU)
        }
        text += "; wrote \(summary.output) and \(summary.state)"
        if summary.stopped { text += " (continue with --resume)" }
        write(text + "\n")
    }
}
