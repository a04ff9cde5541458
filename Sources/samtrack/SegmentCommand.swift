// `samtrack segment IMAGE`: one image, points and/or a box, a mask PNG out (ImagePredictor).

import ArgumentParser
import Foundation
import Export
import Media
import SAM2
import Tensor

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Segment one image from points and/or a box.")

    @Argument(help: "Image file (anything FFmpeg reads: JPEG, PNG, ...).")
    var image: String

    @OptionGroup var modelOptions: ModelOptions

    // Values may start with '-' (a negative coordinate then gets the out-of-image message).
    @Option(name: .long, parsing: .unconditional, help: "Box X1,Y1,X2,Y2 in image pixels.")
    var box: String?

    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Point X,Y[,LABEL] in image pixels; LABEL 1 foreground (default), 0 background. Repeatable.")
    var point: [String] = []

    @Flag(name: .long, help: "Predict three masks and keep the one with the highest predicted IoU.")
    var multimask = false

    @Option(name: .long, help: "Output PNG (8-bit grey, 0 or 255, image resolution).")
    var output: String

    @Option(name: .long, help: "Also write the low-res logits of the chosen mask as a float32 .npy file.")
    var saveLogits: String?

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if box == nil && point.isEmpty { throw ValidationError("give at least one --point or a --box") }
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
            let reader = try FrameReader(input: image, options: FrameReaderOptions(imageSize: sam.config.imageSize, maxFrames: 1))
            guard let frame = try reader.next(), let input = frame.image else {
                throw CommandFailure("\(image): no image could be decoded", exit: .dataError)
            }
            let predictor = ImagePredictor(model: sam)
            let features = Precision.$current.withValue(compute.precision) {
                predictor.setImage(input, sourceHeight: frame.height, sourceWidth: frame.width)
            }
            let prediction = try predictor.predict(features, prompt: prompt, multimaskOutput: multimask)
            let best = multimask ? prediction.bestIndex : 0
            let plane = frame.height * frame.width
            let pixels: [UInt8] = prediction.masks.withUnsafeBufferPointer { p in
                (0..<plane).map { p[best * plane + $0] > 0 ? 255 : 0 }
            }
            try PNGWriter().writeGray(pixels, width: frame.width, height: frame.height, to: output)
            if let saveLogits {
                let low = prediction.lowResLogits.slice(axis: 0, best..<(best + 1))
                try NPYFile.write(low.reshaped(Array(low.shape.dropFirst())), to: saveLogits)
            }
            let area = pixels.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
            print("mask \(best): IoU prediction \(String(format: "%.3f", prediction.iou[best])), object score \(String(format: "%.2f", prediction.objectScore)), area \(area) px -> \(output)")
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
