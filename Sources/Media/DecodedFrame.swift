// DecodedFrame: one decoded picture at source resolution, in the decoder's pixel format.

import CFFmpeg
import Foundation

/// A decoded picture as the decoder produced it (reference-counted FFmpeg buffers, no copy).
/// Immutable; safe to hand to another thread. Convert it with `FramePreprocessor`.
public final class DecodedFrame: @unchecked Sendable {  // immutable: FFmpeg's reference-counted buffers, never written
    /// 0-based position in decode output order.
    public let index: Int
    /// Presentation time in seconds (best-effort timestamp × stream time base); nil when the
    /// input carries no timestamps.
    public let pts: Double?
    /// Picture size in pixels.
    public let width: Int
    public let height: Int
    /// The frame's number from its file name for image sequences read as a list
    /// (`frames/00017.jpg` -> 17, see `ImageSequence`); nil for videos and image2 patterns.
    public let number: Int?

    /// The underlying frame; valid for the lifetime of this object, never modified.
    let frame: UnsafeMutablePointer<AVFrame>

    /// Takes over the buffers referenced by `source` (which is left blank for reuse).
    init(moving source: UnsafeMutablePointer<AVFrame>, index: Int, timeBase: AVRational) {
        frame = av_frame_alloc()
        av_frame_move_ref(frame, source)
        self.index = index
        let timestamp = frame.pointee.best_effort_timestamp
        if timestamp != samtrack_nopts_value() && timeBase.den != 0 && timeBase.num != 0 {
            pts = Double(timestamp) * av_q2d(timeBase)
        } else {
            pts = nil
        }
        width = Int(frame.pointee.width)
        height = Int(frame.pointee.height)
        number = nil
    }

    /// A new reference to the buffers of `other` (no pixel copy) under another index, time
    /// and number.
    init(referencing other: DecodedFrame, index: Int, pts: Double?, number: Int?) {
        frame = av_frame_alloc()
        av_frame_ref(frame, other.frame)
        self.index = index
        self.pts = pts
        self.number = number
        width = other.width
        height = other.height
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
    }

    /// Bytes of picture memory this frame keeps alive (the sizes of its buffers).
    public var byteCount: Int {
        withUnsafeBytes(of: frame.pointee.buf) { raw in
            raw.bindMemory(to: UnsafeMutablePointer<AVBufferRef>?.self).reduce(0) { $0 + ($1.map { Int($0.pointee.size) } ?? 0) }
        }
    }

    /// The picture's planes packed without padding (`av_image_copy_to_buffer`, alignment 1):
    /// the exact decoded samples, for comparing frames.
    func packedPlanes() -> [UInt8] {
        let format = AVPixelFormat(rawValue: frame.pointee.format)
        let size = Int(av_image_get_buffer_size(format, frame.pointee.width, frame.pointee.height, 1))
        guard size > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: size)
        let data = withUnsafeBytes(of: frame.pointee.data) { raw in
            (0..<4).map { UnsafePointer(raw.load(fromByteOffset: $0 * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                                                  as: UnsafeMutablePointer<UInt8>?.self)) }
        }
        let lines = withUnsafeBytes(of: frame.pointee.linesize) { raw in (0..<4).map { raw.load(fromByteOffset: $0 * 4, as: Int32.self) } }
        data.withUnsafeBufferPointer { planes in
            lines.withUnsafeBufferPointer { strides in
                _ = av_image_copy_to_buffer(&bytes, Int32(size), planes.baseAddress, strides.baseAddress, format,
                                            frame.pointee.width, frame.pointee.height, 1)
            }
        }
        return bytes
    }

    /// Pixel format name, e.g. `yuv420p`.
    public var pixelFormat: String {
        av_get_pix_fmt_name(AVPixelFormat(rawValue: frame.pointee.format)).map { String(cString: $0) } ?? "none"
    }

    /// Colour matrix the frame is tagged with, e.g. `bt709`, `bt470bg`, `unknown`.
    public var colorSpace: String {
        av_color_space_name(frame.pointee.colorspace).map { String(cString: $0) } ?? "unknown"
    }

    /// Colour range the frame is tagged with: `tv` (limited), `pc` (full) or `unknown`.
    public var colorRange: String {
        av_color_range_name(frame.pointee.color_range).map { String(cString: $0) } ?? "unknown"
    }
}

/// Process-wide FFmpeg set-up: device registration and log level.
enum FFmpegSetup {
    private static let once: Void = {
        avdevice_register_all()
        // FFmpeg logs to stderr; errors reach callers as MediaError, so stay quiet unless asked.
        // SAMTRACK_FFMPEG_LOG = quiet | fatal | error | warning | info | verbose | debug.
        let levels: [String: Int32] = [
            "quiet": AV_LOG_QUIET, "fatal": AV_LOG_FATAL, "error": AV_LOG_ERROR,
            "warning": AV_LOG_WARNING, "info": AV_LOG_INFO, "verbose": AV_LOG_VERBOSE, "debug": AV_LOG_DEBUG,
        ]
        let requested = ProcessInfo.processInfo.environment["SAMTRACK_FFMPEG_LOG"]?.lowercased()
        av_log_set_level(requested.flatMap { levels[$0] } ?? AV_LOG_FATAL)
    }()

    /// Runs the set-up once per process.
    static func ensure() { once }
}
