// VideoSource+Seeking: the primitives `RandomAccessVideo` builds on: a demux pass over the video
// stream's packets without decoding (the frame index), and a seek that makes the decoder start
// again at a given keyframe packet.
//
// A seek asks the demuxer for a position at or before the keyframe's timestamp
// (`avformat_seek_file`, backward), flushes the decoder (`avcodec_flush_buffers`), and then
// skips packets until the keyframe itself comes (demuxers may resume a little earlier: Matroska
// seeks by cue, MPEG-TS by a binary search over timestamps). A packet past the keyframe before
// the keyframe was seen means the seek landed too late: `SeekMiss`, and the caller seeks again
// from further back.

import CFFmpeg

/// One packet of the video stream as the index pass saw it (timestamps in the stream's time base).
struct PacketRecord: Sendable, Equatable {
    var pts: Int64?
    var dts: Int64?
    /// Byte offset in the input; -1 when unknown.
    var position: Int64
    var isKeyframe: Bool
    /// Marked for the decoder to drop (MP4 edit lists): decoded as a reference, never output.
    var isDiscarded: Bool
}

/// The keyframe packet a seek must resume decoding at.
struct SeekTarget: Sendable, Equatable {
    var pts: Int64?
    var dts: Int64?
    var position: Int64

    enum Order { case before, match, after }

    /// Where `packet` lies relative to the target in decode order.
    func compare(_ packet: UnsafeMutablePointer<AVPacket>) -> Order {
        let nopts = samtrack_nopts_value()
        let packetPTS = packet.pointee.pts == nopts ? nil : packet.pointee.pts
        let packetDTS = packet.pointee.dts == nopts ? nil : packet.pointee.dts
        if pts == packetPTS && dts == packetDTS && (pts != nil || dts != nil || position == packet.pointee.pos) {
            return .match
        }
        if let dts, let packetDTS { return packetDTS > dts ? .after : .before }
        if position >= 0 && packet.pointee.pos >= 0 { return packet.pointee.pos > position ? .after : .before }
        return .before
    }
}

/// A seek resumed after its target keyframe (thrown by `nextFrame()` while skipping to it).
struct SeekMiss: Error {}

extension VideoSource {
    /// Reads every remaining packet of the video stream without decoding it, in decode order.
    /// Leaves the demuxer at the end of the input: seek before decoding.
    /// - Throws: `.interrupted`, `.readFailed` (a read error other than the end of the input),
    ///   `.outsideAllowedDirectories` (a confined image sequence reaching outside).
    func scanPackets() throws -> [PacketRecord] {
        guard let format = formatContext, let packet else { return [] }
        let nopts = samtrack_nopts_value()
        var records: [PacketRecord] = []
        while true {
            let read = av_read_frame(format, packet)
            if read == AVErrorCode.again {
                if isInterrupted { throw MediaError.interrupted(input: info.input) }
                continue
            }
            if read < 0 {
                if read == AVErrorCode.exit || isInterrupted { throw MediaError.interrupted(input: info.input) }
                if let refused = confinementRefusedURL {
                    throw MediaError.outsideAllowedDirectories(input: info.input, url: refused)
                }
                if read == AVErrorCode.eof { return records }
                throw MediaError.readFailed(input: info.input, reason: ffmpegErrorString(read))
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            let flags = packet.pointee.flags
            records.append(PacketRecord(
                pts: packet.pointee.pts == nopts ? nil : packet.pointee.pts,
                dts: packet.pointee.dts == nopts ? nil : packet.pointee.dts,
                position: packet.pointee.pos,
                isKeyframe: flags & AV_PKT_FLAG_KEY != 0,
                isDiscarded: flags & AV_PKT_FLAG_DISCARD != 0))
        }
    }

    /// Repositions the input so that decoding resumes at the keyframe `target`: seeks to
    /// `timestamp` (stream time base) or before, flushes the decoder and arms the skip to the
    /// keyframe. `timestamp` nil asks for the earliest position. Afterwards `nextFrame()`
    /// delivers the frames decoded from the keyframe on (their `index` counts from 0 again).
    /// - Throws: `.readFailed` when the demuxer cannot seek at all.
    func seek(to target: SeekTarget, timestamp: Int64?) throws {
        guard let format = formatContext, let codec = codecContext else {
            throw MediaError.readFailed(input: info.input, reason: "the input is closed")
        }
        var result: Int32
        if let timestamp {
            result = avformat_seek_file(format, streamIndex, Int64.min, timestamp, timestamp, 0)
            if result < 0 { result = av_seek_frame(format, streamIndex, timestamp, AVSEEK_FLAG_BACKWARD) }
        } else {
            result = avformat_seek_file(format, streamIndex, Int64.min, Int64.min, Int64.min, 0)
        }
        if result < 0 {
            throw MediaError.readFailed(input: info.input, reason: "cannot seek: \(ffmpegErrorString(result))")
        }
        avcodec_flush_buffers(codec)
        skip(to: target)
    }

    /// Makes decoding resume at the keyframe `target`: packets before it are skipped (a fresh
    /// source, or one just repositioned). Frame indices count from 0 again.
    func skip(to target: SeekTarget) {
        draining = false
        finished = false
        pendingReadError = nil
        wentIdle = false
        endReason = nil
        framesDecoded = 0
        packetsFedSinceSeek = 0
        seekTarget = target
    }

    /// True when the input can be repositioned (a file, not a pipe or a network stream).
    var isSeekable: Bool {
        guard let format = formatContext, let pb = format.pointee.pb else {
            // Formats without an AVIOContext of their own (image2 opens each frame) seek by number.
            return formatContext != nil
        }
        return pb.pointee.seekable & AVIO_SEEKABLE_NORMAL != 0
    }
}
