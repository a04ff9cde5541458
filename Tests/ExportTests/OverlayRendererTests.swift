// Overlays: tint arithmetic (alpha 0.5 from the source pixel), the 2-px contour in full colour
// (image borders are not contours), the overlap rule, labels in the 5 x 7 font, untouched
// background, and size checks.

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
        let out = try OverlayRenderer(labelScale: 1).render(rgb: grey(width, height, 0), width: width, height: height,
                                                             objects: [ObjectMask(id: 17, score: 0, mask: mask)])
        // Label box: (2 digits * 6 - 1 + 2) x (7 + 2) pixels at (30, 20), colour of id 17; digits white.
        let color = DAVISPalette.color(objectID: 17)
        let box = [color.red, color.green, color.blue]
        XCTAssertEqual(pixel(out, width, 30, 20), box)
        XCTAssertEqual(pixel(out, width, 42, 28), box)
        var ink: [[Bool]] = []
        for y in 0..<7 {
            ink.append((0..<11).map { x in pixel(out, width, 31 + x, 21 + y) == [255, 255, 255] })
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

    func testSizeChecksAndRGBImage() throws {
        let renderer = OverlayRenderer()
        XCTAssertThrowsError(try renderer.render(rgb: [0, 0, 0], width: 2, height: 1, objects: []))
        XCTAssertThrowsError(try renderer.render(rgb: grey(4, 4, 0), width: 4, height: 4,
                                                 objects: [ObjectMask(id: 1, score: 0, mask: BinaryMask(width: 3, height: 4))]))
        let image = RGBImage(width: 4, height: 4, pixels: grey(4, 4, 9))
        XCTAssertEqual(try renderer.render(image, objects: []), image)
    }
}
