// `samtrack segment` and `samtrack info` run end to end with the micro models.

import Foundation
import XCTest
import TestSupport

final class SegmentAndInfoTests: XCTestCase {
    func testSegmentWritesAMaskOfTheImageSize() throws {
        let image = Fixtures.sharedMedia("truck.jpg")
        let source = try ProbedVideo.probe(image)
        let dir = try TemporaryDirectory("segment")
        for (name, prompt) in [("box", ["--box", "300,200,1500,1000"]),
                               ("points", ["--point", "900,600", "--point", "100,100,0", "--multimask"])] {
            let output = dir.file("\(name).png")
            let result = try Samtrack.run(["segment", image, "--model", Samtrack.microModel, "--output", output,
                                           "--save-logits", dir.file("\(name).npy")] + prompt)
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stdout.contains("-> \(output)"), result.stdout)
            let size = try pngSize(output)
            XCTAssertEqual(size?.width, source.width, "mask width")
            XCTAssertEqual(size?.height, source.height, "mask height")
            // 8-bit greyscale (IHDR bit depth 8, colour type 0).
            let header = try Data(contentsOf: URL(fileURLWithPath: output))
            XCTAssertEqual(Array(header[24..<26]), [8, 0], "bit depth and colour type")
            let npy = try Data(contentsOf: URL(fileURLWithPath: dir.file("\(name).npy")))
            XCTAssertEqual(Array(npy.prefix(6)), [0x93] + Array("NUMPY".utf8))
        }
    }

    func testSegmentErrors() throws {
        let dir = try TemporaryDirectory("segment-errors")
        let image = Fixtures.sharedMedia("truck.jpg")
        let outside = try Samtrack.run(["segment", image, "--model", Samtrack.microModel, "--point", "-5,10",
                                        "--output", dir.file("m.png")])
        XCTAssertEqual(outside.status, 65, outside.summary)
        XCTAssertEqual(outside.stderrLines.count, 1, outside.summary)
        XCTAssertTrue(outside.stderr.contains("outside"), outside.stderr)
        let missing = try Samtrack.run(["segment", "/nonexistent/photo.jpg", "--model", Samtrack.microModel,
                                        "--point", "5,10", "--output", dir.file("m.png")])
        XCTAssertEqual(missing.status, 66, missing.summary)
        XCTAssertTrue(missing.stderr.hasPrefix("Error: ") && missing.stderr.contains("/nonexistent/photo.jpg"), missing.stderr)
        let syntax = try Samtrack.run(["segment", image, "--model", Samtrack.microModel, "--box", "1,2,3",
                                       "--output", dir.file("m.png")])
        XCTAssertEqual(syntax.status, 64, syntax.summary)
        XCTAssertTrue(syntax.stderrLines.first?.contains("--box '1,2,3'") ?? false, syntax.stderr)
        XCTAssertTrue(syntax.stderr.contains("Usage: samtrack segment"), syntax.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("m.png")))
    }

    func testInfoPrintsTheVariant() throws {
        let result = try Samtrack.run(["info", Samtrack.microModel])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stdout.contains("micro_sam2.1 (SAM 2.1)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("image size   128 px"), result.stdout)
        XCTAssertTrue(result.stdout.contains("parameters"), result.stdout)

        let sam20 = try Samtrack.run(["info", Fixtures.path("video/micro_sam20.pt")])
        XCTAssertEqual(sam20.status, 0, sam20.summary)
        XCTAssertTrue(sam20.stdout.contains("(SAM 2.0)"), sam20.stdout)

        let json = try Samtrack.run(["info", Samtrack.microModel, "--json"])
        XCTAssertEqual(json.status, 0, json.summary)
        let config = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(config?["image_size"] as? Int, 128)

        let missing = try Samtrack.run(["info", "/nonexistent/model.pt"])
        XCTAssertEqual(missing.status, 66, missing.summary)
        XCTAssertEqual(missing.stderrLines.count, 1, missing.summary)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/model.pt"), missing.stderr)
    }
}
