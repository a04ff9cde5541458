// MediaError: every failure of the Media module, as a Swift value.
//
// FFmpeg reports failures as negative integers; they become MediaError at the boundary, with a
// message that names the input (or output) and carries FFmpeg's own text (av_strerror).

import CFFmpeg

/// A failure while opening, decoding, converting or encoding media.
public enum MediaError: Error, Equatable, CustomStringConvertible {
    /// The input path does not exist (or a component of it is not a directory).
    case fileNotFound(input: String, reason: String)
    /// The input exists but FFmpeg cannot read it as media: unknown format, corrupt or truncated.
    case notMediaFile(input: String, reason: String)
    /// A capture device (`/dev/video0`, `-f v4l2`...) is missing, busy or refuses the settings.
    case deviceUnavailable(input: String, reason: String)
    /// A network or other input that could not be opened (refused, unreachable, bad URL...).
    case cannotOpen(input: String, reason: String)
    /// The input has no video stream (e.g. audio only).
    case noVideoStream(input: String)
    /// FFmpeg has no decoder for the video codec.
    case decoderNotFound(input: String, codec: String)
    /// The decoded pixel format cannot be converted by libswscale (e.g. a hardware format).
    case unsupportedPixelFormat(input: String, pixelFormat: String)
    /// Reading or decoding failed in the middle of the input.
    case readFailed(input: String, reason: String)
    /// A blocking read was aborted by `interrupt()` / `FrameReader.stop()`.
    case interrupted(input: String)
    /// No encoder for the requested output (e.g. FFmpeg built without png).
    case encoderNotFound(output: String, codec: String)
    /// Encoding or muxing failed.
    case encodeFailed(output: String, reason: String)
    /// Writing or renaming the output file failed.
    case writeFailed(path: String, reason: String)
    /// A caller passed arguments the module cannot honour (sizes, buffer lengths, palette...).
    case invalidArgument(String)
    /// A confined input (`InputOptions.confinement`) tried to read `url`, which is not a local
    /// file under the allowed directories: the input itself, or something it refers to (a
    /// playlist segment, a listed file, a `concat:`/`subfile:` URL, a frame that is a symlink).
    case outsideAllowedDirectories(input: String, url: String)
    /// A confined input is in a format that is not allowed for it (`format`: FFmpeg's demuxer
    /// name), by default one that opens other files or URLs itself (HLS, DASH, concat lists...).
    case formatNotAllowed(input: String, format: String)

    public var description: String {
        switch self {
        case let .fileNotFound(input, reason):
            return "cannot open '\(input)': \(reason) (check the path)"
        case let .notMediaFile(input, reason):
            return "'\(input)' is not a readable media file: \(reason) (corrupt, truncated or unknown format)"
        case let .deviceUnavailable(input, reason):
            return "cannot open device '\(input)': \(reason) (is it connected and not in use?)"
        case let .cannotOpen(input, reason):
            return "cannot open '\(input)': \(reason)"
        case let .noVideoStream(input):
            return "'\(input)' has no video stream"
        case let .decoderNotFound(input, codec):
            return "no decoder for codec '\(codec)' of '\(input)' (FFmpeg built without it?)"
        case let .unsupportedPixelFormat(input, pixelFormat):
            return "'\(input)' decodes to pixel format '\(pixelFormat)', which libswscale cannot convert"
        case let .readFailed(input, reason):
            return "reading '\(input)' failed: \(reason)"
        case let .interrupted(input):
            return "reading '\(input)' was interrupted"
        case let .encoderNotFound(output, codec):
            return "no '\(codec)' encoder for '\(output)' (FFmpeg built without it?)"
        case let .encodeFailed(output, reason):
            return "encoding '\(output)' failed: \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .invalidArgument(message):
            return message
        case let .outsideAllowedDirectories(input, url):
            return url == input
                ? "'\(input)' is outside the allowed source directories (or not a local file)"
                : "'\(input)' refers to '\(url)', which is outside the allowed source directories (or not a local file); refused"
        case let .formatNotAllowed(input, format):
            return "'\(input)' is in the '\(format)' format, which is not allowed for file sources (playlists and lists that open other files are refused)"
        }
    }
}

/// FFmpeg's text for an error code (av_strerror), e.g. "No such file or directory".
func ffmpegErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    return buffer.withUnsafeMutableBufferPointer { buf in
        av_strerror(code, buf.baseAddress, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// Common FFmpeg error codes (macros Swift cannot import, re-exported by the CFFmpeg shim).
enum AVErrorCode {
    static let eof = samtrack_averror_eof()
    static let again = samtrack_averror_eagain()
    static let exit = samtrack_averror_exit()
    static let invalidData = samtrack_averror_invaliddata()
    static let streamNotFound = samtrack_averror_stream_not_found()
    static let decoderNotFound = samtrack_averror_decoder_not_found()
    static func posix(_ errno: Int32) -> Int32 { samtrack_averror(errno) }
}
