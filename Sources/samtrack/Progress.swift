// Progress: what `samtrack track` shows while it runs (`--progress`).
//
//   bar    a line redrawn in place at most 5 times a second: [#####---] frame/total, ETA, fps,
//          dropped frames (live). The default when stderr is a terminal.
//   plain  one line every `plainInterval` seconds (and for the first frame), never redrawn, for
//          logs, nohup and CI: "frame 120/300 (40%), 11.8 frames/s, ETA 0:15". The default otherwise.
//   none   nothing, and no summary at the end (`--quiet` is the same).
//
// Speeds are frames per second over busy time (tracking and writing; waiting for a live source's
// next frame does not count: `FrameProgress.framesPerSecond`).

import ArgumentParser
import Foundation
import TrackingRun

/// `--progress`.
enum ProgressStyle: String, CaseIterable, ExpressibleByArgument {
    case bar, plain, none

    /// bar on a terminal, plain otherwise.
    static var automatic: ProgressStyle { isatty(STDERR_FILENO) != 0 ? .bar : .plain }
}

/// Prints progress in one `ProgressStyle` (see the file comment). Not thread-safe: call from the
/// run's thread.
final class ProgressReporter {
    let style: ProgressStyle
    /// Seconds between two plain lines.
    static let plainInterval = 5.0
    private var lastLine: Double?
    private var drawn = false
    private let start = ProcessInfo.processInfo.systemUptime

    init(style: ProgressStyle) { self.style = style }

    /// What a line shows.
    struct Point {
        var frame: Int
        var total: Int?
        var framesPerSecond: Double
        var dropped = 0
    }

    func update(_ progress: FrameProgress) {
        update(Point(frame: progress.frame, total: progress.totalFrames, framesPerSecond: progress.framesPerSecond,
                     dropped: progress.droppedFrames))
    }

    /// Progress of a command that only counts frames: the speed is over the wall time since the
    /// reporter was made.
    func update(frame: Int, total: Int?) {
        let elapsed = max(ProcessInfo.processInfo.systemUptime - start, 1e-3)
        update(Point(frame: frame, total: total, framesPerSecond: Double(frame + 1) / elapsed))
    }

    func update(_ p: Point) {
        let now = ProcessInfo.processInfo.systemUptime
        switch style {
        case .none: return
        case .bar:
            if let lastLine, now - lastLine < 0.2 { return }
            lastLine = now
            drawn = true
            write("\r" + Self.barText(p) + "\u{1B}[K")
        case .plain:
            if let lastLine, now - lastLine < Self.plainInterval { return }
            lastLine = now
            write(Self.plainText(p) + "\n")
        }
    }

    /// Clears the bar before the summary.
    func finish() {
        if style == .bar && drawn { write("\r\u{1B}[K") }
    }

    /// "frame 120/300 (40%), 11.8 frames/s, ETA 0:15" (without a total: "frame 120, 11.8 frames/s").
    static func plainText(_ p: Point) -> String {
        var text = "frame \(p.frame + 1)"
        if let total = p.total, total > 0 {
            text += "/\(total) (\(Int(Double(p.frame + 1) / Double(total) * 100))%)"
        }
        text += String(format: ", %.1f frames/s", p.framesPerSecond)
        if let eta = eta(p) { text += ", ETA " + eta }
        if p.dropped > 0 { text += ", \(p.dropped) dropped" }
        return text
    }

    static func barText(_ p: Point) -> String {
        var text = "frame \(p.frame + 1)"
        if let total = p.total, total > 0 {
            let fraction = min(1, Double(p.frame + 1) / Double(total))
            let width = 24, filled = Int(fraction * Double(width))
            text = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + "\(p.frame + 1)/\(total)"
            if let eta = eta(p) { text += "  ETA " + eta }
        }
        text += String(format: "  %.2f fps", p.framesPerSecond)
        if p.dropped > 0 { text += "  dropped \(p.dropped)" }
        return text
    }

    /// Time left at the current speed, "m:ss" (nil without a total).
    static func eta(_ p: Point) -> String? {
        guard let total = p.total, total > 0, p.framesPerSecond > 0 else { return nil }
        let remaining = Int(Double(max(0, total - p.frame - 1)) / p.framesPerSecond)
        return String(format: "%d:%02d", remaining / 60, remaining % 60)
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
