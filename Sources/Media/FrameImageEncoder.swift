// FrameImageEncoder: a decoded frame (or an RGB picture) as JPEG or PNG bytes in memory, for
// serving frames over HTTP (DESIGN §7.2, `GET /v1/media/{id}/frames/{n}?format=jpeg|png&width=W`).
//
// Pixels: the frame is converted to RGB24 by `FrameScaler` — at source size exactly the bytes of
// `FramePreprocessor.sourceRGB` (the ffmpeg CLI's `-pix_fmt rgb24`), scaled with the same bicubic
// set-up as the model input otherwise. PNG stores those RGB24 bytes losslessly (`PNGWriter`).
// JPEG converts them to full-range BT.601 YCbCr 4:2:0 (`yuvj420p`, what JPEG files hold) with
// libswscale and encodes with libavcodec's `mjpeg` at a fixed quantiser.

import CFFmpeg

/// The format of an encoded frame image.
public enum FrameImageFormat: Sendable, Equatable {
    /// JPEG; `quality` 1 (smallest) ... 100 (best), mapped linearly onto MJPEG's quantiser scale
    /// 31 ... 2 (the ffmpeg CLI's `-q:v`).
    case jpeg(quality: Int = FrameImageFormat.defaultJPEGQuality)
    /// PNG, RGB24, lossless.
    case png

    public static let defaultJPEGQuality = 85

    /// The MIME type (`image/jpeg`, `image/png`).
    public var mimeType: String {
        switch self {
        case .jpeg: return "image/jpeg"
        case .png: return "image/png"
        }
    }

    /// MJPEG quantiser scale (2 ... 31) for a quality (1 ... 100, clamped).
    static func quantiser(forQuality quality: Int) -> Int {
        let clamped = max(1, min(100, quality))
        return 2 + ((100 - clamped) * 29 + 49) / 99
    }
}

/// Encodes frames as JPEG or PNG. Reuses its scalers and encoder between calls; not
/// thread-safe (one per thread, or behind a lock as in `RandomAccessVideo`).
public final class FrameImageEncoder {
    private var scalers: [Size: FrameScaler] = [:]
    private let png = PNGWriter()
    private var jpeg: JPEGEncoder?

    private struct Size: Hashable {
        let width: Int
        let height: Int
    }

    public init() {}

    /// The output size for a picture of `width` x `height` scaled to `targetWidth` pixels wide:
    /// the height keeps the aspect ratio (rounded, at least 1). nil keeps the source size.
    public static func scaledSize(width: Int, height: Int, toWidth targetWidth: Int?) -> (width: Int, height: Int) {
        guard let targetWidth, targetWidth != width, width > 0 else { return (width, height) }
        let scaled = (Double(height) * Double(targetWidth) / Double(width)).rounded()
        return (targetWidth, max(1, Int(scaled)))
    }

    /// `frame` as an image file, `width` pixels wide (aspect ratio kept) or at source size.
    /// - Throws: `.invalidArgument` for a width outside 1...16384; `.encodeFailed`,
    ///   `.encoderNotFound`, `.unsupportedPixelFormat`.
    public func encode(_ frame: DecodedFrame, format: FrameImageFormat, width: Int? = nil) throws -> [UInt8] {
        if let width, width < 1 || width > 16_384 {
            throw MediaError.invalidArgument("image width \(width) is out of range (1-16384)")
        }
        let size = Self.scaledSize(width: frame.width, height: frame.height, toWidth: width)
        let key = Size(width: size.width, height: size.height)
        let scaler = scalers[key] ?? FrameScaler(width: size.width, height: size.height)
        if scalers[key] == nil {
            if scalers.count >= 4 { scalers.removeAll() }
            scalers[key] = scaler
        }
        let rgb = try scaler.convert(frame, input: "frame \(frame.index)")
        switch format {
        case .png:
            return try png.encodeRGB(FramePreprocessor.packed(rgb, width: size.width, height: size.height))
        case let .jpeg(quality):
            if jpeg == nil || jpeg!.width != size.width || jpeg!.height != size.height {
                jpeg = try JPEGEncoder(width: size.width, height: size.height)
            }
            return try jpeg!.encode(rgb, quantiser: FrameImageFormat.quantiser(forQuality: quality))
        }
    }

    /// An RGB picture (an overlay, say) as an image file, `width` pixels wide or at its size.
    public func encode(_ image: RGBImage, format: FrameImageFormat, width: Int? = nil) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else {
            throw MediaError.invalidArgument("image size \(image.width)x\(image.height) must be positive")
        }
        guard let frame = av_frame_alloc() else { throw MediaError.encodeFailed(output: format.mimeType, reason: "out of memory") }
        var owned: UnsafeMutablePointer<AVFrame>? = frame
        defer { av_frame_free(&owned) }
        frame.pointee.width = Int32(image.width)
        frame.pointee.height = Int32(image.height)
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        let allocated = av_frame_get_buffer(frame, 0)
        if allocated < 0 { throw MediaError.encodeFailed(output: format.mimeType, reason: ffmpegErrorString(allocated)) }
        let rowBytes = image.width * 3, linesize = Int(frame.pointee.linesize.0)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<image.height {
                (frame.pointee.data.0! + y * linesize).update(from: pixels.baseAddress! + y * rowBytes, count: rowBytes)
            }
        }
        let decoded = DecodedFrame(moving: frame, index: 0, timeBase: AVRational(num: 0, den: 1))
        return try encode(decoded, format: format, width: width)
    }
}

/// libavcodec's `mjpeg` encoder for one picture size, fed RGB24 frames converted to yuvj420p.
private final class JPEGEncoder {
    let width: Int
    let height: Int
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var converter: OpaquePointer?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    /// Frames must come with increasing timestamps.
    private var nextPTS: Int64 = 0

    init(width: Int, height: Int) throws {
        self.width = width
        self.height = height
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw MediaError.encoderNotFound(output: "JPEG", codec: "mjpeg")
        }
        guard let context = avcodec_alloc_context3(codec), let frame = av_frame_alloc(), let packet = av_packet_alloc() else {
            throw MediaError.encodeFailed(output: "JPEG", reason: "out of memory")
        }
        self.context = context
        self.frame = frame
        self.packet = packet
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        context.pointee.color_range = AVCOL_RANGE_JPEG
        context.pointee.time_base = AVRational(num: 1, den: 25)
        context.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
        context.pointee.thread_count = 1
        let opened = avcodec_open2(context, codec, nil)
        if opened < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(opened)) }

        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        frame.pointee.color_range = AVCOL_RANGE_JPEG
        let allocated = av_frame_get_buffer(frame, 0)
        if allocated < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(allocated)) }
        converter = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                   AV_PIX_FMT_YUVJ420P, SWS_BICUBIC | SWS_ACCURATE_RND, nil, nil, nil)
        if converter == nil { throw MediaError.encodeFailed(output: "JPEG", reason: "cannot convert RGB24 to yuvj420p") }
    }

    deinit {
        avcodec_free_context(&context)
        sws_freeContext(converter)
        av_frame_free(&frame)
        av_packet_free(&packet)
    }

    /// JPEG bytes of an RGB24 frame of this encoder's size.
    func encode(_ rgb: UnsafePointer<AVFrame>, quantiser: Int) throws -> [UInt8] {
        guard let context, let frame, let packet, let converter else {
            throw MediaError.encodeFailed(output: "JPEG", reason: "encoder not ready")
        }
        let writable = av_frame_make_writable(frame)
        if writable < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(writable)) }
        let converted = sws_scale_frame(converter, frame, rgb)
        if converted < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(converted)) }
        let lambda = Int32(quantiser) * Int32(FF_QP2LAMBDA)
        context.pointee.global_quality = lambda
        frame.pointee.quality = lambda
        frame.pointee.pts = nextPTS
        nextPTS += 1
        var result = avcodec_send_frame(context, frame)
        if result < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(result)) }
        result = avcodec_receive_packet(context, packet)
        if result < 0 { throw MediaError.encodeFailed(output: "JPEG", reason: ffmpegErrorString(result)) }
        defer { av_packet_unref(packet) }
        return Array(UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
    }
}
