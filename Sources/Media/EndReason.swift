// EndReason: why decoding of an input stopped, so that callers can tell a complete input from a
// cut-off file or one with undecodable frames (which otherwise both just "end").

/// How decoding of an input ended (`VideoSource.endReason`, `FrameReader.endReason`).
///
/// A truncated file is recognised by its container's declared frame count (`VideoInfo.frameCount`,
/// e.g. MP4's sample count): the demuxer delivered fewer packets of the video stream than it
/// declares, or (MP4, AVI...) its index points past the end of the file. Containers without a
/// count or index (MPEG-TS, raw streams, live inputs) can only end with `.endOfStream`,
/// `.decodeErrors`, `.failed` or `.stopped`.
public enum EndReason: Sendable, Equatable, CustomStringConvertible {
    /// The input ended after every frame it declares (or it declares no count) and every packet
    /// decoded.
    case endOfStream
    /// The input ended early: its container declares `expected` frames (MP4: the samples its
    /// index holds), the demuxer delivered `packets` packets of the video stream and `got` frames
    /// were decoded. A cut-off file.
    case truncated(expected: Int, got: Int, packets: Int)
    /// The input ended, but `count` packets or frames could not be decoded and were skipped
    /// (corruption inside the stream); `last` is FFmpeg's text for the last failure.
    case decodeErrors(count: Int, last: String)
    /// Decoding failed before the end (a read error, a file outside the allowed directories, a
    /// frame that could not be converted...): the frames decoded before the failure were
    /// delivered, then `error` was thrown to the consumer.
    case failed(MediaError)
    /// Decoding was stopped before the end of the input: `stop()`, `interrupt()`, `maxFrames`.
    case stopped
    /// The input delivered nothing for `seconds` (`InputOptions.idleTimeout`): a live stream
    /// whose sender stopped. Every frame received was delivered.
    case idle(seconds: Double)

    /// True for `.endOfStream` only: the consumer saw the whole input.
    public var isComplete: Bool { self == .endOfStream }

    public var description: String {
        switch self {
        case .endOfStream:
            return "end of stream"
        case let .truncated(expected, got, packets):
            return "the input ends after \(got) of the \(expected) frames its container declares (\(packets) packets read); the file is truncated"
        case let .decodeErrors(count, last):
            return "\(count) packet(s) or frame(s) could not be decoded and were skipped (last error: \(last)); the stream is damaged"
        case let .failed(error):
            return "decoding failed before the end: \(error)"
        case .stopped:
            return "stopped before the end of the input"
        case let .idle(seconds):
            return "the input sent nothing for \(seconds) s and was closed"
        }
    }
}
