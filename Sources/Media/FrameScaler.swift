// FrameScaler: libswscale set up exactly as the ffmpeg CLI's `scale` filter sets it up.
//
// Goal (DESIGN §2): our RGB24 pixels equal, byte for byte, those of
//   ffmpeg -i IN -vf scale=W:H:flags=bicubic -pix_fmt rgb24 -f rawvideo -
// libavfilter's vf_scale (FFmpeg 5.1) configures its SwsContext as follows, and so do we:
//   - sws_flags = exactly the `flags` option (SWS_BICUBIC): no accurate_rnd, no full_chroma_int;
//     param0/param1 left at their defaults;
//   - for yuv420p input, src_v_chr_pos = 128 (MPEG-2 chroma siting: chroma samples centred
//     vertically between luma rows); every other chroma position stays -513 (swscale default);
//   - per frame, sws_setColorspaceDetails with the YCbCr matrix of the frame's own colour space
//     tag (`in_color_matrix=auto`: bt709 frames use BT.709 coefficients, untagged ones BT.601)
//     and the frame's colour range when tagged (full/limited), keeping swscale's other details;
//   - the output is an AVFrame from av_frame_get_buffer (aligned planes and strides), filled with
//     sws_scale_frame, so swscale takes the same SIMD code paths as inside the filter graph.
// Slice threads (`threads`) split the output rows; each row is computed the same way either way.

import CFFmpeg

/// Converts decoded frames to packed RGB24 at a fixed size (or the source size), reusing the
/// SwsContext and the output buffer across frames. Not thread-safe.
final class FrameScaler {
    /// Output size; nil = the source frame's size.
    let targetWidth: Int?
    let targetHeight: Int?
    /// swscale slice threads (1 = single-threaded).
    let threads: Int

    private var context: OpaquePointer?
    private var output: UnsafeMutablePointer<AVFrame>?
    private var configured: (width: Int32, height: Int32, format: Int32, outWidth: Int32, outHeight: Int32)?
    private var colorKey: (space: UInt32, range: UInt32)?

    init(width: Int?, height: Int?, threads: Int = 1) {
        targetWidth = width
        targetHeight = height
        self.threads = max(1, threads)
    }

    deinit {
        sws_freeContext(context)
        av_frame_free(&output)
    }

    /// Scales `frame` to RGB24; returns the converted frame (data[0], linesize[0]), valid until the
    /// next call. `input` names the source in errors.
    func convert(_ frame: DecodedFrame, input: String) throws -> UnsafePointer<AVFrame> {
        let source = frame.frame
        let width = source.pointee.width, height = source.pointee.height, format = source.pointee.format
        guard width > 0, height > 0, format >= 0 else {
            throw MediaError.readFailed(input: input, reason: "frame \(frame.index) has no picture (\(width)x\(height))")
        }
        let outWidth = Int32(targetWidth ?? Int(width)), outHeight = Int32(targetHeight ?? Int(height))
        if configured == nil || configured! != (width, height, format, outWidth, outHeight) {
            try configure(width: width, height: height, format: format, outWidth: outWidth,
                          outHeight: outHeight, input: input)
        }
        guard let context, let output else {
            throw MediaError.readFailed(input: input, reason: "scaler not configured")
        }
        applyColorDetails(of: source, context: context)
        let result = sws_scale_frame(context, output, source)
        if result < 0 {
            throw MediaError.readFailed(input: input,
                                        reason: "scaling frame \(frame.index) failed: \(ffmpegErrorString(result))")
        }
        return UnsafePointer(output)
    }

    /// (Re)creates the SwsContext and output frame for a new input geometry or pixel format,
    /// as vf_scale's config_props does.
    private func configure(width: Int32, height: Int32, format: Int32, outWidth: Int32, outHeight: Int32,
                           input: String) throws {
        sws_freeContext(context)
        context = nil
        av_frame_free(&output)
        configured = nil
        colorKey = nil

        let pixelFormat = AVPixelFormat(rawValue: format)
        guard sws_isSupportedInput(pixelFormat) != 0 else {
            let name = av_get_pix_fmt_name(pixelFormat).map { String(cString: $0) } ?? "#\(format)"
            throw MediaError.unsupportedPixelFormat(input: input, pixelFormat: name)
        }
        guard outWidth > 0, outHeight > 0 else {
            throw MediaError.invalidArgument("output size \(outWidth)x\(outHeight) must be positive")
        }
        guard let sws = sws_alloc_context() else {
            throw MediaError.readFailed(input: input, reason: "cannot allocate a scaler")
        }
        let raw = UnsafeMutableRawPointer(sws)
        av_opt_set_int(raw, "srcw", Int64(width), 0)
        av_opt_set_int(raw, "srch", Int64(height), 0)
        av_opt_set_int(raw, "src_format", Int64(format), 0)
        av_opt_set_int(raw, "dstw", Int64(outWidth), 0)
        av_opt_set_int(raw, "dsth", Int64(outHeight), 0)
        av_opt_set_int(raw, "dst_format", Int64(AV_PIX_FMT_RGB24.rawValue), 0)
        av_opt_set_int(raw, "sws_flags", Int64(SWS_BICUBIC), 0)
        av_opt_set_int(raw, "threads", Int64(threads), 0)
        // vf_scale: MPEG-2 chroma siting for yuv420p input (other formats keep the default -513).
        av_opt_set_int(raw, "src_h_chr_pos", -513, 0)
        av_opt_set_int(raw, "src_v_chr_pos", pixelFormat == AV_PIX_FMT_YUV420P ? 128 : -513, 0)
        av_opt_set_int(raw, "dst_h_chr_pos", -513, 0)
        av_opt_set_int(raw, "dst_v_chr_pos", -513, 0)
        let initResult = sws_init_context(sws, nil, nil)
        if initResult < 0 {
            sws_freeContext(sws)
            let name = av_get_pix_fmt_name(pixelFormat).map { String(cString: $0) } ?? "#\(format)"
            throw MediaError.unsupportedPixelFormat(input: input, pixelFormat: "\(name) (\(ffmpegErrorString(initResult)))")
        }
        context = sws

        guard let frame = av_frame_alloc() else {
            throw MediaError.readFailed(input: input, reason: "out of memory")
        }
        frame.pointee.width = outWidth
        frame.pointee.height = outHeight
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        let bufferResult = av_frame_get_buffer(frame, 0)
        if bufferResult < 0 {
            var f: UnsafeMutablePointer<AVFrame>? = frame
            av_frame_free(&f)
            throw MediaError.readFailed(input: input, reason: "cannot allocate \(outWidth)x\(outHeight) RGB24 frame")
        }
        output = frame
        configured = (width, height, format, outWidth, outHeight)
    }

    /// vf_scale's per-frame colour set-up (in_color_matrix = auto, in_range from the frame).
    /// Only re-applied when the frame's tags change; the call is deterministic in its inputs.
    private func applyColorDetails(of frame: UnsafeMutablePointer<AVFrame>, context: OpaquePointer) {
        let key = (space: frame.pointee.colorspace.rawValue, range: frame.pointee.color_range.rawValue)
        if let colorKey, colorKey == key { return }
        colorKey = key

        var inverseTable: UnsafeMutablePointer<Int32>?
        var table: UnsafeMutablePointer<Int32>?
        var sourceFull: Int32 = 0, destinationFull: Int32 = 0
        var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        sws_getColorspaceDetails(context, &inverseTable, &sourceFull, &table, &destinationFull,
                                 &brightness, &contrast, &saturation)
        // parse_yuv_type("auto", colorspace): the frame's matrix; invalid or YCgCo -> BT.470BG.
        var space = Int32(bitPattern: key.space)
        if space < 1 || space > 10 || space == 8 { space = Int32(SWS_CS_ITU601) }
        let coefficients = sws_getCoefficients(space)
        if frame.pointee.color_range != AVCOL_RANGE_UNSPECIFIED {
            sourceFull = frame.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0
        }
        sws_setColorspaceDetails(context, coefficients, sourceFull, coefficients, destinationFull,
                                 brightness, contrast, saturation)
    }
}
