// Overlays: tint arithmetic (alpha 0.5 from the source pixel), the 2-px contour in full colour
// (image borders are not contours), the overlap rule, labels in the 5 x 7 font placed on their
// own object's visible part (LabelPlacement, against a brute-force twin), untouched background,
// and size checks.

import XCTest
import Media
@testable import Export
import TestSupport

final class OverlayRendererTests: XCTestCase {
    private func grey(_ width: Int, _ height: Int, _ value: UInt8) -> [UInt8] {
        [UInt8](repeating: value, count: width * height * 3)
    }

    private func pixel(_ rgb: [UInt8], _ width: Int, _ x: Int, _ y: Int) -> [UInt8] {
        Array(rgb[(3 * (y * width + x))..<(3 * (y * width + x) + 3)])
    }

    func testTintContourAndBackground() throws {
        let width = 40, height = 30
        var mask = BinaryMask(width: width, height: height)
        for y in 10..<20 { for x in 10..<30 { mask[x, y] = true } }
        let renderer = OverlayRenderer(drawsLabels: false)
        let source = grey(width, height, 100)
        let out = try renderer.render(rgb: source, width: width, height: height,
                                      objects: [ObjectMask(id: 1, score: 0, mask: mask)])
        let color: [UInt8] = [128, 0, 0]  // DAVIS entry 1
        // Interior: (100 * 128 + c * 128 + 128) >> 8.
        let tinted: [UInt8] = color.map { UInt8((100 * 128 + Int($0) * 128 + 128) >> 8) }
        XCTAssertEqual(tinted, [114, 50, 50])
        XCTAssertEqual(pixel(out, width, 20, 15), tinted)
        // Two pixels of contour on each side, then interior.
        for x in [10, 11, 28, 29] { XCTAssertEqual(pixel(out, width, x, 15), color, "x \(x)") }
        for y in [10, 11, 18, 19] { XCTAssertEqual(pixel(out, width, 20, y), color, "y \(y)") }
        XCTAssertEqual(pixel(out, width, 12, 15), tinted)
        XCTAssertEqual(pixel(out, width, 12, 12), tinted)
        XCTAssertEqual(pixel(out, width, 11, 12), color)
        // Outside the mask nothing changes.
        var changed = 0
        for y in 0..<height {
            for x in 0..<width where !mask[x, y] && pixel(out, width, x, y) != [100, 100, 100] { changed += 1 }
        }
        XCTAssertEqual(changed, 0)
    }

    /// The naive twin: every pixel's (2k + 1)^2 window checked directly, tint from the source.
    private func naiveOverlay(_ source: [UInt8], _ width: Int, _ height: Int, _ objects: [ObjectMask], k: Int) -> [UInt8] {
        var out = source
        for index in ObjectMask.paintingOrder(objects) {
            let object = objects[index]
            let color = DAVISPalette.color(objectID: object.id)
            let rgb = [Int(color.red), Int(color.green), Int(color.blue)]
            for y in 0..<height {
                for x in 0..<width where object.mask[x, y] {
                    var interior = true
                    for yy in max(0, y - k)...min(height - 1, y + k) {
                        for xx in max(0, x - k)...min(width - 1, x + k) where !object.mask[xx, yy] { interior = false }
                    }
                    for ch in 0..<3 {
                        let p = 3 * (y * width + x) + ch
                        out[p] = interior ? UInt8((Int(source[p]) * 128 + rgb[ch] * 128 + 128) >> 8) : UInt8(rgb[ch])
                    }
                }
            }
        }
        return out
    }

    func testMatchesNaiveContourOnRandomMasks() throws {
        var rng = SeededGenerator(seed: 17)
        for (width, height) in [(37, 53), (64, 9), (5, 5), (120, 80)] {
            let source = (0..<(width * height * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let objects = (1...3).map { id in
                ObjectMask(id: id, score: Float(id % 2),
                           mask: SyntheticMasks.blobs(width: width, height: height, blobs: 3, seed: UInt64(id * 100 + width)))
            }
            for k in [0, 1, 2, 3] {
                let fast = try OverlayRenderer(contourWidth: k, drawsLabels: false)
                    .render(rgb: source, width: width, height: height, objects: objects)
                XCTAssertEqual(fast, naiveOverlay(source, width, height, objects, k: k), "\(width)x\(height) k \(k)")
            }
        }
    }

    func testImageBorderIsNotAContour() throws {
        let width = 20, height = 12
        let full = BinaryMask(width: width, height: height, pixels: [UInt8](repeating: 1, count: width * height))
        let out = try OverlayRenderer(drawsLabels: false).render(rgb: grey(width, height, 0), width: width, height: height,
                                                                 objects: [ObjectMask(id: 2, score: 0, mask: full)])
        // Every pixel tinted with (0, 128, 0) at alpha 0.5: (0 + 128 * 128 + 128) >> 8 = 64.
        XCTAssertEqual(Set(stride(from: 0, to: out.count, by: 3).map { pixel(out, width, ($0 / 3) % width, ($0 / 3) / width) }),
                       [[0, 64, 0]])
    }

    func testOverlapShowsHighestScoreFromSource() throws {
        let width = 10, height = 10
        let all = BinaryMask(width: width, height: height, pixels: [UInt8](repeating: 1, count: 100))
        let renderer = OverlayRenderer(contourWidth: 0, drawsLabels: false)
        let source = grey(width, height, 200)
        let low = ObjectMask(id: 1, score: 0, mask: all), high = ObjectMask(id: 2, score: 9, mask: all)
        let onlyHigh = try renderer.render(rgb: source, width: width, height: height, objects: [high])
        XCTAssertEqual(try renderer.render(rgb: source, width: width, height: height, objects: [high, low]), onlyHigh)
        XCTAssertEqual(try renderer.render(rgb: source, width: width, height: height, objects: [low, high]), onlyHigh)
    }

    func testLabelDrawsIDDigits() throws {
        let width = 64, height = 48
        var mask = BinaryMask(width: width, height: height)
        for y in 20..<40 { for x in 30..<60 { mask[x, y] = true } }
        let object = ObjectMask(id: 17, score: 0, mask: mask)
        let renderer = OverlayRenderer(labelScale: 1)
        let out = try renderer.render(rgb: grey(width, height, 0), width: width, height: height, objects: [object])
        // Label box: (2 digits * 6 - 1 + 2) x (7 + 2) pixels centred on the rectangle's middle
        // (its pole of inaccessibility: x 44-45, y 29-30; the pixel nearest the centroid is 44, 29).
        let label = try XCTUnwrap(renderer.labelBoxes([object], width: width, height: height).first ?? nil)
        XCTAssertEqual(label, BoundingBox(x: 44 - 6, y: 29 - 4, width: 13, height: 9))
        let color = DAVISPalette.color(objectID: 17)
        let box = [color.red, color.green, color.blue]
        XCTAssertEqual(pixel(out, width, label.x, label.y), box)
        XCTAssertEqual(pixel(out, width, label.x + 12, label.y + 8), box)
        var ink: [[Bool]] = []
        for y in 0..<7 {
            ink.append((0..<11).map { x in pixel(out, width, label.x + 1 + x, label.y + 1 + y) == [255, 255, 255] })
        }
        for y in 0..<7 {
            for x in 0..<5 {
                XCTAssertEqual(ink[y][x], DigitFont.isInk(digit: 1, x: x, y: y), "'1' at \(x),\(y)")
                XCTAssertEqual(ink[y][x + 6], DigitFont.isInk(digit: 7, x: x, y: y), "'7' at \(x),\(y)")
            }
            XCTAssertFalse(ink[y][5], "spacing column")
        }
        XCTAssertEqual(DigitFont.size(of: "17").width, 11)
    }

    func testLabelMovesInsideTheFrame() throws {
        let width = 30, height = 20
        var mask = BinaryMask(width: width, height: height)
        mask[29, 19] = true
        let out = try OverlayRenderer(contourWidth: 0, labelScale: 1).render(
            rgb: grey(width, height, 0), width: width, height: height, objects: [ObjectMask(id: 3, score: 0, mask: mask)])
        let color = DAVISPalette.color(objectID: 3)
        // 1 digit: 7 x 9 box in the bottom-right corner.
        XCTAssertEqual(pixel(out, width, 29 - 6, 19 - 8), [color.red, color.green, color.blue])
        XCTAssertEqual(pixel(out, width, 29 - 7, 19 - 8), [0, 0, 0])
    }

    /// Issue 26: labels sat at the bounding box's top-left corner, on background or on another
    /// object. Each label's box must now lie on its own object's visible pixels.
    func testLabelsLieOnTheirOwnObject() throws {
        let width = 200, height = 120
        // An L-shaped object 1 whose box corner is background, an object 2 beside it (touching),
        // and an object 3 with a higher score covering object 1's upper-left part.
        var one = BinaryMask(width: width, height: height), two = BinaryMask(width: width, height: height)
        var three = BinaryMask(width: width, height: height)
        for y in 10..<110 { for x in 10..<40 { one[x, y] = true } }
        for y in 80..<110 { for x in 10..<120 { one[x, y] = true } }
        for y in 10..<110 { for x in 120..<190 { two[x, y] = true } }
        for y in 5..<70 { for x in 5..<45 { three[x, y] = true } }
        let objects = [ObjectMask(id: 1, score: 1, mask: one), ObjectMask(id: 2, score: 1, mask: two),
                       ObjectMask(id: 3, score: 5, mask: three)]
        let renderer = OverlayRenderer(labelScale: 2)
        let boxes = renderer.labelBoxes(objects, width: width, height: height)
        XCTAssertEqual(boxes.count, 3)
        // Which object each pixel shows (the overlap rule).
        var owner = [Int](repeating: 0, count: width * height)
        for index in ObjectMask.paintingOrder(objects) {
            for i in 0..<(width * height) where objects[index].mask.pixels[i] != 0 { owner[i] = objects[index].id }
        }
        for (index, box) in boxes.enumerated() {
            let label = try XCTUnwrap(box, "object \(objects[index].id) has no label")
            XCTAssertEqual(label.width, 7 * 2)
            XCTAssertEqual(label.height, 9 * 2)
            for y in label.y..<(label.y + label.height) {
                for x in label.x..<(label.x + label.width) {
                    XCTAssertEqual(owner[y * width + x], objects[index].id,
                                   "label of object \(objects[index].id) at \(label) covers \(x),\(y)")
                }
            }
        }
        // The old place, the box corner, was on object 3 for object 1.
        XCTAssertEqual(owner[one.boundingBox.y * width + one.boundingBox.x], 3)
        // An object covered completely has no label; an empty one neither.
        let hidden = renderer.labelBoxes([ObjectMask(id: 4, score: 0, mask: one), ObjectMask(id: 5, score: 9, mask: one),
                                          ObjectMask(id: 6, score: 0, mask: BinaryMask(width: width, height: height))],
                                         width: width, height: height)
        XCTAssertNil(hidden[0])
        XCTAssertNotNil(hidden[1])
        XCTAssertNil(hidden[2])
    }

    /// The pole of inaccessibility against a naive twin: for every visible pixel, the chessboard
    /// distance to the nearest non-visible pixel or the frame's outside, found by brute force.
    func testPoleMatchesBruteForce() throws {
        for seed in [3, 8, 21] as [UInt64] {
            let width = 41, height = 29
            let mask = SyntheticMasks.blobs(width: width, height: height, blobs: 3, seed: seed)
            let owner = mask.pixels.map { $0 != 0 ? Int32(0) : -1 }
            guard let pole = LabelPlacement.pole(of: 0, owner: owner, frameWidth: width, box: mask.boundingBox) else {
                XCTAssertTrue(mask.isEmpty)
                continue
            }
            func distance(_ x: Int, _ y: Int) -> Int {
                var d = 1
                while true {
                    for yy in (y - d)...(y + d) {
                        for xx in (x - d)...(x + d) where max(abs(xx - x), abs(yy - y)) == d {
                            let box = mask.boundingBox
                            let inside = xx >= box.x && yy >= box.y && xx < box.x + box.width && yy < box.y + box.height
                            if !inside || owner[yy * width + xx] != 0 { return d }
                        }
                    }
                    d += 1
                }
            }
            var best = 0
            for y in 0..<height { for x in 0..<width where owner[y * width + x] == 0 { best = max(best, distance(x, y)) } }
            XCTAssertEqual(owner[pole.y * width + pole.x], 0, "seed \(seed): the pole is not on the object")
            XCTAssertEqual(distance(pole.x, pole.y), best, "seed \(seed)")
        }
    }

    func testSizeChecksAndRGBImage() throws {
        let renderer = OverlayRenderer()
        XCTAssertThrowsError(try renderer.render(rgb: [0, 0, 0], width: 2, height: 1, objects: []))
        XCTAssertThrowsError(try renderer.render(rgb: grey(4, 4, 0), width: 4, height: 4,
                                                 objects: [ObjectMask(id: 1, score: 0, mask: BinaryMask(width: 3, height: 4))]))
        let image = RGBImage(width: 4, height: 4, pixels: grey(4, 4, 9))
        XCTAssertEqual(try renderer.render(image, objects: []), image)
    }
}
