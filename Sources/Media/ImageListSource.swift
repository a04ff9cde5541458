// ImageListSource: the frames of an `ImageSequence`, one file after the other, as a
// `FrameSource` for `FrameReader`. Works for any list (gaps in the numbering, names of several
// patterns, numbers past image2's search range), and each file is opened with the caller's
// `InputOptions` (so a confinement applies to every frame).
//
// Timing: frame k is at k / rate seconds, the rate being the `framerate` input option when given
// (as image2 reads it: `30`, `30000/1001`), else 25 frames per second (image2's default).

import CFFmpeg
import Foundation

/// Decodes the images of a sequence in order. Not thread-safe (one reading thread; `interrupt()`
/// from any thread).
public final class ImageListSource: FrameSource, @unchecked Sendable {  // one reading thread; `interrupt()` sets a flag
    public let info: VideoInfo
    /// The images read.
    public let sequence: ImageSequence
    public private(set) var decodeErrors = 0
    public private(set) var endReason: EndReason?

    private let imageOptions: InputOptions
    /// Set by `interrupt()`: this source's own flag (a caller's `InputOptions.interrupt` may be
    /// shared with other inputs, so it is only read).
    private let stopped = InterruptSignal()
    private let rate: Rational
    private var position = 0
    private var closed = false

    /// Prepares reading `sequence`; opens its first image to describe the stream.
    /// - Throws: the first image's open errors; `.invalidArgument` for a bad `framerate` option.
    public init(_ sequence: ImageSequence, options: InputOptions = InputOptions()) throws {
        var options = options
        let rate: Rational
        if let text = options.options.removeValue(forKey: "framerate") {
            guard let parsed = Self.parseRate(text) else {
                throw MediaError.invalidArgument("framerate '\(text)' for '\(sequence.input)' is not a rate such as 30 or 30000/1001")
            }
            rate = parsed
        } else {
            rate = Rational(25, 1)
        }
        // One picture per file: decoder threads would only add start-up cost.
        options.decoderThreads = 1
        options.live = false
        let first = try VideoSource(sequence.images[0].path, options: options)
        defer { first.close() }
        let count = sequence.images.count
        info = VideoInfo(
            input: sequence.input, url: sequence.input, formatName: Self.formatName,
            codecName: first.info.codecName, streamIndex: 0,
            width: sequence.width, height: sequence.height, pixelFormat: first.info.pixelFormat,
            frameRate: rate, timeBase: Rational(rate.denominator, rate.numerator),
            duration: Double(count) * Double(rate.denominator) / Double(rate.numerator),
            frameCount: count, isLive: false)
        self.sequence = sequence
        self.imageOptions = options
        self.rate = rate
    }

    /// `VideoInfo.formatName` of image lists.
    public static let formatName = "image_sequence"

    /// The next image, decoded, with its frame number; nil after the last.
    /// - Throws: the file's own open or decode error (naming the file), `.invalidArgument` when
    ///   it decodes to another size than the sequence's, `.interrupted`.
    public func nextFrame() throws -> DecodedFrame? {
        guard !closed, position < sequence.images.count else { return nil }
        do {
            if stopped.isInterrupted { throw MediaError.interrupted(input: sequence.input) }
            let frame = try Self.decode(sequence.images[position], index: position, sequence: sequence,
                                        options: imageOptions, seconds: Self.seconds(ofFrame: position, rate: rate))
            position += 1
            if position == sequence.images.count { endReason = .endOfStream }
            return frame
        } catch let error as MediaError {
            endReason = .failed(error)
            position = sequence.images.count
            throw error
        }
    }

    public func interrupt() { stopped.interrupt() }

    public func close() { closed = true }

    /// Decodes image `index` of `sequence` as frame `index` (numbered by its file name).
    static func decode(_ image: ImageSequence.Image, index: Int, sequence: ImageSequence, options: InputOptions,
                       seconds: Double?) throws -> DecodedFrame {
        if options.interrupt?.isInterrupted == true { throw MediaError.interrupted(input: sequence.input) }
        let source = try VideoSource(image.path, options: options)
        defer { source.close() }
        guard let decoded = try source.nextFrame() else {
            throw MediaError.notMediaFile(input: image.path, reason: "no picture could be decoded")
        }
        guard decoded.width == sequence.width, decoded.height == sequence.height else {
            throw MediaError.invalidArgument(
                "the images of '\(sequence.input)' differ in size: '\(image.path)' decodes to \(decoded.width)x\(decoded.height), "
                    + "the sequence is \(sequence.width)x\(sequence.height) (every frame must have the same size)")
        }
        return DecodedFrame(referencing: decoded, index: index, pts: seconds, number: image.number)
    }

    /// The time of frame `index` at `rate` frames per second.
    static func seconds(ofFrame index: Int, rate: Rational) -> Double {
        Double(index) * Double(rate.denominator) / Double(rate.numerator)
    }

    /// `30`, `29.97`, `30000/1001` -> a positive rational.
    static func parseRate(_ text: String) -> Rational? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let num = Int(parts[0]), let den = Int(parts[1]), num > 0, den > 0 {
            return Rational(num, den)
        }
        if parts.count == 1, let value = Double(text), value > 0, value.isFinite {
            if let whole = Int(exactly: value) { return Rational(whole, 1) }
            return Rational(Int((value * 1000).rounded()), 1000)
        }
        return nil
    }
}
