// TrackerOptions: the precision initialiser covers every stage that has a bf16 path, and options
// saved by older versions (without the precision keys) decode with fp32 everywhere.

import XCTest
import Foundation
import Tensor
@testable import Tracker

final class TrackerOptionsTests: XCTestCase {
    func testPrecisionInitialiserSetsEveryStage() {
        let options = TrackerOptions(precision: .bfloat16)
        XCTAssertEqual(options.encoderPrecision, .bfloat16)
        XCTAssertEqual(options.memoryAttentionPrecision, .bfloat16)
        XCTAssertEqual(options.memoryEncoderPrecision, .bfloat16)
        XCTAssertEqual(TrackerOptions().memoryEncoderPrecision, .float32)
    }

    func testOptionsRoundTripAndOldStatesDecodeAsFP32() throws {
        var options = TrackerOptions(fillHoleArea: 0, frameCount: 12, precision: .bfloat16)
        options.memoryAttentionPrecision = .float32
        let decoded = try JSONDecoder().decode(TrackerOptions.self, from: JSONEncoder().encode(options))
        XCTAssertEqual(decoded, options)
        // Saved before the precision keys existed.
        let old = #"{"fillHoleArea": 8, "correctionsAsConditioning": true, "clearRecentMemoryOnCorrection": false, "bfloat16Memories": true}"#
        let fromOld = try JSONDecoder().decode(TrackerOptions.self, from: Data(old.utf8))
        XCTAssertEqual(fromOld, TrackerOptions())
        // Saved with the encoder and memory attention keys only (before the memory encoder's).
        let mid = #"{"fillHoleArea": 8, "encoderPrecision": "bf16", "memoryAttentionPrecision": "bf16"}"#
        let fromMid = try JSONDecoder().decode(TrackerOptions.self, from: Data(mid.utf8))
        XCTAssertEqual(fromMid.encoderPrecision, .bfloat16)
        XCTAssertEqual(fromMid.memoryEncoderPrecision, .float32)
    }
}
