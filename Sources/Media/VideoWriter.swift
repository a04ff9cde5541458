// VideoWriter: RGB24 frames -> H.264 (libx264, else MPEG-4 Part 2) in an MP4 (or any container
// libavformat guesses from the file name), through libavcodec and libavformat.
//
// Frames: packed RGB24 [H * W * 3], all of the size given at creation. They are converted to
// yuv420p (BT.601 limited range, tagged as such) with libswscale. yuv420p needs even sizes: an odd
// last column or row is cropped. Timestamps: frame n is shown at n / frameRate seconds. The file is
// written under a temporary name in the same directory and renamed when `finish()` succeeds;
// a writer released without `finish()` removes its temporary file.

import CFFmpeg
import FileIO
import Foundation

/// Encodes a sequence of RGB24 frames into a video file. Not thread-safe.
public final class VideoWriter {
    /// Final output path.
    public let path: String
    /// Size of the frames passed to `append`.
    public let width: Int
    public let height: Int
    /// Encoder actually used (`libx264` or `mpeg4`).
    public let codecName: String
    /// Frames appended so far.
    public private(set) var frameCount = 0

    private let temporaryPath: String
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var finished = false

    /// Creates the output and writes its header.
    /// - Parameters:
    ///   - path: output file; the container is guessed from its extension (`.mp4` if unknown).
    ///   - width, height: frame size in pixels.
    ///   - frameRate: frames per second (e.g. the source's 29.97).
    ///   - codec: encoder name to force (`"libx264"`, `"mpeg4"`...); nil = libx264 when available,
    ///     else mpeg4.
    ///   - quality: libx264 CRF (0-51, lower is better; default 20). For mpeg4 it maps to qscale.
    ///   - threads: encoder threads; 0 = automatic.
    public init(path: String, width: Int, height: Int, frameRate: Double, codec codecName: String? = nil,
                quality: Int = 20, threads: Int = 0) throws {
        FFmpegSetup.ensure()
        self.path = path
        self.width = width
        self.height = height
        guard width >= 2, height >= 2, width <= 16_384, height <= 16_384 else {
            throw MediaError.invalidArgument("video size \(width)x\(height) is out of range")
        }
        guard frameRate.isFinite, frameRate > 0, frameRate <= 1000 else {
            throw MediaError.invalidArgument("frame rate \(frameRate) is out of range")
        }
        var encoder: UnsafePointer<AVCodec>?
        if let codecName {
            encoder = avcodec_find_encoder_by_name(codecName)
            guard encoder != nil else { throw MediaError.encoderNotFound(output: path, codec: codecName) }
        } else {
            encoder = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_MPEG4)
        }
        guard let encoder else { throw MediaError.encoderNotFound(output: path, codec: "libx264 or mpeg4") }
        self.codecName = String(cString: encoder.pointee.name)
        temporaryPath = AtomicFile.temporaryPath(for: path, keepExtension: true)

        do {
            try open(encoder: encoder, frameRate: frameRate, quality: quality, threads: threads)
        } catch {
            close()
            unlink(temporaryPath)
            throw error
        }
    }

    deinit {
        if !finished {
            close()
            unlink(temporaryPath)
        }
    }

    /// Encodes one packed RGB24 frame (`pixels.count == width * height * 3`).
    public func append(rgb pixels: [UInt8]) throws {
        guard !finished else { throw MediaError.invalidArgument("VideoWriter for '\(path)' is already finished") }
        guard pixels.count == width * height * 3 else {
            throw MediaError.invalidArgument("video frame for '\(path)' needs \(width * height * 3) bytes, got \(pixels.count)")
        }
        guard let codec, let frame, let scaler else { throw MediaError.encodeFailed(output: path, reason: "not open") }
        var result = av_frame_make_writable(frame)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result)) }
        let planes: [UnsafeMutablePointer<UInt8>?] = [frame.pointee.data.0, frame.pointee.data.1, frame.pointee.data.2, nil]
        let linesizes: [Int32] = [frame.pointee.linesize.0, frame.pointee.linesize.1, frame.pointee.linesize.2, 0]
        let sourceStrides: [Int32] = [Int32(width * 3), 0, 0, 0]
        pixels.withUnsafeBufferPointer { buffer in
            let sources: [UnsafePointer<UInt8>?] = [buffer.baseAddress, nil, nil, nil]
            _ = sws_scale(scaler, sources, sourceStrides, 0, codec.pointee.height, planes, linesizes)
        }
        frame.pointee.pts = Int64(frameCount)
        result = avcodec_send_frame(codec, frame)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result)) }
        frameCount += 1
        try drainPackets()
    }

    /// Encodes one RGB image (its size must match the writer's).
    public func append(_ image: RGBImage) throws {
        guard image.width == width, image.height == height else {
            throw MediaError.invalidArgument("frame \(image.width)x\(image.height) does not match video \(width)x\(height)")
        }
        try append(rgb: image.pixels)
    }

    /// Flushes the encoder, writes the trailer and renames the file into place.
    public func finish() throws {
        guard !finished else { return }
        guard let codec, let format else { throw MediaError.encodeFailed(output: path, reason: "not open") }
        var result = avcodec_send_frame(codec, nil)
        if result < 0 && result != AVErrorCode.eof {
            throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result))
        }
        try drainPackets()
        result = av_write_trailer(format)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result)) }
        close()
        finished = true
        try AtomicFile.commit(temporaryPath, to: path)
    }

    // MARK: - Internals

    private func open(encoder: UnsafePointer<AVCodec>, frameRate: Double, quality: Int, threads: Int) throws {
        let outputFormat = av_guess_format(nil, path, nil) ?? av_guess_format("mp4", nil, nil)
        var result = avformat_alloc_output_context2(&format, outputFormat, nil, temporaryPath)
        guard result >= 0, let format else {
            throw MediaError.encodeFailed(output: path, reason: "cannot create the container: \(ffmpegErrorString(result))")
        }
        guard let context = avcodec_alloc_context3(encoder) else {
            throw MediaError.encodeFailed(output: path, reason: "out of memory")
        }
        codec = context
        let rate = av_d2q(frameRate, 1_001_000)
        let encodedWidth = Int32(width & ~1), encodedHeight = Int32(height & ~1)
        context.pointee.width = encodedWidth
        context.pointee.height = encodedHeight
        context.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        context.pointee.time_base = AVRational(num: rate.den, den: rate.num)
        context.pointee.framerate = rate
        context.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        context.pointee.color_range = AVCOL_RANGE_MPEG
        context.pointee.colorspace = AVCOL_SPC_SMPTE170M
        context.pointee.thread_count = Int32(max(0, threads))
        if format.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            context.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        if codecName == "libx264" {
            av_dict_set(&options, "preset", "veryfast", 0)
            av_dict_set(&options, "crf", "\(max(0, min(51, quality)))", 0)
        } else {
            // Fixed quantiser: CRF 20 ~ qscale 3 for MPEG-4 Part 2.
            context.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
            context.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, quality / 6)))
        }
        result = avcodec_open2(context, encoder, &options)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: "cannot open \(codecName): \(ffmpegErrorString(result))") }

        guard let newStream = avformat_new_stream(format, nil) else {
            throw MediaError.encodeFailed(output: path, reason: "cannot add a stream")
        }
        stream = newStream
        result = avcodec_parameters_from_context(newStream.pointee.codecpar, context)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result)) }
        newStream.pointee.time_base = context.pointee.time_base
        newStream.pointee.avg_frame_rate = rate

        if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            result = avio_open(&format.pointee.pb, temporaryPath, AVIO_FLAG_WRITE)
            if result < 0 { throw MediaError.writeFailed(path: path, reason: ffmpegErrorString(result)) }
        }
        result = avformat_write_header(format, nil)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: "cannot write header: \(ffmpegErrorString(result))") }

        guard let newFrame = av_frame_alloc(), let newPacket = av_packet_alloc() else {
            throw MediaError.encodeFailed(output: path, reason: "out of memory")
        }
        frame = newFrame
        packet = newPacket
        newFrame.pointee.width = encodedWidth
        newFrame.pointee.height = encodedHeight
        newFrame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        newFrame.pointee.color_range = AVCOL_RANGE_MPEG
        newFrame.pointee.colorspace = AVCOL_SPC_SMPTE170M
        result = av_frame_get_buffer(newFrame, 0)
        if result < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(result)) }

        // Same geometry in and out (odd edges cropped by converting only the even part).
        guard let sws = sws_getContext(encodedWidth, encodedHeight, AV_PIX_FMT_RGB24,
                                       encodedWidth, encodedHeight, AV_PIX_FMT_YUV420P,
                                       SWS_BICUBIC, nil, nil, nil) else {
            throw MediaError.encodeFailed(output: path, reason: "cannot convert RGB24 to yuv420p")
        }
        scaler = sws
    }

    /// Moves every packet the encoder has ready into the container.
    private func drainPackets() throws {
        guard let codec, let format, let stream, let packet else { return }
        while true {
            let received = avcodec_receive_packet(codec, packet)
            if received == AVErrorCode.again || received == AVErrorCode.eof { return }
            if received < 0 { throw MediaError.encodeFailed(output: path, reason: ffmpegErrorString(received)) }
            av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            let written = av_interleaved_write_frame(format, packet)  // takes the packet's reference
            if written < 0 { throw MediaError.writeFailed(path: path, reason: ffmpegErrorString(written)) }
        }
    }

    /// Releases every FFmpeg object (the temporary file stays; callers rename or remove it).
    private func close() {
        if let format {
            if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
                avio_closep(&format.pointee.pb)
            }
            avformat_free_context(format)
            self.format = nil
        }
        avcodec_free_context(&codec)
        av_frame_free(&frame)
        av_packet_free(&packet)
        sws_freeContext(scaler)
        scaler = nil
        stream = nil
    }
}
