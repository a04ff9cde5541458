// `samtrack render INPUT MASKS --output overlay.mp4`: an overlay video drawn from masks an earlier
// run wrote (TrackingRun's `OverlayRendering` over `StoredMasks`). Options and wiring only.

import ArgumentParser
import Foundation
import Media
import TrackingRun

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Draw an overlay video from existing masks over their source video.",
        discussion: """
        MASKS is what samtrack track wrote: a masks.jsonl file, or its output directory (masks.jsonl, \
        palette PNGs 00000.png..., or per-object folders 1/00000.png...). Frame N of the masks is drawn \
        on the N-th frame of INPUT; the masks must have the video's size.
        """)

    @Argument(help: "The source video the masks were tracked on (anything FFmpeg opens).")
    var input: String

    @Argument(help: "masks.jsonl, or a directory of masks written by samtrack track.")
    var masks: String

    @Option(name: .long, help: "The overlay video to write (.mp4; replaced when it exists).")
    var output: String

    @Option(name: .long, parsing: .unconditional, help: "Stop after N frames.")
    var maxFrames: Int?

    @OptionGroup var inputSelection: InputSelection

    @Flag(name: .long, help: "No progress or summary.")
    var quiet = false

    func validate() throws {
        if let maxFrames, maxFrames <= 0 { throw ValidationError("--max-frames must be positive") }
    }

    func run() throws {
        let stored = try reportingErrors { try StoredMasks(path: masks) }
        let stop = InterruptSignal()
        // Ctrl-C finishes the video with the frames drawn; a second one quits (the temporary file stays).
        let interrupt = InterruptHandler(stop: { stop.interrupt() }, quit: { _exit(CLIExit.interrupted.rawValue) })
        let reporter = ProgressReporter(style: quiet ? .none : .automatic)
        let summary = try reportingErrors {
            try OverlayRendering.render(input: input, inputOptions: try inputSelection.inputOptions(), masks: stored,
                                        output: output, maxFrames: maxFrames, interrupt: stop) { frame, total in
                reporter.update(frame: frame, total: total)
            }
        }
        withExtendedLifetime(interrupt) {}
        reporter.finish()
        if !quiet {
            FileHandle.standardError.write(Data(("rendered \(summary.frames) frames (\(summary.width)x\(summary.height)), "
                + "\(summary.framesWithMasks) with masks -> \(output)\n").utf8))
        }
        if stop.isInterrupted { throw ExitCode(CLIExit.interrupted.rawValue) }
    }
}
