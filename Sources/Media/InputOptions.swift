// InputOptions: how an input is opened (demuxer, options, live mode, decoder threads, timeouts,
// confinement), and the signal that aborts FFmpeg's blocking I/O from another thread.

import CFFmpeg
import Foundation

/// How to open an input.
public struct InputOptions: Sendable, Equatable {
    /// Force a demuxer or device (`"v4l2"`, `"image2"`, `"lavfi"`, `"mpegts"`...); nil = probe.
    public var format: String?
    /// Demuxer / protocol / device options (`["framerate": "30", "video_size": "1280x720"]`).
    /// An option nobody recognises is an error, as with the ffmpeg CLI.
    public var options: [String: String]
    /// Live mode (newest frame wins, see `FrameReader`); nil = automatic: devices and network
    /// streams are live, files, pipes and image sequences are not.
    public var live: Bool?
    /// Decoder threads; 0 = automatic (one per core).
    public var decoderThreads: Int
    /// Give up opening (connecting, probing) after this many seconds; nil = wait as long as the
    /// protocol does. Reads after opening are not limited (use `interrupt`, or protocol options
    /// such as `rw_timeout`).
    public var openTimeout: Double?
    /// Aborts blocking opens and reads from another thread, including while `VideoSource.init`
    /// is still connecting.
    public var interrupt: InterruptSignal?
    /// Restricts a file or image-sequence input to local files under given directories, for the
    /// input and everything FFmpeg opens on its behalf, and to demuxers that open nothing else
    /// (see `InputConfinement`); nil = no restriction. Use it for inputs named by untrusted
    /// callers (the daemon's file sources).
    public var confinement: InputConfinement?
    /// End the input when it delivers no packet for this many seconds (a live stream whose
    /// sender stopped); the end reason is then `.idle`. nil = wait as long as the protocol does.
    public var idleTimeout: Double?

    public init(format: String? = nil, options: [String: String] = [:], live: Bool? = nil,
                decoderThreads: Int = 0, openTimeout: Double? = nil, interrupt: InterruptSignal? = nil,
                confinement: InputConfinement? = nil, idleTimeout: Double? = nil) {
        self.idleTimeout = idleTimeout
        self.format = format
        self.options = options
        self.live = live
        self.decoderThreads = decoderThreads
        self.openTimeout = openTimeout
        self.interrupt = interrupt
        self.confinement = confinement
    }
}

/// A flag that aborts FFmpeg's blocking I/O (opening, reading) of the inputs it is given to.
/// Thread-safe; once set it stays set.
public final class InterruptSignal: @unchecked Sendable, Equatable {  // one int read and written atomically
    let flag: UnsafeMutablePointer<Int32>

    public init() {
        flag = .allocate(capacity: 1)
        flag.initialize(to: 0)
    }

    deinit { flag.deallocate() }

    /// Makes every blocking call of the inputs using this signal fail with `.interrupted`.
    public func interrupt() { samtrack_flag_store(flag, 1) }

    /// True once `interrupt()` was called.
    public var isInterrupted: Bool { samtrack_flag_load(flag) != 0 }

    public static func == (lhs: InterruptSignal, rhs: InterruptSignal) -> Bool { lhs === rhs }
}
