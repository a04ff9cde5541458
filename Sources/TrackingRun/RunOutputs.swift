// RunOutputs: the writers a run's output options ask for (masks.jsonl, grey or palette PNGs,
// logits, an overlay video), opened together, written per frame and finished together. File
// names come from Export's `OutputLayout`; every file goes through FileIO's atomic, no-follow
// writers. A resumed run's masks.jsonl continues after the saved frame.

import Foundation
import Export
import FileIO
import Media
import Tracker

/// The open writers of one run (see the file comment). Not thread-safe.
final class RunOutputs {
    let jsonl: MaskJSONLWriter?
    let png: MaskPNGWriter?
    let palette: PalettePNGWriter?
    let logits: NPYWriter?
    let overlay: VideoWriter?
    let renderer = OverlayRenderer()
    let width: Int, height: Int

    /// With `resumingAfter`, the masks.jsonl output continues after that frame (PNG outputs are
    /// per frame and simply rewritten); an overlay video cannot be resumed.
    init(output: OutputOptions, width: Int, height: Int, frameRate: Double, resumingAfter: Int? = nil) throws(RunError) {
        self.width = width
        self.height = height
        if resumingAfter != nil, output.overlay != nil { throw .resume("an overlay video cannot be resumed") }
        do {
            if let directory = output.directory {
                let wantsJSONL = output.format == .rle || output.recordJSONL
                if wantsJSONL, let resumingAfter {
                    jsonl = try Self.resumedJSONL(directory: directory, after: resumingAfter)
                } else {
                    jsonl = wantsJSONL ? try MaskJSONLWriter(directory: directory) : nil
                }
                png = output.format == .png ? try MaskPNGWriter(directory: directory) : nil
                palette = output.format == .palette ? try PalettePNGWriter(directory: directory) : nil
            } else {
                jsonl = nil; png = nil; palette = nil
            }
            logits = try output.logitsDirectory.map { try NPYWriter(directory: $0) }
            overlay = try output.overlay.map { try VideoWriter(path: $0, width: width, height: height, frameRate: frameRate) }
        } catch {
            throw RunError.fromOutput(error)
        }
    }

    /// Writes one frame; with `recordFrame` false only the overlay gets it (a frame without results).
    func write(frame: Int, pts: Double?, masks: [ObjectMask], records: [MaskRecord], results: [ObjectFrameResult],
               sourceRGB: RGBImage?, recordFrame: Bool = true) throws(RunError) {
        do {
            if recordFrame {
                try jsonl?.append(FrameRecord(frame: frame, pts: pts, objects: records))
                try png?.write(frame: frame, objects: masks)
                try palette?.write(frame: frame, width: width, height: height, objects: masks)
                if let logits { for r in results { try logits.write(frame: frame, id: r.objectID, logits: r.lowResLogits) } }
            }
            if let overlay, let sourceRGB { try overlay.append(try renderer.render(sourceRGB, objects: masks)) }
        } catch {
            throw RunError.fromOutput(error)
        }
    }

    func finish() throws(RunError) {
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
