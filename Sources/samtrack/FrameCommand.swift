// `samtrack frame INPUT N --output f.png`: frame N as the tracker decodes it, at the source size
// (Media: `RandomAccessVideo` for files, image sequences and patterns; a pipe, stream or device
// is read forward to frame N). Options and wiring only.

import ArgumentParser
import Foundation
import Media

struct FrameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frame", abstract: "Write frame N of an input as a PNG, exactly as the tracker decodes it.",
        discussion: """
        The PNG holds the decoded frame converted to RGB at the source size: the picture prompts refer to, \
        which the tracker scales to the model's input size. N is numbered as track numbers frames: from 0, \
        or by the file names of a numbered image sequence (00017.jpg is frame 17). A pipe, stream or \
        device is read from its start up to frame N.
        """)

    @Argument(help: "Video file, image sequence (directory or glob), image2 pattern, URL, device, or - for stdin.")
    var input: String

    @Argument(help: "Frame number.")
    var number: Int

    @Option(name: .long, help: "The PNG file to write (RGB, source size).")
    var output: String

    @OptionGroup var inputSelection: InputSelection

    func validate() throws {
        if number < 0 { throw ValidationError("frame number \(number) is negative: frames count from 0") }
        guard output.lowercased().hasSuffix(".png") else {
            throw ValidationError("--output '\(output)': the frame is written as PNG (lossless); name a .png file")
        }
    }

    func run() throws {
        try reportingErrors {
            let options = try inputSelection.inputOptions()
            let image: RGBImage
            let opened: RandomAccessVideo?
            do {
                opened = RandomAccessVideo.isForwardOnly(input) ? nil : try RandomAccessVideo(input, options: options)
            } catch MediaError.invalidArgument(_) {
                opened = nil  // not seekable (a stream): read forward; other refusals come back from the reader
            }
            if let video = opened {
                defer { video.close() }
                guard let index = video.numbering.index(ofNumber: number), index < video.frameCount else {
                    throw CommandFailure(Self.missing(number, of: input, video: video), exit: .dataError)
                }
                image = try video.sourceRGB(index)
            } else {
                image = try Self.readForward(input, options: options, number: number)
            }
            try PNGWriter().writeRGB(image, to: output)
            print("frame \(number) (\(image.width)x\(image.height)) -> \(output)")
        }
    }

    /// Why frame `number` is not in `video`, naming its frames.
    static func missing(_ number: Int, of input: String, video: RandomAccessVideo) -> String {
        if let numbers = video.numbering.numbersDescription {
            return "\(input): no frame is numbered \(number): the frames are numbered \(numbers) by their file names"
        }
        return "\(input): frame \(number) is past the end (\(video.frameCount) frames: 0...\(video.frameCount - 1))"
    }

    /// Frame `number` of a forward-only input, decoding from its start.
    static func readForward(_ input: String, options: InputOptions, number: Int) throws -> RGBImage {
        let reader = try FrameReader(input: input, inputOptions: options,
                                     options: FrameReaderOptions(sourceRGB: true, live: false, maxFrames: number + 1))
        defer { reader.stop() }
        var count = 0
        while let frame = try reader.next() {
            if count == number, let rgb = frame.rgb { return rgb }
            count += 1
        }
        throw CommandFailure("\(input): frame \(number) is past the end (the input ended after \(count) frames)", exit: .dataError)
    }
}
