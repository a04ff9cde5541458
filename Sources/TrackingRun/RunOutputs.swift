// RunOutputs: the writers a run's output options ask for (masks.jsonl, grey and/or palette PNGs,
// logits, an overlay video), opened together, written per frame and finished together. File
// names come from Export's `OutputLayout`; every file goes through FileIO's atomic, no-follow
// writers. A resumed run's masks.jsonl continues after the saved frame.
//
// Closing from another thread. Writes and `finish` hold one lock, so `finishNow` (a second
// Ctrl-C: quit without waiting for the frame being tracked) can close the outputs from a signal
// thread between two frames: every frame written so far is in the finished files, and the
// frame being tracked is dropped (its write becomes a no-op).

import Foundation
import Export
import FileIO
import Media
import Tracker

/// The open writers of one run (see the file comment). `write`, `finish` and `finishNow` may be
/// called from different threads; frames must still come in order.
final class RunOutputs: @unchecked Sendable {  // every mutable field is behind `lock`
    let jsonl: MaskJSONLWriter?
    let png: MaskPNGWriter?
    let palette: PalettePNGWriter?
    let logits: NPYWriter?
    let overlay: VideoWriter?
    let renderer = OverlayRenderer()
    let width: Int, height: Int

    private let lock = NSLock()
    private var finished = false
    private var written = 0
    /// Frames recorded before this run (a resumed masks.jsonl).
    private let resumed: Bool

    /// With `resumingAfter`, the masks.jsonl output continues after that frame (PNG outputs are
    /// per frame and simply rewritten); an overlay video cannot be resumed.
    init(output: OutputOptions, width: Int, height: Int, frameRate: Double, resumingAfter: Int? = nil) throws(RunError) {
        self.width = width
        self.height = height
        resumed = resumingAfter != nil
        if resumingAfter != nil, output.overlay != nil { throw .resume("an overlay video cannot be resumed") }
        do {
            if let directory = output.directory {
                let wantsJSONL = output.formats.contains(.rle) || output.recordJSONL
                if wantsJSONL, let resumingAfter {
                    jsonl = try Self.resumedJSONL(directory: directory, after: resumingAfter)
                } else {
                    jsonl = wantsJSONL ? try MaskJSONLWriter(directory: directory) : nil
                }
                png = output.formats.contains(.png) ? try MaskPNGWriter(directory: directory) : nil
                palette = output.formats.contains(.palette) ? try PalettePNGWriter(directory: directory) : nil
            } else {
                jsonl = nil; png = nil; palette = nil
            }
            logits = try output.logitsDirectory.map { try NPYWriter(directory: $0) }
            overlay = try output.overlay.map { try VideoWriter(path: $0, width: width, height: height, frameRate: frameRate) }
        } catch {
            throw RunError.fromOutput(error)
        }
    }

    /// Frames recorded so far by this run (not counting the overlay-only ones).
    var framesWritten: Int { lock.withLock { written } }

    /// True once the outputs are finished (by `finish` or `finishNow`): later writes are dropped.
    var isFinished: Bool { lock.withLock { finished } }

    /// Writes one frame; with `recordFrame` false only the overlay gets it (a frame without
    /// results). After `finishNow` it does nothing.
    func write(frame: Int, pts: Double?, masks: [ObjectMask], records: [MaskRecord], results: [ObjectFrameResult],
               sourceRGB: RGBImage?, recordFrame: Bool = true) throws(RunError) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        do {
            if recordFrame {
                try jsonl?.append(FrameRecord(frame: frame, pts: pts, objects: records))
                try png?.write(frame: frame, objects: masks)
                try palette?.write(frame: frame, width: width, height: height, objects: masks)
                if let logits { for r in results { try logits.write(frame: frame, id: r.objectID, logits: r.lowResLogits) } }
                written += 1
            }
            if let overlay, let sourceRGB { try overlay.append(try renderer.render(sourceRGB, objects: masks)) }
        } catch {
            throw RunError.fromOutput(error)
        }
    }

    /// Finishes masks.jsonl (renamed from its partial name) and the overlay video. Idempotent.
    func finish() throws(RunError) {
        lock.lock()
        defer { lock.unlock() }
        try finishLocked()
    }

    /// After a failure: `finish()` when frames were written (or the masks.jsonl was resumed), else
    /// removes what was started, so that a run that failed before its first frame leaves no
    /// empty masks.jsonl or overlay behind. Errors are ignored: the failure is what is reported.
    func finishAfterFailure() {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        if written > 0 || resumed {
            try? finishLocked()
            return
        }
        finished = true
        if let jsonl, let handle = try? DirectoryHandle.open(jsonl.directory, create: false) {
            handle.removeFile(OutputLayout.masksJSONLName + OutputLayout.partialSuffix)
        }
        // An overlay writer released without `finish()` removes its temporary file.
    }

    /// Finishes the outputs now from any thread, once no frame is being written (waiting at most
    /// `timeout` seconds for one in progress). Returns the frames written, or nil when the
    /// outputs could not be locked in time (the partial masks.jsonl then still holds every
    /// finished frame, one complete line each).
    func finishNow(timeout: Double) -> Result<Int, RunError>? {
        guard lock.lock(before: Date(timeIntervalSinceNow: timeout)) else { return nil }
        defer { lock.unlock() }
        do {
            try finishLocked()
            return .success(written)
        } catch {
            return .failure(error)
        }
    }

    private func finishLocked() throws(RunError) {
        guard !finished else { return }
        finished = true
        do {
            try jsonl?.finish()
            try overlay?.finish()
        } catch {
            throw RunError.fromOutput(error)
        }
    }

    /// The masks.jsonl writer continuing after `frame`. A crash between finishing the file and
    /// recording the job's end leaves only the finished file: it is reopened as the partial one.
    static func resumedJSONL(directory: String, after frame: Int) throws -> MaskJSONLWriter {
        let handle = try DirectoryHandle.open(directory, create: false)
        let final = OutputLayout.masksJSONLName, partial = final + OutputLayout.partialSuffix
        if !handle.contains(partial) && handle.contains(final) { try handle.rename(final, to: partial) }
        let writer = try MaskJSONLWriter.resume(directory: directory, continuingAt: frame + 1)
        guard (writer.lastFrame ?? -1) == frame else {
            throw RunError.resume("masks.jsonl.partial ends at frame \(writer.lastFrame.map(String.init) ?? "none"), "
                                  + "the saved state at frame \(frame)")
        }
        return writer
    }
}
