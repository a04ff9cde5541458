// `samtrack segment INPUT`: one frame, points and/or a box, the mask `track` would give on that
// frame for the same prompt (TrackingRun's `PromptFrameSegmentation`), as a grey PNG and/or a
// preview PNG (Export's `SegmentPreview`). Options and wiring only.

import ArgumentParser
import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker
import TrackingRun

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Segment one frame from points and/or a box, as track starts from it.",
        discussion: """
        The mask is the one samtrack track gives on that frame for the same prompt and --fill-holes \
        (the official video predictor's prompt step: one click gives three candidates and keeps the one \
        with the highest predicted IoU; a box or several clicks give one mask), so a preview here is what \
        tracking starts from. Frames are numbered as track numbers them (frame 0 first; a numbered image \
        sequence by its file names).
        """)

    @Argument(help: "Image, video file, image sequence (directory or glob) or image2 pattern.")
    var input: String

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, parsing: .unconditional, help: "Frame number to segment (default: the first frame).")
    var frame: Int?

    // Values may start with '-' (a negative coordinate then gets the out-of-image message).
    @Option(name: .long, parsing: .unconditional, help: "Box X1,Y1,X2,Y2 in source pixels.")
    var box: String?

    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Point X,Y[,LABEL] in source pixels; LABEL 1 foreground (default), 0 background. Repeatable.")
    var point: [String] = []

    @Flag(name: .long, help: "Also show the candidate masks the decoder chose from, with their predicted IoU (on stdout, and as panels beside the --overlay preview).")
    var multimask = false

    @Option(name: .long, help: "Write the mask as a PNG (8-bit grey, 0 or 255, source size).")
    var output: String?

    @Option(name: .long, help: "Write a preview PNG: the mask drawn over the frame, the prompt marked (with --multimask, one more panel per candidate).")
    var overlay: String?

    @Option(name: .long, help: "Also write the low-res logits of the mask as a float32 .npy file.")
    var saveLogits: String?

    @Option(name: .long, parsing: .unconditional, help: "Fill background holes up to N pixels in the low-res mask (0 = off), as track does.")
    var fillHoles = 8

    @OptionGroup var inputSelection: InputSelection

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if box == nil && point.isEmpty { throw ValidationError("give at least one --point or a --box") }
        if output == nil && overlay == nil { throw ValidationError("give --output (the mask) and/or --overlay (a preview)") }
        if let frame, frame < 0 { throw ValidationError("--frame must be 0 or more") }
        if fillHoles < 0 { throw ValidationError("--fill-holes must be 0 or more") }
        // Syntax is checked here too, so that the usage printed with the error is this subcommand's.
        if let box { _ = try PromptParsing.numbers(box, count: 4, what: "--box") }
        for p in point { _ = try PromptParsing.point(p) }
    }

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        var prompt = ImagePrompt()
        if let box {
            let v = try PromptParsing.numbers(box, count: 4, what: "--box")
            prompt.box = (v[0], v[1], v[2], v[3])
        }
        for p in point { prompt.points.append(try PromptParsing.point(p)) }
        try reportingErrors {
            let sam = try modelOptions.load()
            let result = try PromptFrameSegmentation.segment(
                model: sam, input: input, inputOptions: try inputSelection.inputOptions(), frame: frame, prompt: .points(prompt),
                options: TrackerOptions(fillHoleArea: fillHoles, precision: compute.precision))
            let mask = result.mask
            if let output {
                let pixels = mask.withUnsafeBufferPointer { $0.map { $0 != 0 ? UInt8(255) : 0 } }
                try PNGWriter().writeGray(pixels, width: mask.width, height: mask.height, to: output)
            }
            if let overlay {
                let candidates = multimask ? result.candidates.enumerated().map { j, c in
                    SegmentPreview.Candidate(mask: c.mask, iou: c.iou, chosen: j == result.chosen)
                } : []
                let preview = try SegmentPreview.render(
                    frame: result.sourceRGB, mask: mask,
                    points: prompt.points.map { SegmentPreview.Point(x: $0.x, y: $0.y, foreground: $0.label == 1) },
                    box: prompt.box, candidates: candidates)
                try PNGWriter().writeRGB(preview, to: overlay)
            }
            if let saveLogits { try NPYFile.write(result.lowResLogits, to: saveLogits) }
            print("frame \(result.frameNumber): object score \(String(format: "%.2f", result.objectScore)), area \(mask.area) px -> "
                  + [output, overlay].compactMap { $0 }.joined(separator: ", "))
            if multimask {
                if result.candidates.isEmpty { print("one mask: a box or several clicks are not ambiguous (one click gives three candidates)") }
                for (j, c) in result.candidates.enumerated() {
                    print("candidate \(j): IoU prediction \(String(format: "%.3f", c.iou)), area \(c.mask.area) px"
                          + (j == result.chosen ? " (chosen)" : ""))
                }
            }
        }
    }
}

/// Parsing of prompt arguments shared by the commands.
enum PromptParsing {
    /// `count` comma-separated numbers.
    static func numbers(_ text: String, count: Int, what: String) throws -> [Float] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == count, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
            throw ValidationError("\(what) '\(text)': expected \(count) comma-separated numbers")
        }
        return parts.map { $0! }
    }

    /// X,Y[,LABEL].
    static func point(_ text: String) throws -> (x: Float, y: Float, label: Int) {
        let parts = text.split(separator: ",").map(String.init)
        guard parts.count == 2 || parts.count == 3 else { throw ValidationError("--point '\(text)': expected X,Y or X,Y,LABEL") }
        let xy = try numbers(parts[0] + "," + parts[1], count: 2, what: "--point")
        var label = 1
        if parts.count == 3 {
            guard let l = Int(parts[2]), l == 0 || l == 1 else { throw ValidationError("--point '\(text)': LABEL must be 1 (foreground) or 0 (background)") }
            label = l
        }
        return (xy[0], xy[1], label)
    }
}
