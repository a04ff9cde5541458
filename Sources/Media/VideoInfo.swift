// VideoInfo: what is known about an opened input and its video stream, and FFmpeg's rationals.

import CFFmpeg
import Foundation

/// A rational number as FFmpeg uses for rates and time bases.
public struct Rational: Sendable, Equatable, CustomStringConvertible {
    public var numerator: Int
    public var denominator: Int
    public init(_ numerator: Int, _ denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }
    /// The value, or nil when the denominator or numerator is 0 (FFmpeg's "unknown").
    public var value: Double? {
        numerator == 0 || denominator == 0 ? nil : Double(numerator) / Double(denominator)
    }
    public var description: String { "\(numerator)/\(denominator)" }
}

/// What is known about an opened input and its video stream.
public struct VideoInfo: Sendable, Equatable {
    /// The input as the caller named it (`-` for stdin).
    public let input: String
    /// The URL handed to FFmpeg (`pipe:0` for `-`).
    public let url: String
    /// Demuxer name(s), e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `image2`, `v4l2`.
    public let formatName: String
    /// Video codec name, e.g. `h264`.
    public let codecName: String
    /// Index of the chosen video stream in the container.
    public let streamIndex: Int
    /// Coded frame size in pixels as the container reports it (frames carry their own size).
    public let width: Int
    public let height: Int
    /// Decoded pixel format name as the container reports it, e.g. `yuv420p`.
    public let pixelFormat: String
    /// Average frame rate (avg_frame_rate, else r_frame_rate); nil when unknown.
    public let frameRate: Rational?
    /// Stream time base (timestamps are integers in this unit).
    public let timeBase: Rational
    /// Duration in seconds when known.
    public let duration: Double?
    /// Number of frames when the container states it (e.g. MP4 `nb_frames`); nil otherwise.
    public let frameCount: Int?
    /// Live source: the newest frame wins when the consumer is slower (see `FrameReader`).
    public let isLive: Bool
}
