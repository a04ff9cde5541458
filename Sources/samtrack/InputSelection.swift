// InputSelection: how FFmpeg opens INPUT (`--input-format`, `--input-option`), for the commands
// that read a video: track and render.

import ArgumentParser
import Media

/// `--input-format` and `--input-option KEY=VALUE` (repeatable), as Media's `InputOptions`.
struct InputSelection: ParsableArguments {
    @Option(name: .long, help: "Input format for FFmpeg (e.g. v4l2, mpegts, rawvideo), when it cannot be guessed.")
    var inputFormat: String?

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp(
        "Demuxer, protocol or device option KEY=VALUE for FFmpeg (e.g. video_size=640x480, framerate=30); an option FFmpeg does not know is an error. Repeatable.",
        valueName: "key=value"))
    var inputOption: [String] = []

    func validate() throws { _ = try demuxerOptions() }

    /// The `--input-option`s as a dictionary.
    func demuxerOptions() throws -> [String: String] {
        var options: [String: String] = [:]
        for text in inputOption {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw ValidationError("--input-option '\(text)': expected KEY=VALUE (e.g. video_size=640x480)")
            }
            let key = String(text[..<equals])
            guard options[key] == nil else { throw ValidationError("--input-option: \(key) is given twice") }
            options[key] = String(text[text.index(after: equals)...])
        }
        return options
    }

    /// Media's options for the input (`idleTimeout` in seconds, nil: wait as long as the protocol does).
    func inputOptions(idleTimeout: Double? = nil) throws -> InputOptions {
        InputOptions(format: inputFormat, options: try demuxerOptions(), idleTimeout: idleTimeout)
    }
}
