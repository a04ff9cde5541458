// Bad arguments and inputs of `samtrack bench` get a clear one-line reason and a non-zero exit,
// before any model is built or frame decoded.

import Foundation
import XCTest
import TestSupport

final class BenchErrorTests: XCTestCase {
    /// Runs `samtrack bench ARGS`, expects `status` and a first stderr line naming the problem.
    private func expectFailure(_ arguments: [String], status: Int32, mentions: [String],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try Samtrack.run(["bench"] + arguments, timeout: 60, file: file, line: line)
        let context = "samtrack bench \(arguments.joined(separator: " ")):\n\(result.summary)"
        XCTAssertFalse(result.signalled, context, file: file, line: line)
        XCTAssertEqual(result.status, status, context, file: file, line: line)
        let reason = result.stderrLines.first ?? ""
        XCTAssertTrue(reason.hasPrefix("Error: "), context, file: file, line: line)
        for fragment in mentions {
            XCTAssertTrue(reason.contains(fragment), "the reason should mention '\(fragment)': \(reason)", file: file, line: line)
        }
        if status == 64 {
            XCTAssertTrue(result.stderr.contains("Usage: samtrack bench \(arguments[0])"), context, file: file, line: line)
        }
    }

    func testImageSizeMustBeAMultipleOf16() throws {
        try expectFailure(["tracker", "--image-size", "500"], status: 64, mentions: ["--image-size", "multiple of 16", "500"])
        try expectFailure(["tracker", "--image-size", "48"], status: 64, mentions: ["at least 64"])
    }

    func testImageSizeIsOnlyForRandomConfigs() throws {
        try expectFailure(["tracker", "--model", Samtrack.microModel, "--image-size", "512"], status: 64,
                          mentions: ["--image-size applies to --config"])
    }

    func testDecodeRejectsNonPositiveCounts() throws {
        let video = Fixtures.sharedMedia("cups.mp4")
        for option in ["--frames", "--image-size", "--scaler-threads"] {
            try expectFailure(["decode", "--input", video, option, "0"], status: 64, mentions: ["must be positive"])
        }
    }

    func testDecodeNamesAMissingInput() throws {
        try expectFailure(["decode", "--input", "/nonexistent/clip.mp4"], status: 66,
                          mentions: ["/nonexistent/clip.mp4", "No such file"])
    }
}
