// FrameSource: what `FrameReader` decodes from — a `VideoSource` (anything FFmpeg opens) or an
// `ImageListSource` (a directory or glob of images, one file per frame) — and `MediaInput.open`,
// which picks one for an input name.

/// A source of decoded frames in order. Not thread-safe: one thread reads at a time; only
/// `interrupt()` may be called from another thread.
public protocol FrameSource: AnyObject, Sendable {
    /// Stream description.
    var info: VideoInfo { get }
    /// Frames or packets that could not be decoded and were skipped.
    var decodeErrors: Int { get }
    /// Why decoding ended; nil while frames may still come.
    var endReason: EndReason? { get }
    /// The next frame, or nil at the end.
    func nextFrame() throws -> DecodedFrame?
    /// Aborts blocking I/O and makes later reads fail with `.interrupted` (any thread).
    func interrupt()
    /// Frees the decoder and the input now; later reads return nil. Idempotent.
    func close()
}

extension VideoSource: FrameSource {}

/// Opens inputs by name.
public enum MediaInput {
    /// Opens `input` for sequential decoding: a directory of JPEG/PNG files or a glob pattern
    /// (`frames/*.jpg`) as an `ImageListSource` (see `imageSequence`), anything else as a
    /// `VideoSource` (files, image2 patterns such as `frames/%05d.png`, URLs, devices, `-`).
    /// - Throws: `MediaError` naming the input (or, for image lists, the file at fault).
    public static func open(_ input: String, options: InputOptions = InputOptions()) throws -> any FrameSource {
        if let sequence = try imageSequence(input, options: options) {
            return try ImageListSource(sequence, options: options)
        }
        return try VideoSource(input, options: options)
    }

    /// The image sequence `input` names (`ImageSequence.resolve`), or nil when it names
    /// something else. A forced demuxer (`options.format`: lavfi graphs may contain `[`, image2
    /// takes its own patterns) means FFmpeg reads the input as it is.
    public static func imageSequence(_ input: String, options: InputOptions) throws -> ImageSequence? {
        guard options.format == nil else { return nil }
        return try ImageSequence.resolve(input, confinement: options.confinement)
    }
}
