// Small training sets written on the fly for the reader and loop tests: PNG frames of a textured
// background with ellipses moving over it, DAVIS palette annotations, a COCO instances file and a
// masks.jsonl. Everything is deterministic (no random generator: the texture is a formula).

import Export
import Foundation
import Media
import XCTest

enum SyntheticData {
    /// A fresh empty folder under the temporary directory, removed when `test` ends.
    static func folder(_ name: String, removedAfter test: XCTestCase) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-training-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Object `id`'s ellipse on frame t of sequence s (centre moves with t).
    static func objectMask(sequence s: Int, frame t: Int, id: Int, width: Int, height: Int) -> BinaryMask {
        let cx = Double(width) * (0.3 + 0.35 * Double(id - 1)) + Double(3 * t + 2 * s)
        let cy = Double(height) * (0.45 + 0.1 * Double(id - 1)) + Double(t)
        let rx = Double(width) * (0.16 - 0.04 * Double(id - 1)), ry = Double(height) * (0.2 - 0.05 * Double(id - 1))
        return BinaryMask(width: width, height: height) { x, y in
            let dx = (Double(x) + 0.5 - cx) / rx, dy = (Double(y) + 0.5 - cy) / ry
            return dx * dx + dy * dy <= 1
        }
    }

    /// The frame's picture: a striped background, each object filled with its own colour and a
    /// pattern of its own.
    static func picture(sequence s: Int, frame t: Int, objects: Int, width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let masks = (1...max(objects, 1)).prefix(objects).map { objectMask(sequence: s, frame: t, id: $0, width: width, height: height) }
        for y in 0..<height {
            for x in 0..<width {
                let i = 3 * (y * width + x)
                let stripe = UInt8(((x + 2 * y + 5 * s) / 4 % 2) * 40 + 60)
                var rgb = (stripe, UInt8(90), UInt8(255 - Int(stripe)))
                for (k, mask) in masks.enumerated() where mask[x, y] {
                    let dots = UInt8((x * y + k) % 7 == 0 ? 30 : 0)
                    rgb = k == 0 ? (220 - dots, 180, 40) : (40, 200 - dots, 120)
                }
                pixels[i] = rgb.0
                pixels[i + 1] = rgb.1
                pixels[i + 2] = rgb.2
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// DIR/JPEGImages/<seq>/<00000>.png and DIR/Annotations/<seq>/<00000>.png (palette PNG,
    /// index = object id) for `sequences` sequences of `frames` frames with `objects` objects.
    static func davis(_ root: String, sequences: Int, frames: Int, objects: Int = 2, width: Int = 96, height: Int = 80) throws {
        let png = PNGWriter()
        for s in 0..<sequences {
            let name = String(format: "seq%02d", s)
            let images = root + "/JPEGImages/" + name, annotations = root + "/Annotations/" + name
            try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: annotations, withIntermediateDirectories: true)
            for t in 0..<frames {
                let file = String(format: "%05d.png", t)
                try png.writeRGB(picture(sequence: s, frame: t, objects: objects, width: width, height: height), to: images + "/" + file)
                var indices = [UInt8](repeating: 0, count: width * height)
                for id in 1...max(objects, 1) where id <= objects {
                    let mask = objectMask(sequence: s, frame: t, id: id, width: width, height: height)
                    for i in 0..<(width * height) where mask.pixels[i] != 0 { indices[i] = UInt8(id) }
                }
                try png.writeIndexed(indices, width: width, height: height, palette: DAVISPalette.bytes, to: annotations + "/" + file)
            }
        }
    }

    /// The id map the DAVIS annotation of frame t holds.
    static func expectedArea(sequence s: Int, frame t: Int, id: Int, objects: Int, width: Int, height: Int) -> Int {
        let mask = objectMask(sequence: s, frame: t, id: id, width: width, height: height)
        var area = 0
        for i in 0..<(width * height) where mask.pixels[i] != 0 {
            // A later object covers an earlier one.
            let covered = ((id + 1)...max(objects, id + 1)).contains { other in
                other <= objects && objectMask(sequence: s, frame: t, id: other, width: width, height: height).pixels[i] != 0
            }
            if !covered { area += 1 }
        }
        return area
    }
}
