// SegmentPreview: the picture `samtrack segment --overlay` writes: the frame with the mask tinted
// over it (`OverlayRenderer`), the prompt marked on top (a box as a 2-px yellow rectangle; each
// click as a filled disc with a white ring, green for foreground, red for background), and with
// candidates, one more panel per candidate to the right (the candidate tinted in its own colour,
// its predicted IoU in percent in the top-left corner, the chosen one with a white frame).
// Marks scale with the frame (`markScale`: 1 below 540 px, 2 at 540p/720p, 4 at 1080p).

import Media

/// Draws segment previews (see the file comment).
public enum SegmentPreview {
    /// A click to mark, in source pixels.
    public struct Point: Sendable {
        public var x: Float, y: Float
        public var foreground: Bool
        public init(x: Float, y: Float, foreground: Bool) {
            self.x = x
            self.y = y
            self.foreground = foreground
        }
    }

    /// A candidate to show beside the result.
    public struct Candidate: Sendable {
        public var mask: BinaryMask
        public var iou: Float
        public var chosen: Bool
        public init(mask: BinaryMask, iou: Float, chosen: Bool) {
            self.mask = mask
            self.iou = iou
            self.chosen = chosen
        }
    }

    /// The preview of `mask` (object `id`) over `frame`, with the prompt marked and the
    /// candidates as extra panels (none: one panel, the frame's size).
    /// - Throws: `ExportError.invalidArgument` when a mask's size is not the frame's.
    public static func render(frame: RGBImage, mask: BinaryMask, id: Int = 1, points: [Point],
                              box: (x1: Float, y1: Float, x2: Float, y2: Float)?,
                              candidates: [Candidate] = []) throws -> RGBImage {
        var main = try OverlayRenderer().render(frame, objects: [ObjectMask(id: id, score: 1, mask: mask)])
        let scale = markScale(width: frame.width, height: frame.height)
        if let box { drawBox(box, scale: scale, on: &main) }
        for p in points { drawPoint(p, scale: scale, on: &main) }
        guard !candidates.isEmpty else { return main }
        var panels = [main]
        for (j, c) in candidates.enumerated() {
            var panel = try OverlayRenderer(drawsLabels: false).render(frame, objects: [ObjectMask(id: j + 2, score: 1, mask: c.mask)])
            if let box { drawBox(box, scale: scale, on: &panel) }
            for p in points { drawPoint(p, scale: scale, on: &panel) }
            drawScore(Int((c.iou * 100).rounded()), scale: scale, on: &panel)
            if c.chosen { drawFrame(scale: scale, on: &panel) }
            panels.append(panel)
        }
        return sideBySide(panels)
    }

    /// Thickness unit of the marks for a frame of this size.
    public static func markScale(width: Int, height: Int) -> Int { max(1, min(width, height) / 270) }

    private static func set(_ image: inout RGBImage, _ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let p = (y * image.width + x) * 3
        image.pixels[p] = c.0
        image.pixels[p + 1] = c.1
        image.pixels[p + 2] = c.2
    }

    private static func fill(_ image: inout RGBImage, x0: Int, y0: Int, x1: Int, y1: Int, _ c: (UInt8, UInt8, UInt8)) {
        for y in max(0, y0)..<min(image.height, max(y1, 0)) {
            for x in max(0, x0)..<min(image.width, max(x1, 0)) { set(&image, x, y, c) }
        }
    }

    private static func drawBox(_ box: (x1: Float, y1: Float, x2: Float, y2: Float), scale: Int, on image: inout RGBImage) {
        let t = 2 * scale
        let (x1, y1) = (Int(box.x1.rounded(.down)), Int(box.y1.rounded(.down)))
        let (x2, y2) = (Int(box.x2.rounded(.up)), Int(box.y2.rounded(.up)))
        let yellow: (UInt8, UInt8, UInt8) = (255, 220, 0)
        fill(&image, x0: x1, y0: y1, x1: x2, y1: y1 + t, yellow)
        fill(&image, x0: x1, y0: y2 - t, x1: x2, y1: y2, yellow)
        fill(&image, x0: x1, y0: y1, x1: x1 + t, y1: y2, yellow)
        fill(&image, x0: x2 - t, y0: y1, x1: x2, y1: y2, yellow)
    }

    private static func drawPoint(_ point: Point, scale: Int, on image: inout RGBImage) {
        let (cx, cy) = (Int(point.x.rounded()), Int(point.y.rounded()))
        let inner = 4 * scale, outer = 5 * scale
        let colour: (UInt8, UInt8, UInt8) = point.foreground ? (0, 200, 0) : (220, 0, 0)
        for dy in -outer...outer {
            for dx in -outer...outer {
                let d = dx * dx + dy * dy
                if d <= inner * inner { set(&image, cx + dx, cy + dy, colour) } else if d <= outer * outer { set(&image, cx + dx, cy + dy, (255, 255, 255)) }
            }
        }
    }

    private static func drawScore(_ percent: Int, scale: Int, on image: inout RGBImage) {
        let text = String(max(0, min(percent, 999)))
        let size = DigitFont.size(of: text)
        let pad = scale
        fill(&image, x0: 0, y0: 0, x1: size.width * scale + 2 * pad, y1: size.height * scale + 2 * pad, (0, 0, 0))
        DigitFont.render(text, scale: scale) { x, y in set(&image, pad + x, pad + y, (255, 255, 255)) }
    }

    private static func drawFrame(scale: Int, on image: inout RGBImage) {
        let t = 2 * scale, (w, h) = (image.width, image.height)
        let white: (UInt8, UInt8, UInt8) = (255, 255, 255)
        fill(&image, x0: 0, y0: 0, x1: w, y1: t, white)
        fill(&image, x0: 0, y0: h - t, x1: w, y1: h, white)
        fill(&image, x0: 0, y0: 0, x1: t, y1: h, white)
        fill(&image, x0: w - t, y0: 0, x1: w, y1: h, white)
    }

    /// Panels of equal size, left to right.
    private static func sideBySide(_ panels: [RGBImage]) -> RGBImage {
        let (w, h) = (panels[0].width, panels[0].height)
        var pixels = [UInt8](repeating: 0, count: w * panels.count * h * 3)
        for (k, panel) in panels.enumerated() {
            for y in 0..<h {
                let from = y * w * 3, to = (y * w * panels.count + k * w) * 3
                pixels.replaceSubrange(to..<(to + w * 3), with: panel.pixels[from..<(from + w * 3)])
            }
        }
        return RGBImage(width: w * panels.count, height: h, pixels: pixels)
    }
}
