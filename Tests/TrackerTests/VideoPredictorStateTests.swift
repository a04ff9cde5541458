// VideoPredictor state: the feature cache (hits cost no encoder run, the byte budget holds, least
// recently used frames go first), cancelling a propagation (frames done are kept and a resumed
// propagation continues as an uninterrupted one), the memory byte count, and the option that
// clears tracked outputs around a prompted frame.

import Foundation
import XCTest
import SAM2
import Tensor
import TestSupport
import Tracker

final class VideoPredictorStateTests: XCTestCase {
    /// Bytes of one micro frame's features (vision features and position [1, 32, 8, 8], high-res
    /// [1, 4, 32, 32] and [1, 8, 16, 16], Float32).
    let frameBytes = 4 * (2 * 32 * 8 * 8 + 4 * 32 * 32 + 8 * 16 * 16)

    func testSecondClickOnAFrameRunsOnlyTheDecoder() throws {
        let (p, provider) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 6, object: 1, prompt: PredictorFixture.click)
        XCTAssertEqual(p.featureCacheStatistics.bytes, frameBytes)
        let encoderRuns = p.timings.encoderRuns, decoderRuns = p.timings.decoderRuns
        try p.addPointsOrBox(frame: 6, object: 1, prompt: ImagePrompt(points: [(x: 650, y: 200, label: 0)]), clearOld: false)
        try p.addPointsOrBox(frame: 6, object: 2, prompt: PredictorFixture.box)
        XCTAssertEqual(p.timings.encoderRuns, encoderRuns, "a cached frame must not be encoded again")
        XCTAssertEqual(p.timings.decoderRuns, decoderRuns + 2)
        XCTAssertEqual(provider.reads[6], 1)
        XCTAssertEqual(p.featureCacheStatistics.hits, 2)
        XCTAssertEqual(p.featureCacheStatistics.misses, 1)
    }

    func testCacheStaysWithinItsByteBudgetAndEvictsTheLeastRecentlyUsed() throws {
        let (p, provider) = PredictorFixture.predictor(PredictorOptions(fillHoleArea: 0, featureCacheBytes: 2 * frameBytes + 100))
        for frame in [0, 1, 0, 2] { try p.addPointsOrBox(frame: frame, object: 1, prompt: PredictorFixture.click) }
        XCTAssertEqual(p.cachedFrames, [0, 2], "frame 1 was the least recently used")
        XCTAssertEqual(p.featureCacheStatistics.evictions, 1)
        XCTAssertLessThanOrEqual(p.featureCacheStatistics.bytes, 2 * frameBytes + 100)
        try p.addPointsOrBox(frame: 1, object: 1, prompt: PredictorFixture.click)
        XCTAssertEqual(provider.reads[1], 2, "an evicted frame is read and encoded again")
        XCTAssertEqual(provider.reads[0], 1)
        // Over a propagation the budget holds too (entries grow by their memory-attention start).
        try p.propagate { _ in
            XCTAssertLessThanOrEqual(p.featureCacheStatistics.bytes, 2 * frameBytes + 100)
            return .continue
        }
        XCTAssertLessThanOrEqual(p.featureCacheStatistics.entries, 2)

        let (uncached, uncachedFrames) = PredictorFixture.predictor(PredictorOptions(fillHoleArea: 0, featureCacheBytes: 0))
        try uncached.addPointsOrBox(frame: 3, object: 1, prompt: PredictorFixture.click)
        try uncached.addPointsOrBox(frame: 3, object: 1, prompt: PredictorFixture.click)
        XCTAssertEqual(uncachedFrames.reads[3], 2, "a zero budget keeps nothing")
        XCTAssertEqual(uncached.featureCacheStatistics.bytes, 0)
    }

    /// A propagation stopped by its callback keeps the frames done; propagating on from the next
    /// frame gives exactly what an uninterrupted propagation gives.
    func testCancelledPropagationKeepsItsFramesAndResumesIdentically() throws {
        let (whole, _) = PredictorFixture.predictor()
        try whole.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
        try whole.addPointsOrBox(frame: 0, object: 2, prompt: PredictorFixture.click)
        var expected: [Int: [[Float]]] = [:]
        try whole.propagate(maxFrames: 9) { expected[$0.frame] = $0.objects.map(\.lowResLogits.scalars); return .continue }

        let (p, provider) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
        try p.addPointsOrBox(frame: 0, object: 2, prompt: PredictorFixture.click)
        let stopped = try p.propagate { $0.frame == 3 ? .stop : .continue }
        XCTAssertEqual(stopped, PropagationSummary(frames: [0, 1, 2, 3], cancelled: true))
        XCTAssertEqual(provider.reads[4], 0, "nothing after the stop is read")
        XCTAssertEqual(p.objects[1]?.nonConditioning.keys.sorted(), [1, 2, 3])
        XCTAssertEqual(p.framesWithOutput, [0, 1, 2, 3])
        let stoppedOnLast = try p.propagate(start: 4, maxFrames: 6) { $0.frame == 10 ? .stop : .continue }
        XCTAssertFalse(stoppedOnLast.cancelled, "stopping on the last frame is a complete propagation")
        for t in 0...9 {
            XCTAssertEqual(try p.results(frame: t).objects.map(\.lowResLogits.scalars), expected[t], "frame \(t)")
        }

        struct Stop: Error {}
        XCTAssertThrowsError(try p.propagate(start: 12) { if $0.frame == 13 { throw Stop() }; return .continue }) {
            XCTAssertTrue($0 is Stop, "a callback's error comes out unchanged")
        }
        XCTAssertEqual(p.objects[1]?.tracked[13], false, "frames done before the error are kept")
        XCTAssertNil(p.objects[1]?.tracked[14])
    }

    /// Per object and frame: low-res logits 32x32 and a 32-float pointer (Float32), a memory
    /// 16x8x8 in bfloat16 (or Float32), counted from the first prompt on; and memory attention's
    /// projected keys (64 tokens x 32 channels x 2 layers, Float32) for the memories of the latest
    /// selection only: after frame 11, frame 0 (conditioning) and frames 5-10.
    func testMemoryByteCount() throws {
        for bfloat16 in [true, false] {
            let (p, _) = PredictorFixture.predictor(PredictorOptions(fillHoleArea: 0, bfloat16Memories: bfloat16))
            let output = 4 * 32 * 32 + 4 * 32, memory = (bfloat16 ? 2 : 4) * 16 * 8 * 8, keys = 4 * 64 * 32 * 2
            XCTAssertEqual(p.memoryByteCount, 0)
            try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
            try p.addPointsOrBox(frame: 0, object: 2, prompt: PredictorFixture.click)
            XCTAssertEqual(p.memoryByteCount, 2 * output, "prompt outputs have no memory until committed")
            try p.propagate(maxFrames: 11) { _ in .continue }
            XCTAssertEqual(p.memoryByteCount, 2 * (12 * (output + memory) + 7 * keys))
            XCTAssertEqual(p.objects[1]?.byteCount, 12 * (output + memory) + 7 * keys)
            try p.removeObject(2)
            XCTAssertEqual(p.memoryByteCount, 12 * (output + memory) + 7 * keys)
            try p.propagate(start: 11, maxFrames: 12, reverse: true) { _ in .continue }
            XCTAssertEqual(p.memoryByteCount, 12 * (output + memory) + 7 * keys,
                           "a reverse pass keeps the keys of its latest selection only (frame 0 and frames 2-7)")
            p.resetState()
            XCTAssertEqual(p.memoryByteCount, 0)
        }
    }

    /// clear_non_cond_mem_around_input: after a correction on frame 15, the object's tracked
    /// outputs of frames 15 +- num_maskmem (7) are dropped, and those after 15 recomputed by the
    /// next propagation.
    func testClearingTrackedOutputsAroundAPrompt() throws {
        for clear in [false, true] {
            let (p, _) = PredictorFixture.predictor(PredictorOptions(fillHoleArea: 0, clearNonConditioningAroundInput: clear))
            try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
            try p.propagate { _ in .continue }
            try p.addPointsOrBox(frame: 15, object: 1, prompt: ImagePrompt(points: [(x: 400, y: 300, label: 1)]))
            try p.propagate(start: 15) { _ in .continue }
            let kept = p.objects[1]!.nonConditioning.keys.sorted()
            XCTAssertEqual(kept, clear ? Array(1...7) + Array(16...23) : Array(1...14) + Array(16...23), "clear: \(clear)")
        }
    }
}
