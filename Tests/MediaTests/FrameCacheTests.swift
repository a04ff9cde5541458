// The decoded-frame cache: least recently used out first, never above its bytes.

import XCTest
import TestSupport
@testable import Media

final class FrameCacheTests: XCTestCase {
    func testEvictsLeastRecentlyUsedWithinItsBytes() throws {
        let source = try VideoSource(try SeekClips.get().gop, options: InputOptions(decoderThreads: 1))
        var frames: [DecodedFrame] = []
        for _ in 0..<6 { frames.append(try XCTUnwrap(try source.nextFrame())) }
        let bytes = frames[0].byteCount
        XCTAssertGreaterThanOrEqual(bytes, 160 * 90 * 3 / 2, "a 160x90 yuv420p frame holds at least its samples")
        var cache = FrameCache(capacityBytes: bytes * 3)
        for n in 0..<3 { cache.insert(frames[n], as: n) }
        XCTAssertEqual(cache.numbersByAge, [0, 1, 2])
        XCTAssertTrue(cache.frame(0) === frames[0])  // 0 is now the most recent
        cache.insert(frames[3], as: 3)
        XCTAssertEqual(cache.numbersByAge, [2, 0, 3])
        XCTAssertNil(cache.frame(1))
        XCTAssertEqual(cache.totalBytes, bytes * 3)
        // Re-inserting a number replaces it without counting it twice.
        cache.insert(frames[4], as: 3)
        XCTAssertEqual(cache.totalBytes, bytes * 3)
        XCTAssertTrue(cache.frame(3) === frames[4])
        // A frame larger than the whole cache is not kept; an empty cache keeps nothing.
        var tiny = FrameCache(capacityBytes: bytes - 1)
        tiny.insert(frames[5], as: 5)
        XCTAssertEqual(tiny.count, 0)
        var none = FrameCache(capacityBytes: 0)
        none.insert(frames[5], as: 5)
        XCTAssertNil(none.frame(5))
        cache.removeAll()
        XCTAssertEqual(cache.totalBytes, 0)
    }
}
