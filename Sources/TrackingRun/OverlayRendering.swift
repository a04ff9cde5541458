// OverlayRendering: an overlay video drawn from masks an earlier run stored (`samtrack render`):
// the source decoded frame by frame, each frame's stored objects tinted over it by Export's
// `OverlayRenderer` (the same drawing as `track --overlay`), encoded by Media's `VideoWriter`
// (written under a temporary name, renamed when complete). Frame t of the masks is the t-th
// decoded frame of the source, as the run that wrote them counted.

import Foundation
import Export
import Media

/// Renders stored masks over their video (see the file comment).
public enum OverlayRendering {
    /// What was drawn.
    public struct Summary: Sendable {
        public var frames: Int
        public var width: Int, height: Int
        /// Frames of the source that had at least one stored object.
        public var framesWithMasks: Int
    }

    /// Draws `masks` over `input` into the video file `output`.
    /// - Parameters:
    ///   - maxFrames: stop after this many frames (nil: the whole source).
    ///   - interrupt: stops the render; the frames drawn so far are still finished into `output`.
    ///   - progress: after each frame, with its index and the source's frame count when known.
    /// - Throws: `MediaError` (the source, the encoder), `StoredMasksError` (unreadable masks,
    ///   masks of another size), `ExportError`, `FileError`.
    public static func render(input: String, inputOptions: InputOptions = InputOptions(), masks: StoredMasks, output: String,
                              maxFrames: Int? = nil, interrupt: InterruptSignal? = nil,
                              progress: (Int, Int?) -> Void = { _, _ in }) throws -> Summary {
        var options = inputOptions
        options.interrupt = interrupt
        let reader = try FrameReader(input: input, inputOptions: options,
                                     options: FrameReaderOptions(sourceRGB: true, live: false, maxFrames: maxFrames))
        defer { reader.stop() }
        let info = reader.info
        let writer = try VideoWriter(path: output, width: info.width, height: info.height, frameRate: info.frameRate?.value ?? 30)
        let renderer = OverlayRenderer()
        var summary = Summary(frames: 0, width: info.width, height: info.height, framesWithMasks: 0)
        while true {
            let frame: VideoFrame?
            do {
                frame = try reader.next()
            } catch MediaError.interrupted {
                break
            }
            guard let frame, let rgb = frame.rgb else { break }
            let objects = try masks.objects(frame: summary.frames, width: info.width, height: info.height)
            if !objects.isEmpty { summary.framesWithMasks += 1 }
            try writer.append(try renderer.render(rgb, objects: objects))
            progress(summary.frames, maxFrames.map { max in info.frameCount.map { min($0, max) } ?? max } ?? info.frameCount)
            summary.frames += 1
        }
        try writer.finish()
        return summary
    }
}
