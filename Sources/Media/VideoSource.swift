// VideoSource: opens anything FFmpeg opens and decodes its best video stream, frame by frame.
//
// Inputs: files (`clip.mp4`), image sequences (`frames/%05d.png`), network URLs (`udp://`,
// `tcp://`, `rtsp://`, `srt://`, `http://`...), capture devices (`/dev/video0`, via libavdevice's
// v4l2), lavfi graphs (`format: "lavfi"`), and `-` for standard input (`pipe:0`).
// Decoding uses FFmpeg's frame threading (thread_count 0 = one thread per core).

import CFFmpeg
import Foundation


/// An opened input with its video decoder. Not thread-safe: one thread decodes at a time; only
/// `interrupt()` may be called from another thread. A source handed to a `FrameReader` belongs
/// to the reader's thread from then on.
public final class VideoSource: @unchecked Sendable {  // handed over, not shared: one decoding thread at a time; `interrupt()` is atomic
    /// Stream description.
    public let info: VideoInfo
    /// Packets the decoder rejected or frames it could not decode (corruption inside the stream).
    public private(set) var decodeErrors = 0
    /// Frames decoded so far (the next frame's index).
    public internal(set) var framesDecoded = 0
    /// Packets of the video stream the demuxer delivered so far.
    public private(set) var packetsRead = 0
    /// Why decoding ended; nil while frames may still come (and after `close()` before the end).
    public internal(set) var endReason: EndReason?

    // Internal rather than private where `VideoSource+Seeking.swift` needs them.
    var formatContext: UnsafeMutablePointer<AVFormatContext>?
    var codecContext: UnsafeMutablePointer<AVCodecContext>?
    var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private let interruptState: UnsafeMutablePointer<samtrack_interrupt_state>
    private let signal: InterruptSignal?
    let streamIndex: Int32
    let timeBase: AVRational
    var draining = false
    var finished = false
    var pendingReadError: MediaError?
    /// The input delivered nothing for `idleTimeout` seconds (0: no limit).
    var wentIdle = false
    /// After a seek: the keyframe packet decoding starts at; packets before it are skipped
    /// (see `VideoSource+Seeking.swift`).
    var seekTarget: SeekTarget?
    /// Packets of the video stream sent to the decoder since the last seek.
    var packetsFedSinceSeek = 0
    private let idleTimeout: Double
    private var lastDecodeError: Int32 = 0
    /// The installed confinement (kept alive as long as the format context).
    private let confinementState: ConfinementState?

    /// Opens `input` (path, URL, device or `-`) and its best video stream's decoder.
    /// - Throws: `MediaError` naming the input: `.fileNotFound`, `.notMediaFile`,
    ///   `.deviceUnavailable`, `.cannotOpen`, `.noVideoStream`, `.decoderNotFound`,
    ///   `.invalidArgument` (unknown option or format name); with `options.confinement`, also
    ///   `.outsideAllowedDirectories` and `.formatNotAllowed`.
    public init(_ input: String, options: InputOptions = InputOptions()) throws {
        FFmpegSetup.ensure()
        let url = Self.ffmpegURL(for: input)
        let packet = av_packet_alloc()
        let frame = av_frame_alloc()
        let interruptState = UnsafeMutablePointer<samtrack_interrupt_state>.allocate(capacity: 1)
        interruptState.initialize(to: samtrack_interrupt_state(flag: 0, shared: options.interrupt.map { UnsafePointer($0.flag) },
                                                               deadline: 0))

        // Any early exit releases what was allocated so far (`success` is set at the very end).
        var format: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        var codec: UnsafeMutablePointer<AVCodecContext>?
        var success = false
        let confinement = options.confinement.map(ConfinementState.init)
        defer {
            if !success {
                avcodec_free_context(&codec)
                avformat_close_input(&format)
                var p: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&p)
                var f: UnsafeMutablePointer<AVFrame>? = frame
                av_frame_free(&f)
                interruptState.deallocate()
            }
            // The confined io_open reads this state until the context is closed.
            withExtendedLifetime(confinement) {}
        }
        guard let packet, let frame, let allocated = format else { throw MediaError.cannotOpen(input: input, reason: "out of memory") }
        samtrack_install_interrupt(allocated, interruptState)
        samtrack_interrupt_set_timeout(interruptState, options.openTimeout ?? 0)

        var inputFormat: UnsafePointer<AVInputFormat>?
        if let name = options.format {
            inputFormat = av_find_input_format(name)
            if inputFormat == nil {
                throw MediaError.invalidArgument("unknown input format '\(name)' for '\(input)' (see `ffmpeg -formats`)")
            }
            if let rules = options.confinement, let found = inputFormat, !rules.allows(format: String(cString: found.pointee.name)) {
                throw MediaError.formatNotAllowed(input: input, format: name)
            }
        }
        let deviceLike = Self.isDevice(url: url, format: inputFormat)

        var dictionary: OpaquePointer?
        for (key, value) in options.options.sorted(by: { $0.key < $1.key }) {
            av_dict_set(&dictionary, key, value, 0)
        }
        if let confinement, let rules = options.confinement {
            confinement.install(in: allocated)
            // Both whitelists are copied by FFmpeg into nested format contexts.
            av_dict_set(&dictionary, "protocol_whitelist", "file", 0)
            av_dict_set(&dictionary, "format_whitelist", rules.formatWhitelist, 0)
        }
        defer { av_dict_free(&dictionary) }

        let openResult = avformat_open_input(&format, url, inputFormat, &dictionary)
        if openResult < 0 {
            // avformat_open_input freed the context.
            if let refused = confinement?.refusedURL {
                throw MediaError.outsideAllowedDirectories(input: input, url: refused)
            }
            if openResult == AVErrorCode.exit && options.interrupt?.isInterrupted != true {
                throw MediaError.cannotOpen(input: input, reason: "timed out after \(options.openTimeout ?? 0) s")
            }
            if let rules = options.confinement, openResult == AVErrorCode.posix(EINVAL), inputFormat == nil,
               let probed = probedFormatName(path: url), !rules.allows(format: probed) {
                throw MediaError.formatNotAllowed(input: input, format: probed)
            }
            throw Self.openError(input: input, url: url, code: openResult, device: deviceLike)
        }
        if let leftover = Self.keys(of: dictionary), !leftover.isEmpty {
            throw MediaError.invalidArgument(
                "unknown input option(s) \(leftover.map { "'\($0)'" }.joined(separator: ", ")) for '\(input)'")
        }
        guard let opened = format else { throw MediaError.cannotOpen(input: input, reason: "no context") }
        if Self.samplesBehindPipe(opened) { throw Self.moovAtEndError(input: input) }

        let infoResult = avformat_find_stream_info(opened, nil)
        samtrack_interrupt_set_timeout(interruptState, 0)
        if let refused = confinement?.refusedURL {
            throw MediaError.outsideAllowedDirectories(input: input, url: refused)
        }
        if infoResult < 0 {
            if infoResult == AVErrorCode.exit {
                if options.interrupt?.isInterrupted == true { throw MediaError.interrupted(input: input) }
                throw MediaError.cannotOpen(input: input, reason: "timed out after \(options.openTimeout ?? 0) s")
            }
            throw MediaError.notMediaFile(input: input, reason: ffmpegErrorString(infoResult))
        }

        let best = av_find_best_stream(opened, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0, let stream = opened.pointee.streams[Int(best)], let parameters = stream.pointee.codecpar,
              stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0 else {
            // No video stream at all, or only a cover picture (e.g. album art of an audio file).
            throw MediaError.noVideoStream(input: input)
        }
        let codecName = String(cString: avcodec_get_name(parameters.pointee.codec_id))
        guard let decoder = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaError.decoderNotFound(input: input, codec: codecName)
        }

        codec = avcodec_alloc_context3(decoder)
        guard let codecOpened = codec else { throw MediaError.cannotOpen(input: input, reason: "out of memory") }
        var result = avcodec_parameters_to_context(codecOpened, parameters)
        if result < 0 { throw MediaError.notMediaFile(input: input, reason: ffmpegErrorString(result)) }
        codecOpened.pointee.pkt_timebase = stream.pointee.time_base
        codecOpened.pointee.thread_count = Int32(max(0, options.decoderThreads))
        codecOpened.pointee.thread_type = FF_THREAD_FRAME
        result = avcodec_open2(codecOpened, decoder, nil)
        if result < 0 {
            throw MediaError.decoderNotFound(input: input, codec: "\(codecName): \(ffmpegErrorString(result))")
        }

        let formatName = opened.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "unknown"
        let live = options.live ?? Self.isLive(url: url, format: opened.pointee.iformat,
                                                duration: opened.pointee.duration)
        let timeBase = stream.pointee.time_base
        let nopts = samtrack_nopts_value()
        var duration: Double?
        if stream.pointee.duration != nopts, stream.pointee.duration > 0, timeBase.den != 0 {
            duration = Double(stream.pointee.duration) * av_q2d(timeBase)
        } else if opened.pointee.duration != nopts, opened.pointee.duration > 0 {
            duration = Double(opened.pointee.duration) / Double(AV_TIME_BASE)
        }
        let average = stream.pointee.avg_frame_rate
        let real = stream.pointee.r_frame_rate
        let rate = average.num > 0 && average.den > 0 ? average : real
        let pixelName = av_get_pix_fmt_name(AVPixelFormat(rawValue: parameters.pointee.format))
            .map { String(cString: $0) } ?? "none"

        info = VideoInfo(
            input: input, url: url, formatName: formatName, codecName: codecName,
            streamIndex: Int(best),
            width: Int(parameters.pointee.width), height: Int(parameters.pointee.height),
            pixelFormat: pixelName,
            frameRate: rate.num > 0 && rate.den > 0 ? Rational(Int(rate.num), Int(rate.den)) : nil,
            timeBase: Rational(Int(timeBase.num), Int(timeBase.den)),
            duration: duration,
            frameCount: stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil,
            isLive: live)
        self.streamIndex = best
        self.timeBase = timeBase
        formatContext = opened
        codecContext = codecOpened
        self.packet = packet
        self.frame = frame
        self.interruptState = interruptState
        self.signal = options.interrupt
        self.idleTimeout = options.idleTimeout ?? 0
        self.confinementState = confinement
        success = true
    }

    deinit {
        close()
        interruptState.deallocate()
    }

    /// Frees the decoder (joining its frame threads), the demuxer and their buffers now rather
    /// than when the last reference goes away; later reads return nil (end of input). The
    /// `info` stays available. Idempotent; call it on the decoding thread.
    public func close() {
        avcodec_free_context(&codecContext)
        avformat_close_input(&formatContext)
        av_packet_free(&packet)
        av_frame_free(&frame)
    }

    /// The URL a confined input was refused, if any.
    var confinementRefusedURL: String? { confinementState?.refusedURL }

    /// Aborts a blocking read or open in progress and makes every later read fail with
    /// `.interrupted`. Safe to call from any thread.
    public func interrupt() {
        withUnsafeMutablePointer(to: &interruptState.pointee.flag) { samtrack_flag_store($0, 1) }
    }

    /// True once `interrupt()` was called (on this source or its `InputOptions.interrupt` signal).
    public var isInterrupted: Bool {
        withUnsafeMutablePointer(to: &interruptState.pointee.flag) { samtrack_flag_load($0) } != 0
            || signal?.isInterrupted == true
    }

    /// The next decoded frame in decode output order, or nil at the end of the input.
    ///
    /// Corrupt packets inside a stream are skipped and counted in `decodeErrors` (as the ffmpeg
    /// CLI does). A read error other than end-of-file first lets the decoder flush the frames it
    /// holds, then throws `.readFailed` on the following call.
    /// - Throws: `.interrupted` after `interrupt()`, `.readFailed`, or `.notMediaFile` when the
    ///   input ends without a single decodable frame but with decode errors; with a confinement,
    ///   `.outsideAllowedDirectories` when a frame or segment lies outside it. Once the input is
    ///   drained, `endReason` says whether it was complete.
    public func nextFrame() throws -> DecodedFrame? {
        guard let codec = codecContext, let format = formatContext, let frame, let packet else { return nil }
        while true {
            if finished {
                if let error = pendingReadError {
                    pendingReadError = nil
                    throw error
                }
                return nil
            }
            let received = avcodec_receive_frame(codec, frame)
            if received == 0 {
                let decoded = DecodedFrame(moving: frame, index: framesDecoded, timeBase: timeBase)
                framesDecoded += 1
                return decoded
            }
            if received == AVErrorCode.eof {
                finished = true
                endReason = currentEndReason()
                if framesDecoded == 0 && decodeErrors > 0 && pendingReadError == nil {
                    let error = MediaError.notMediaFile(
                        input: info.input,
                        reason: "no frame could be decoded (\(decodeErrors) errors, last: \(ffmpegErrorString(lastDecodeError)))")
                    endReason = .failed(error)
                    throw error
                }
                continue
            }
            if received != AVErrorCode.again {
                // A frame failed to decode; the decoder stays usable, so go on with the next packet.
                decodeErrors += 1
                lastDecodeError = received
                if draining { continue }
            }
            if draining {
                // Flush packet already sent and the decoder wants more input: nothing left.
                finished = true
                endReason = currentEndReason()
                continue
            }
            try feedDecoder(codec: codec, format: format, packet: packet)
        }
    }

    /// Reads packets until one of the video stream is sent to the decoder (or the input ends).
    private func feedDecoder(codec: UnsafeMutablePointer<AVCodecContext>,
                             format: UnsafeMutablePointer<AVFormatContext>,
                             packet: UnsafeMutablePointer<AVPacket>) throws {
        let idleSince = DispatchTime.now().uptimeNanoseconds
        func idle() -> Bool {
            idleTimeout > 0 && Double(DispatchTime.now().uptimeNanoseconds - idleSince) / 1e9 >= idleTimeout
        }
        while true {
            if idle() { read_idle(codec); return }
            // The interrupt callback's deadline ends a blocking read when nothing arrives in time.
            if idleTimeout > 0 { samtrack_interrupt_set_timeout(interruptState, idleTimeout - Double(DispatchTime.now().uptimeNanoseconds - idleSince) / 1e9) }
            let read = av_read_frame(format, packet)
            if idleTimeout > 0 { samtrack_interrupt_set_timeout(interruptState, 0) }
            if read == AVErrorCode.again {
                // Non-blocking devices: no packet yet.
                if isInterrupted { throw MediaError.interrupted(input: info.input) }
                if idle() { read_idle(codec); return }
                usleep(2_000)
                continue
            }
            if read < 0 {
                // Without a set flag, AVERROR_EXIT can only come from the idle deadline.
                if read == AVErrorCode.exit && !isInterrupted && idleTimeout > 0 {
                    read_idle(codec)
                    return
                }
                if read == AVErrorCode.exit || isInterrupted {
                    throw MediaError.interrupted(input: info.input)
                }
                if let refused = confinementState?.refusedURL {
                    // A frame or segment outside the allowed directories: the error says which.
                    pendingReadError = .outsideAllowedDirectories(input: info.input, url: refused)
                } else if read != AVErrorCode.eof {
                    pendingReadError = .readFailed(input: info.input, reason: ffmpegErrorString(read))
                }
                draining = true
                avcodec_send_packet(codec, nil)
                return
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if let target = seekTarget {
                // After a seek the demuxer may resume before the wanted keyframe: skip up to it.
                switch target.compare(packet) {
                case .before: continue
                case .after: throw SeekMiss()
                case .match: seekTarget = nil
                }
            }
            packetsRead += 1
            packetsFedSinceSeek += 1
            let sent = avcodec_send_packet(codec, packet)
            if sent < 0 && sent != AVErrorCode.again {
                decodeErrors += 1
                lastDecodeError = sent
                continue
            }
            return
        }
    }

    /// The end reason once the decoder is drained: a read failure first; then truncation; then
    /// skipped packets or frames. Truncation: an index entry of the stream (MP4, AVI... build one
    /// from the container's tables) lies past the end of the file; or, for demuxers other than
    /// MP4/QuickTime, fewer packets than the container's declared frame count. (MP4 edit lists
    /// can legitimately drop samples from the declared count, so for MP4 only the index counts.)
    /// Nothing arrived for `idleTimeout` seconds: the input ends (decoder drained).
    private func read_idle(_ codec: UnsafeMutablePointer<AVCodecContext>) {
        wentIdle = true
        draining = true
        avcodec_send_packet(codec, nil)
    }

    private func currentEndReason() -> EndReason {
        if let error = pendingReadError { return .failed(error) }
        if wentIdle { return .idle(seconds: idleTimeout) }
        if let format = formatContext, let stream = format.pointee.streams[Int(streamIndex)] {
            let entries = Int(avformat_index_get_entries_count(stream))
            let fileSize = format.pointee.pb.map { avio_size($0) } ?? -1
            var beyondEnd = false
            if fileSize > 0 {
                for index in 0..<entries {
                    if let entry = avformat_index_get_entry(stream, Int32(index)),
                       entry.pointee.pos + Int64(entry.pointee.size) > fileSize {
                        beyondEnd = true
                        break
                    }
                }
            }
            let isMOV = info.formatName.hasPrefix("mov,")
            if beyondEnd {
                let expected = isMOV ? entries : max(info.frameCount ?? 0, entries)
                return .truncated(expected: expected, got: framesDecoded, packets: packetsRead)
            }
            if !isMOV, let expected = info.frameCount, packetsRead < expected {
                return .truncated(expected: expected, got: framesDecoded, packets: packetsRead)
            }
        }
        if decodeErrors > 0 { return .decodeErrors(count: decodeErrors, last: ffmpegErrorString(lastDecodeError)) }
        return .endOfStream
    }
}
