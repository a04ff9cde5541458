// OverlayRenderer: draws tracked masks over a source frame for `--overlay OUT.mp4`.
//
// Frames are packed RGB24 [H, W, 3], row-major, no row padding (what Media's FramePreprocessor
// `sourceRGB` gives and `VideoWriter.append(rgb:)` takes). Masks are [H, W] at the same size.
//
// For each object, in painting order (`ObjectMask.paintingOrder`: highest score on top):
//   - interior pixels: source blended with the object's colour, out = src + alpha * (colour - src)
//     (integer arithmetic, alpha in 1/256 steps), always from the source pixel, so where masks
//     overlap the top object's tint replaces the others';
//   - contour: mask pixels within `contourWidth` pixels (Chebyshev distance) of a background pixel,
//     in the full colour; the image border does not count as background;
// then, on top, each object's id in the 5 x 7 digit font (white, or black on light colours) on a
// box of its colour inside the object's visible part (`LabelPlacement`), moved inside the frame.
// Colours come from the DAVIS palette (`DAVISPalette.color(objectID:)`).
// Work is split over rows (`Parallel.forEach`) and limited to each mask's bounding box.

import Media
import Tensor

/// Renders mask overlays on RGB24 frames. Keeps scratch buffers between frames: not thread-safe.
public final class OverlayRenderer {
    /// Tint opacity, 0...1.
    public let alpha: Float
    /// Contour thickness in pixels (0 = no contour).
    public let contourWidth: Int
    /// Draw each object's id.
    public let drawsLabels: Bool
    /// Integer scale of the 5 x 7 digits; nil = automatic, max(1, min(W, H) / 270)
    /// (2 at 540p and 720p, 4 at 1080p).
    public let labelScale: Int?

    private var scratch: [UInt8] = []

    public init(alpha: Float = 0.5, contourWidth: Int = 2, drawsLabels: Bool = true, labelScale: Int? = nil) {
        self.alpha = min(max(alpha, 0), 1)
        self.contourWidth = max(0, contourWidth)
        self.drawsLabels = drawsLabels
        self.labelScale = labelScale.map { max(1, $0) }
    }

    /// The overlay of `objects` on `image`.
    public func render(_ image: RGBImage, objects: [ObjectMask]) throws -> RGBImage {
        RGBImage(width: image.width, height: image.height,
                 pixels: try render(rgb: image.pixels, width: image.width, height: image.height, objects: objects))
    }

    /// The overlay of `objects` on the RGB24 frame `rgb` ([H, W, 3]).
    /// - Throws: `ExportError.invalidArgument` when the buffer size or a mask size does not match.
    public func render(rgb source: [UInt8], width: Int, height: Int, objects: [ObjectMask]) throws -> [UInt8] {
        guard width > 0, height > 0, source.count == width * height * 3 else {
            throw ExportError.invalidArgument("RGB frame \(width)x\(height) needs \(max(0, width * height * 3)) bytes, got \(source.count)")
        }
        for object in objects {
            guard object.id > 0 else { throw ExportError.invalidArgument("object ids are positive, got \(object.id)") }
            guard object.mask.width == width, object.mask.height == height else {
                throw ExportError.invalidArgument(
                    "mask of object \(object.id) is \(object.mask.width)x\(object.mask.height), the frame is \(width)x\(height)")
            }
        }
        var output = source
        for index in ObjectMask.paintingOrder(objects) {
            let object = objects[index]
            let box = object.mask.boundingBox
            guard box.width > 0 else { continue }
            paint(object.mask, box: box, color: DAVISPalette.color(objectID: object.id), source: source, output: &output)
        }
        if drawsLabels {
            for (index, box) in labelBoxes(objects, width: width, height: height).enumerated() {
                guard let box else { continue }
                drawLabel(String(objects[index].id), in: box, color: DAVISPalette.color(objectID: objects[index].id),
                          scale: labelScale(width: width, height: height), width: width, output: &output)
            }
        }
        return output
    }

    /// Where each object's id label goes (`LabelPlacement`: inside the object's visible part;
    /// nil for an object that is covered, empty, or whose label does not fit in the frame).
    public func labelBoxes(_ objects: [ObjectMask], width: Int, height: Int) -> [BoundingBox?] {
        let scale = labelScale(width: width, height: height)
        let sizes = objects.map { object -> (width: Int, height: Int) in
            let text = DigitFont.size(of: String(object.id))
            return ((text.width + 2) * scale, (text.height + 2) * scale)
        }
        return LabelPlacement.boxes(objects: objects, sizes: sizes, width: width, height: height).enumerated().map { index, box in
            sizes[index].width <= width && sizes[index].height <= height ? box : nil
        }
    }

    private func labelScale(width: Int, height: Int) -> Int { labelScale ?? max(1, min(width, height) / 270) }

    // MARK: - Masks

    /// Tints the mask's pixels and draws its contour, rows of its box in parallel.
    ///
    /// Contour test as two separable erosions by a (2k + 1)-wide window: along rows, each run of
    /// mask pixels [a, b) keeps [a + k, b - k) (no shrink at the frame's edges); along columns, a
    /// pixel stays interior when the 2k + 1 row results around it (rows inside the frame) all do.
    private func paint(_ mask: BinaryMask, box: BoundingBox, color: RGBColor, source: [UInt8], output: inout [UInt8]) {
        let (width, height) = (mask.width, mask.height)
        let k = contourWidth
        let a = Int((alpha * 256).rounded())
        // lut[ch * 256 + v]: channel ch of source value v blended with the colour.
        var lut = [UInt8](repeating: 0, count: 768)
        for (ch, c) in [color.red, color.green, color.blue].enumerated() {
            for v in 0..<256 { lut[ch * 256 + v] = UInt8((v * (256 - a) + Int(c) * a + 128) >> 8) }
        }
        let (red, green, blue) = (color.red, color.green, color.blue)
        let count = box.width * box.height
        if scratch.count < count { scratch = [UInt8](repeating: 0, count: count) }
        let grain = max(1, 16_384 / box.width)
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            let rowInterior = scratchBuffer.baseAddress!
            mask.withUnsafeBufferPointer { maskBuffer in
                let m = maskBuffer.baseAddress!
                // Pass 1: horizontal erosion of each row of the box, run by run.
                Parallel.forEach(box.height, grain: grain) { rows in
                    for r in rows {
                        let row = m + (box.y + r) * width
                        let out = rowInterior + r * box.width
                        out.update(repeating: 0, count: box.width)
                        var x = box.x
                        let end = box.x + box.width
                        while x < end {
                            guard let start = firstNonZero(row + x, end - x).map({ $0 + x }) else { break }
                            let stop = start + firstZero(row + start, end - start)
                            let from = start == 0 ? start : start + k
                            let to = stop == width ? stop : stop - k
                            if from < to { (out + (from - box.x)).update(repeating: 1, count: to - from) }
                            x = stop
                        }
                    }
                }
                // Pass 2: vertical erosion, then tint (interior) or colour (contour).
                source.withUnsafeBufferPointer { sourceBuffer in
                    output.withUnsafeMutableBufferPointer { outputBuffer in
                        lut.withUnsafeBufferPointer { lutBuffer in
                            let src = sourceBuffer.baseAddress!, dst = outputBuffer.baseAddress!
                            let tr = lutBuffer.baseAddress!, tg = tr + 256, tb = tr + 512
                            Parallel.forEach(box.height, grain: grain) { rows in
                                let interior = UnsafeMutablePointer<UInt8>.allocate(capacity: box.width)
                                defer { interior.deallocate() }
                                for r in rows {
                                    let y = box.y + r
                                    let lower = max(0, y - k), upper = min(height - 1, y + k)
                                    if lower < box.y || upper >= box.y + box.height {
                                        // A row of the frame outside the box (no mask pixels) is in the window.
                                        interior.update(repeating: 0, count: box.width)
                                    } else {
                                        interior.update(from: rowInterior + (lower - box.y) * box.width, count: box.width)
                                        if lower < upper {
                                            for yy in (lower + 1)...upper {
                                                let other = rowInterior + (yy - box.y) * box.width
                                                for c in 0..<box.width { interior[c] &= other[c] }
                                            }
                                        }
                                    }
                                    let maskRow = m + y * width + box.x
                                    var p = (y * width + box.x) * 3
                                    for c in 0..<box.width {
                                        if maskRow[c] != 0 {
                                            if interior[c] != 0 {
                                                dst[p] = tr[Int(src[p])]
                                                dst[p + 1] = tg[Int(src[p + 1])]
                                                dst[p + 2] = tb[Int(src[p + 2])]
                                            } else {
                                                dst[p] = red
                                                dst[p + 1] = green
                                                dst[p + 2] = blue
                                            }
                                        }
                                        p += 3
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Labels

    /// Draws `text` (digits) on `box` (the label's box, inside the frame) filled with `color`.
    private func drawLabel(_ text: String, in box: BoundingBox, color: RGBColor, scale: Int, width: Int, output: inout [UInt8]) {
        let (left, top) = (box.x, box.y)
        let (labelWidth, labelHeight) = (box.width, box.height)
        let luminance = 299 * Int(color.red) + 587 * Int(color.green) + 114 * Int(color.blue)
        let ink: UInt8 = luminance > 140_000 ? 0 : 255
        output.withUnsafeMutableBufferPointer { buffer in
            let dst = buffer.baseAddress!
            for y in top..<(top + labelHeight) {
                for x in left..<(left + labelWidth) {
                    let p = (y * width + x) * 3
                    dst[p] = color.red
                    dst[p + 1] = color.green
                    dst[p + 2] = color.blue
                }
            }
            DigitFont.render(text, scale: scale) { x, y in
                let p = ((top + scale + y) * width + left + scale + x) * 3
                dst[p] = ink
                dst[p + 1] = ink
                dst[p + 2] = ink
            }
        }
    }
}
