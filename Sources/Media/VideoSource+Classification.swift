// VideoSource+Classification: how an input is named to FFmpeg and classified (live or not, a
// device or not), and FFmpeg's open errors turned into `MediaError`s.

import CFFmpeg
import Foundation

extension VideoSource {

    /// The URL FFmpeg is given for an input: `-` (standard input) becomes `pipe:0`.
    static func ffmpegURL(for input: String) -> String {
        input == "-" ? "pipe:0" : input
    }

    /// URL schemes treated as live network streams.
    static let liveSchemes: Set<String> = ["udp", "tcp", "rtp", "rtsp", "rtsps", "srt", "rtmp", "rtmps",
                                           "rist", "zmq", "http", "https", "hls"]

    static func scheme(of url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        let scheme = url[url.startIndex..<range.lowerBound].lowercased()
        return scheme.isEmpty ? nil : scheme
    }

    /// True for capture devices: a `/dev/` path or a libavdevice demuxer other than lavfi.
    static func isDevice(url: String, format: UnsafePointer<AVInputFormat>?) -> Bool {
        if url.hasPrefix("/dev/") { return true }
        guard let format else { return false }
        if String(cString: format.pointee.name) == "lavfi" { return false }
        guard let cls = format.pointee.priv_class else { return false }
        let category = cls.pointee.category
        return category == AV_CLASS_CATEGORY_DEVICE_VIDEO_INPUT
            || category == AV_CLASS_CATEGORY_DEVICE_AUDIO_INPUT
            || category == AV_CLASS_CATEGORY_DEVICE_INPUT
    }

    /// Automatic live classification: devices and network streams. HTTP(S) counts as live only
    /// when the container has no duration (a stream rather than a downloadable file).
    static func isLive(url: String, format: UnsafePointer<AVInputFormat>?, duration: Int64) -> Bool {
        if isDevice(url: url, format: format) { return true }
        guard let scheme = scheme(of: url), liveSchemes.contains(scheme) else { return false }
        if scheme == "http" || scheme == "https" {
            return duration == samtrack_nopts_value() || duration <= 0
        }
        return true
    }

    static func openError(input: String, url: String, code: Int32, device: Bool) -> MediaError {
        let reason = ffmpegErrorString(code)
        if code == AVErrorCode.exit { return .interrupted(input: input) }
        if device { return .deviceUnavailable(input: input, reason: reason) }
        if scheme(of: url) != nil || url.hasPrefix("pipe:") { return .cannotOpen(input: input, reason: reason) }
        if code == AVErrorCode.posix(ENOENT) || code == AVErrorCode.posix(ENOTDIR) {
            return .fileNotFound(input: input, reason: reason)
        }
        if code == AVErrorCode.posix(EACCES) || code == AVErrorCode.posix(EISDIR) || code == AVErrorCode.posix(EPERM) {
            return .cannotOpen(input: input, reason: reason)
        }
        return .notMediaFile(input: input, reason: reason)
    }

    /// True for an MP4/QuickTime input read from something that cannot seek (a pipe, stdin)
    /// whose index (`moov` atom) came after its samples (`mdat`): the demuxer read through the
    /// samples to reach the index, and cannot go back to them. FFmpeg would report "Invalid
    /// data" on the first read; the index's first sample lying before the read position is how
    /// this is told apart from a corrupt file.
    static func samplesBehindPipe(_ context: UnsafeMutablePointer<AVFormatContext>) -> Bool {
        guard let format = context.pointee.iformat, String(cString: format.pointee.name).hasPrefix("mov,"),
              let pb = context.pointee.pb, pb.pointee.seekable & AVIO_SEEKABLE_NORMAL == 0 else { return false }
        let position = avio_tell(pb)
        for index in 0..<Int(context.pointee.nb_streams) {
            guard let stream = context.pointee.streams[index], avformat_index_get_entries_count(stream) > 0,
                  let first = avformat_index_get_entry(stream, 0) else { continue }
            if first.pointee.pos < position { return true }
        }
        return false
    }

    /// The error for `samplesBehindPipe`, naming the ways out.
    static func moovAtEndError(input: String) -> MediaError {
        .cannotOpen(input: input, reason: "this MP4 keeps its index (moov atom) after the frames, so it cannot be "
            + "read from a pipe; remux it with `ffmpeg -i IN -c copy -movflags +faststart OUT.mp4`, give the "
            + "file's path instead, or pipe MPEG-TS (`ffmpeg -i IN -c copy -f mpegts -`)")
    }

    static func keys(of dictionary: OpaquePointer?) -> [String]? {
        guard let dictionary else { return nil }
        var keys: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>?
        while let next = av_dict_get(dictionary, "", entry, AV_DICT_IGNORE_SUFFIX) {
            keys.append(String(cString: next.pointee.key))
            entry = next
        }
        return keys
    }
}
