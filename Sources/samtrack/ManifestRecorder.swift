// ManifestRecorder: run.json for one `samtrack track` run (TrackingRun's `RunManifest`), kept up
// to date from the run's callbacks so that whichever path ends the process — the main thread
// after the run, or the quit path of a second Ctrl-C — can write it. The model's SHA-256 is
// computed on a background thread while the model loads and the run works.

import Foundation
import Tracker
import TrackingRun

/// Builds and writes run.json (see the file comment). Thread-safe.
final class ManifestRecorder: @unchecked Sendable {  // every mutable field is behind `lock`
    private let lock = NSLock()
    private var manifest: RunManifest
    private let started = ProcessInfo.processInfo.systemUptime
    private var sourceOpened = false
    private var framesDone = 0
    private var digest: String?
    private let digestDone = DispatchSemaphore(value: 0)

    /// Starts hashing `manifest.model.path`.
    init(_ manifest: RunManifest) {
        self.manifest = manifest
        let path = manifest.model.path
        Thread.detachNewThread { [self] in
            let value = try? FileDigest.sha256(path: path)
            lock.withLock { digest = value }
            digestDone.signal()
        }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int {
            self.manifest.model.bytes = size
        }
    }

    /// The source is open and the prompts fit it.
    func sourceOpened(width: Int, height: Int, frameCount: Int?) {
        lock.withLock {
            sourceOpened = true
            manifest.source.width = width
            manifest.source.height = height
            manifest.source.frameCount = frameCount
        }
    }

    /// After each frame.
    func progress(_ p: FrameProgress) {
        lock.withLock {
            framesDone += 1
            manifest.framesDropped = p.droppedFrames
            var timings = RunManifest.Timings(totalSeconds: ProcessInfo.processInfo.systemUptime - started)
            timings.decodeSeconds = p.decodeSeconds
            timings.outputSeconds = p.outputSeconds
            timings.trackingSeconds = p.timings.total
            timings.framesPerSecond = p.framesPerSecond
            manifest.timings = timings
        }
    }

    /// True once the source was opened (the outputs exist from then on).
    var hasStarted: Bool { lock.withLock { sourceOpened } }

    /// Frames reported by `progress` so far (each was written before it was reported).
    var framesReported: Int { lock.withLock { framesDone } }

    /// Writes DIR/run.json with the end of the run, waiting at most `digestWait` seconds for the
    /// model's digest (left out when it is not ready). Errors are returned, not thrown: the run's
    /// own outcome is what the exit status reports.
    @discardableResult
    func write(endReason: String, framesTracked: Int, framesDropped: Int? = nil, error: String? = nil,
               digestWait: Double = .infinity) -> Error? {
        if digestWait.isFinite {
            if digestDone.wait(timeout: .now() + digestWait) == .success { digestDone.signal() }
        } else {
            digestDone.wait()
            digestDone.signal()  // for a later call
        }
        let snapshot: RunManifest = lock.withLock {
            manifest.model.sha256 = digest
            manifest.endReason = endReason
            manifest.framesTracked = framesTracked
            if let framesDropped { manifest.framesDropped = framesDropped }
            manifest.error = error
            manifest.finishedAt = Date()
            var timings = manifest.timings ?? RunManifest.Timings(totalSeconds: 0)
            timings.totalSeconds = ProcessInfo.processInfo.systemUptime - started
            manifest.timings = timings
            return manifest
        }
        guard let directory = snapshot.outputs.directory else { return nil }
        do {
            try snapshot.write(toDirectory: directory)
            return nil
        } catch {
            return error
        }
    }
}
