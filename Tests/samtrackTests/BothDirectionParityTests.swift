// Issue 26's parity run end to end: `samtrack track` on the 24 fixture frames written as 128x128
// PNGs (a folder, the official layout; the model sees exactly these frames) with prompts on frames
// 6 and 10 — a box, a click, a mask, and a correction of object 1 on frame 10 — tracked in both
// directions, must give the official SAM2VideoPredictor's masks on every frame
// (`propagate_in_video` forward from frame 6, then `reverse=True`: Fixtures/video/
// micro_session_cli_png.safetensors, Tools/reference/make_session_fixtures.py). The reference
// masks are the official low-res logits upsampled to the source size; pixels may differ only
// where the logit is within 1e-3 of 0 (DESIGN §8).

import Foundation
import XCTest
import Export
import Media
import Tensor
import TestSupport

final class BothDirectionParityTests: XCTestCase {
    func testBothDirectionsMatchTheOfficialPredictor() throws {
        let reference = try Fixtures.reference("video/micro_session_cli_png.safetensors")
        let (width, height, count) = (128, 128, 24)
        XCTAssertEqual(reference.int("source_width"), width)
        let dir = try TemporaryDirectory("both-directions")
        let frames = dir.file("frames")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/bedroom_128x128_24.rgb"))))
        let png = PNGWriter()
        for t in 0..<count {
            let pixels = Array(raw[(t * width * height * 3)..<((t + 1) * width * height * 3)])
            try Data(try png.encodeRGB(pixels, width: width, height: height))
                .write(to: URL(fileURLWithPath: frames + String(format: "/%05d.png", t)))
        }
        // Object 3's mask: the reference script's ellipse (27, 51, 12, 16).
        try png.writeGray((0..<(width * height)).map { i in
            let dx = (Double(i % width) - 27) / 12, dy = (Double(i / width) - 51) / 16
            return dx * dx + dy * dy <= 1 ? 255 : 0
        }, width: width, height: height, to: dir.file("ellipse.png"))

        let result = try Samtrack.run([
            "track", frames, "--model", Samtrack.microModel, "--fill-holes", "0", "--output", dir.file("out"), "--quiet",
            "--box", "1@6:40,20,69,67", "--point", "2@10:93,40", "--mask", "3@10:" + dir.file("ellipse.png"),
            "--point", "1@10:53,40", "--point", "1@10:64,27,0",
        ], timeout: 300)
        XCTAssertEqual(result.status, 0, result.summary)

        let reader = try MaskJSONLReader(directory: dir.file("out"))
        var framesSeen: [Int] = []
        var compared = 0, worstDifferent = 0
        while let record = try reader.next() {
            let t = record.frame
            framesSeen.append(t)
            // The reverse pass (step 5) is the last to write frames 0...6.
            let step = t <= 6 ? 5 : 4
            XCTAssertEqual(record.objects.map(\.id), [1, 2, 3], "frame \(t)")
            for object in record.objects {
                let logits = try reference.tensor("\(step).\(t).\(object.id).low_res")
                let score = try reference.tensor("\(step).\(t).\(object.id).score").scalars[0]
                XCTAssertEqual(object.score, score, accuracy: 1e-3 * max(1, abs(score)), "frame \(t) object \(object.id) score")
                let mine = object.rle.decoded()
                let low = try BinaryMask(logits: logits, upsampledToHeight: height, width: width, threshold: -1e-3)
                let high = try BinaryMask(logits: logits, upsampledToHeight: height, width: width, threshold: 1e-3)
                var different = 0
                mine.withUnsafeBufferPointer { m in
                    low.withUnsafeBufferPointer { l in
                        high.withUnsafeBufferPointer { h in
                            for i in 0..<m.count where l[i] == h[i] && m[i] != h[i] { different += 1 }
                        }
                    }
                }
                XCTAssertEqual(different, 0, "frame \(t) object \(object.id): \(different) pixels differ from the official mask")
                worstDifferent = max(worstDifferent, different)
                compared += 1
            }
        }
        XCTAssertEqual(framesSeen, Array(0..<count), "every frame, in order")
        XCTAssertEqual(compared, count * 3)
        print("both directions: \(compared) masks compared with the official predictor's, worst \(worstDifferent) pixels apart")
    }
}
