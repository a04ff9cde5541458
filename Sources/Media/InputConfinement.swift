// InputConfinement: keeps a file input from reading anything outside the directories a caller
// allows, including what FFmpeg opens on the input's behalf.
//
// A file under an allowed directory can still make FFmpeg read elsewhere: an HLS or DASH
// playlist (whatever its name: probing goes by content) lists segments anywhere, a concat list
// names other files, `concat:a|b` and `subfile,,start,...:path` URLs are protocols over other
// files, an image sequence's frames may be symlinks. Three FFmpeg mechanisms together close this:
//
//   1. `io_open`: FFmpeg opens the input itself and every nested resource of a demuxer that stays
//      in the same format context (image-sequence frames, HLS/DASH segments and keys, MP4 data
//      references) through `AVFormatContext.io_open`. A confined input installs its own
//      (`samtrack_confined_io_open` in the CFFmpeg shim): a URL with a protocol other than
//      `file:` is refused, a path is resolved with realpath(3) and opened (on its resolved form)
//      only when it lies under an allowed directory; anything else fails with EPERM and is
//      reported as `MediaError.outsideAllowedDirectories`.
//   2. `protocol_whitelist=file`: applies to the input and, as FFmpeg copies it, to nested
//      format contexts that do not use the parent's `io_open` (the concat demuxer's, vobsub's).
//   3. `format_whitelist`: demuxers that open other inputs through their own format contexts
//      (concat, hls, dash, imf, vobsub), network demuxers (sdp, rtp, rtsp, sap) and every
//      capture device and lavfi are left out (`InputConfinement.excludedFormats`), unless the
//      caller lists formats itself. FFmpeg checks the whitelist right after probing, before the
//      demuxer reads anything, and nested contexts inherit it. A refused format is reported as
//      `MediaError.formatNotAllowed` naming the demuxer.
//
// Limits: the check and the open are two steps, so a symlink swapped between them by someone who
// can write inside an allowed directory is not caught; existence checks of image-sequence
// frames (avio_check) are not confined (they reveal only whether a file exists).

import CFFmpeg
import Foundation

/// Restricts a file input to local files under `allowedDirectories`, for the input itself and
/// for everything FFmpeg opens on its behalf (see the file comment). For files and image
/// sequences only: a confined input cannot be a URL, a device or standard input.
public struct InputConfinement: Sendable, Equatable {
    /// Directories the input and every file it refers to must lie in, after resolving symbolic
    /// links (each is resolved with realpath when the input is opened; one that does not exist
    /// allows nothing).
    public var allowedDirectories: [String]
    /// Demuxers the input may be read with (FFmpeg names, e.g. `["mov,mp4,m4a,3gp,3g2,mj2",
    /// "image2"]`); nil = every demuxer FFmpeg has except `excludedFormats`. Listing `hls` or
    /// `dash` is possible (their segments are opened through the confined `io_open`); the
    /// `unconfinableFormats` are removed from any list.
    public var allowedFormats: [String]?

    public init(allowedDirectories: [String], allowedFormats: [String]? = nil) {
        self.allowedDirectories = allowedDirectories
        self.allowedFormats = allowedFormats
    }

    /// Demuxers left out by default: those that open other files or URLs through format contexts
    /// of their own (concat, hls, dash, imf, vobsub) and network demuxers. Capture devices and
    /// lavfi are left out as well (see `defaultFormats()`).
    public static let excludedFormats: Set<String> = ["concat", "hls", "dash", "imf", "vobsub", "sdp", "rtp", "rtsp", "sap",
                                                      "lavfi"]

    /// Demuxers that open other files through format contexts of their own, with FFmpeg's
    /// default `io_open` (which checks protocols, not directories): never allowed when confined.
    public static let unconfinableFormats: Set<String> = ["concat", "imf", "vobsub", "lavfi"]

    /// Every demuxer name FFmpeg has, minus `excludedFormats` and capture devices.
    public static func defaultFormats() -> [String] {
        FFmpegSetup.ensure()
        var names: [String] = []
        var iterator: UnsafeMutableRawPointer?
        while let format = av_demuxer_iterate(&iterator) {
            let name = String(cString: format.pointee.name)
            if excludedFormats.contains(name) || isDevice(format) { continue }
            names.append(name)
        }
        return names
    }

    private static func isDevice(_ format: UnsafePointer<AVInputFormat>) -> Bool {
        guard let cls = format.pointee.priv_class else { return false }
        let category = cls.pointee.category
        return category == AV_CLASS_CATEGORY_DEVICE_VIDEO_INPUT || category == AV_CLASS_CATEGORY_DEVICE_AUDIO_INPUT
            || category == AV_CLASS_CATEGORY_DEVICE_INPUT
    }

    /// The `format_whitelist` value: allowed demuxer names joined by commas (FFmpeg matches each
    /// comma-separated part of a demuxer's name against each part of the list).
    var formatWhitelist: String { allowedNames.sorted().joined(separator: ",") }

    /// The allowed demuxer names, each comma-separated part on its own.
    private var allowedNames: Set<String> {
        Set((allowedFormats ?? Self.defaultFormats()).flatMap { $0.split(separator: ",").map(String.init) })
            .subtracting(Self.unconfinableFormats)
    }

    /// True when the demuxer `name` (as FFmpeg spells it, possibly several comma-separated
    /// names) is allowed.
    func allows(format name: String) -> Bool {
        let allowed = allowedNames
        return name.split(separator: ",").contains { allowed.contains(String($0)) }
    }
}

/// The C state of an installed confinement: resolved roots and the refusal record. Lives as long
/// as the format context it is installed in.
final class ConfinementState {
    let state: UnsafeMutablePointer<samtrack_confinement>
    private let roots: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let rootCount: Int

    init(_ confinement: InputConfinement) {
        var resolved: [String] = []
        for directory in confinement.allowedDirectories {
            guard let real = realpath(directory, nil) else { continue }
            resolved.append(String(cString: real))
            free(real)
        }
        rootCount = resolved.count
        roots = .allocate(capacity: max(1, resolved.count))
        for (i, root) in resolved.enumerated() { roots[i] = UnsafePointer(strdup(root)) }
        state = .allocate(capacity: 1)
        state.initialize(to: samtrack_confinement())
        state.pointee.roots = UnsafePointer(roots)
        state.pointee.root_count = Int32(resolved.count)
    }

    /// Installs the confined io_open in `context` (before `avformat_open_input`).
    func install(in context: UnsafeMutablePointer<AVFormatContext>) {
        samtrack_install_confinement(context, state)
    }

    /// The URL refused most recently, if any.
    var refusedURL: String? {
        guard state.pointee.refused != 0 else { return nil }
        return withUnsafeBytes(of: &state.pointee.refused_url) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    deinit {
        for i in 0..<rootCount { free(UnsafeMutablePointer(mutating: roots[i])) }
        roots.deallocate()
        state.deallocate()
    }
}

/// The demuxer FFmpeg would pick for the local file `path` (probing its first bytes), or nil.
func probedFormatName(path: String) -> String? {
    var options: OpaquePointer?
    av_dict_set(&options, "protocol_whitelist", "file", 0)
    defer { av_dict_free(&options) }
    var io: UnsafeMutablePointer<AVIOContext>?
    guard avio_open2(&io, path, AVIO_FLAG_READ, nil, &options) >= 0, io != nil else { return nil }
    defer { avio_closep(&io) }
    var format: UnsafePointer<AVInputFormat>?
    guard av_probe_input_buffer2(io, &format, path, nil, 0, 0) >= 0, let format else { return nil }
    return String(cString: format.pointee.name)
}
