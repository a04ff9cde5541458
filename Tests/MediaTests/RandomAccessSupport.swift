// Clips for the random-access tests, made once per test process with the ffmpeg CLI, and the
// sequential decoder's frames as the reference.

import Foundation
import XCTest
import TestSupport
@testable import Media

/// Generated videos with the structures seeking has to get right (libx264).
final class SeekClips: @unchecked Sendable {
    static let shared: Result<SeekClips, Error> = Result { try SeekClips() }

    let dir: TemporaryDirectory
    /// H.264, closed GOPs of 12 frames, 3 B-frames (pts != dts), 60 frames, 160x90.
    let gop: String
    /// The same stream in MPEG-TS (no index: seeks search by timestamp).
    let transportStream: String
    /// H.264 with open GOPs: frames after a keyframe in decode order are shown before it.
    let openGOP: String
    /// An MP4 cut with `-ss ... -c copy`: an edit list whose leading packets are decoded but
    /// dropped (AV_PKT_FLAG_DISCARD), starting at a discarded keyframe.
    let editList: String

    private init() throws {
        dir = try TemporaryDirectory("seek-clips")
        let bedroom = Fixtures.sharedMedia("bedroom.mp4")
        gop = dir.file("gop.mp4")
        try CLI.ffmpeg(["-i", bedroom, "-frames:v", "60", "-vf", "scale=160:90", "-c:v", "libx264", "-g", "12",
                        "-bf", "3", "-pix_fmt", "yuv420p", gop], timeout: 120)
        transportStream = dir.file("gop.ts")
        try CLI.ffmpeg(["-i", gop, "-c", "copy", "-f", "mpegts", transportStream])
        openGOP = dir.file("open.mp4")
        try CLI.ffmpeg(["-i", bedroom, "-frames:v", "60", "-vf", "scale=160:90", "-c:v", "libx264", "-bf", "3",
                        "-x264-params", "open-gop=1:keyint=12:min-keyint=12:scenecut=0", "-pix_fmt", "yuv420p", openGOP],
                       timeout: 120)
        editList = dir.file("edit.mp4")
        try CLI.ffmpeg(["-ss", "0.5", "-i", gop, "-c", "copy", editList])
    }

    /// The clips, or a skip when the ffmpeg CLI or its libx264 encoder is missing.
    static func get() throws -> SeekClips {
        let encoders = String(decoding: try CLI.run("ffmpeg", ["-hide_banner", "-encoders"]), as: UTF8.self)
        guard encoders.contains(" libx264 ") else { throw XCTSkip("ffmpeg has no libx264 encoder") }
        return try shared.get()
    }
}

/// Generated image folders.
final class ImageClips: @unchecked Sendable {
    static let shared: Result<ImageClips, Error> = Result { try ImageClips() }

    let dir: TemporaryDirectory
    /// 23 PNG frames `%05d.png` numbered from 17.
    let pngDirectory: String
    /// 12 JPEG frames `frame1.jpg` ... `frame12.jpg` (natural order differs from plain order).
    let jpegDirectory: String

    private init() throws {
        dir = try TemporaryDirectory("image-clips")
        pngDirectory = dir.file("png")
        try FileManager.default.createDirectory(atPath: pngDirectory, withIntermediateDirectories: true)
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-frames:v", "23", "-start_number", "17",
                        "\(pngDirectory)/%05d.png"])
        jpegDirectory = dir.file("jpeg")
        try FileManager.default.createDirectory(atPath: jpegDirectory, withIntermediateDirectories: true)
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=80x48:rate=10", "-frames:v", "12", "-start_number", "1",
                        "\(jpegDirectory)/frame%d.jpg"])
    }

    /// The folders, or a skip when the ffmpeg CLI is missing.
    static func get() throws -> ImageClips {
        _ = try CLI.require("ffmpeg")
        return try shared.get()
    }
}

/// A digest of a frame's decoded planes (exact samples, no conversion).
func planesDigest(_ frame: DecodedFrame) -> Int {
    var hasher = Hasher()
    frame.packedPlanes().withUnsafeBytes { hasher.combine(bytes: $0) }
    hasher.combine(frame.width)
    hasher.combine(frame.height)
    hasher.combine(frame.pixelFormat)
    return hasher.finalize()
}

/// The digest of every frame as the sequential decoder delivers them (`MediaInput.open`:
/// directories as image lists).
func sequentialDigests(_ input: String, options: InputOptions = InputOptions()) throws -> [Int] {
    let source = try MediaInput.open(input, options: options)
    defer { source.close() }
    var digests: [Int] = []
    while let frame = try source.nextFrame() {
        XCTAssertEqual(frame.index, digests.count)
        digests.append(planesDigest(frame))
    }
    return digests
}

/// A reproducible pseudo-random generator (SplitMix64) for access orders.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
