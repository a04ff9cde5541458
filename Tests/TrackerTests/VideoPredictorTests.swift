// VideoPredictor behaviour beyond parity: bad inputs give typed errors and change nothing,
// clear_old_points, multimask candidates, corrections becoming conditioning frames (or not),
// clearing prompts, removing objects, reset, reverse propagation and frame limits. Parity with the
// official predictor is VideoPredictorParityTests'.

import Foundation
import XCTest
import SAM2
import Tensor
import TestSupport
import Tracker

/// The micro model and the 24 committed bedroom frames (960x540 source) as a frame provider.
enum PredictorFixture {
    static let model: SAM2Model = try! SAM2Model.load(checkpoint: Fixtures.path("models/micro.pt"))
    static let raw = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/bedroom_128x128_24.rgb"))))
    static let frames: [Tensor] = (0..<24).map { TrackingFixture.frame(raw, index: $0, size: 128) }

    static func predictor(_ options: PredictorOptions = PredictorOptions(fillHoleArea: 0)) -> (VideoPredictor, TensorFrames) {
        let provider = TensorFrames(frames, sourceWidth: 960, sourceHeight: 540)
        return (VideoPredictor(model: model, frames: provider, options: options), provider)
    }

    static let box = ImagePrompt(box: (300, 150, 520, 500))
    static let click = ImagePrompt(points: [(x: 700, y: 300, label: 1)])
}

/// Asserts that `body` throws a `PredictorError` that `matches` accepts.
func assertPredictorError<T>(_ body: @autoclosure () throws -> T, _ label: String, file: StaticString = #filePath, line: UInt = #line,
                             _ matches: (PredictorError) -> Bool) {
    do {
        _ = try body()
        XCTFail("\(label): no error thrown", file: file, line: line)
    } catch let error as PredictorError {
        XCTAssertTrue(matches(error), "\(label): unexpected error \(error)", file: file, line: line)
    } catch {
        XCTFail("\(label): not a PredictorError: \(error)", file: file, line: line)
    }
}

final class VideoPredictorTests: XCTestCase {
    func testBadFramesObjectsAndPromptsAreRefusedWithoutChangingState() throws {
        let (p, provider) = PredictorFixture.predictor()
        assertPredictorError(try p.addPointsOrBox(frame: -1, object: 1, prompt: PredictorFixture.click), "negative frame") {
            if case .invalidFrame(.negativeFrame(-1)) = $0 { true } else { false }
        }
        assertPredictorError(try p.addMask(frame: 24, object: 1, mask: Tensor(zeros: [540, 960])), "frame past the end") {
            if case .invalidFrame(.frameOutOfRange(frame: 24, frameCount: 24)) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 0, object: 0, prompt: PredictorFixture.click), "object id 0") {
            if case .prompt(.invalidObjectID(0)) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 3, object: 1, prompt: ImagePrompt(points: [(x: 961, y: 10, label: 1)])),
                             "click outside the frame") {
            if case .prompt(.pointOutsideImage(x: 961, y: 10, width: 960, height: 540)) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 3, object: 1, prompt: ImagePrompt(box: (-5, 0, 100, 100))), "box outside") {
            if case .prompt(.boxOutsideImage) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 3, object: 1, prompt: ImagePrompt()), "empty prompt") {
            if case .prompt(.empty) = $0 { true } else { false }
        }
        assertPredictorError(try p.addMask(frame: 3, object: 1, mask: Tensor(zeros: [540, 961])), "mask of the wrong size") {
            if case .prompt(.maskSize(width: 961, height: 540, sourceWidth: 960, sourceHeight: 540)) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 3, object: 1, prompt: PredictorFixture.box, clearOld: false), "box kept with clicks") {
            if case .boxWithoutClearing = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 3, object: 1, prompt: ImagePrompt(points: [(x: 5, y: 5, label: 1)],
                                                                                             maskLogits: Tensor(zeros: [1, 1, 32, 32]))),
                             "mask logits with clicks") {
            if case .maskLogitsNotSupported = $0 { true } else { false }
        }
        assertPredictorError(try p.removeObject(7), "unknown object") { if case .unknownObject(7) = $0 { true } else { false } }
        assertPredictorError(try p.clearPrompts(frame: 0, object: 7), "unknown object") { if case .unknownObject(7) = $0 { true } else { false } }
        assertPredictorError(try p.propagate { _ in .continue }, "nothing to propagate") { if case .noObjects = $0 { true } else { false } }
        assertPredictorError(try p.results(frame: 99), "results past the end") {
            if case .invalidFrame(.frameOutOfRange(frame: 99, frameCount: 24)) = $0 { true } else { false }
        }
        XCTAssertTrue(p.objects.isEmpty, "failed calls must not create objects")
        XCTAssertEqual(provider.reads, Array(repeating: 0, count: 24), "failed prompts must be refused before the encoder runs")

        try p.addPointsOrBox(frame: 3, object: 1, prompt: PredictorFixture.click)
        assertPredictorError(try p.propagate(start: 30) { _ in .continue }, "start past the end") {
            if case .invalidFrame(.frameOutOfRange(frame: 30, frameCount: 24)) = $0 { true } else { false }
        }
        assertPredictorError(try p.propagate(maxFrames: -1) { _ in .continue }, "negative limit") {
            if case .invalidFrameLimit(-1) = $0 { true } else { false }
        }
        // Clicks accumulate with clearOld false, and the total is checked by PromptRules.
        let many = ImagePrompt(points: (0..<PromptRules.maxPoints).map { (x: Float($0), y: 10, label: 1) })
        try p.addPointsOrBox(frame: 5, object: 1, prompt: many)
        assertPredictorError(try p.addPointsOrBox(frame: 5, object: 1, prompt: PredictorFixture.click, clearOld: false), "65 clicks") {
            if case .prompt(.tooManyPoints(count: 65, limit: 64)) = $0 { true } else { false }
        }
        XCTAssertEqual(p.objects[1]?.pointInputs[5]?.points.count, 64, "a refused click must not be kept")
    }

    func testFrameProviderFailuresAreTyped() throws {
        final class Broken: FrameProvider {
            struct ReadError: Error {}
            var frameCount: Int { 4 }
            var sourceWidth: Int { 960 }
            var sourceHeight: Int { 540 }
            func frame(_ index: Int) throws -> Tensor {
                if index == 2 { throw ReadError() }
                return Tensor(zeros: [1, 3, 64, 64])
            }
        }
        let p = VideoPredictor(model: PredictorFixture.model, frames: Broken())
        assertPredictorError(try p.addPointsOrBox(frame: 2, object: 1, prompt: PredictorFixture.click), "unreadable frame") {
            if case .frameUnreadable(frame: 2, cause: is Broken.ReadError) = $0 { true } else { false }
        }
        assertPredictorError(try p.addPointsOrBox(frame: 1, object: 1, prompt: PredictorFixture.click), "wrong frame size") {
            if case .frameShape(frame: 1, expected: [1, 3, 128, 128], actual: [1, 3, 64, 64]) = $0 { true } else { false }
        }
        XCTAssertTrue(p.objects.isEmpty)
    }

    func testSingleClickGivesCandidatesAndKeepsTheBest() throws {
        let (p, _) = PredictorFixture.predictor()
        let result = try p.addPointsOrBox(frame: 4, object: 2, prompt: PredictorFixture.click)
        XCTAssertEqual(result.candidates.count, 3, "one click on a new frame is ambiguous: three candidates")
        let best = result.candidates.indices.max { result.candidates[$0].iou < result.candidates[$1].iou }!
        XCTAssertEqual(result.frame.result(2)?.lowResLogits.scalars, result.candidates[best].lowResLogits.scalars)
        let boxed = try p.addPointsOrBox(frame: 4, object: 1, prompt: PredictorFixture.box)
        XCTAssertTrue(boxed.candidates.isEmpty, "a box is not ambiguous")
        XCTAssertEqual(boxed.frame.objects.map(\.objectID), [1, 2], "every object's result on the frame")
        XCTAssertTrue(boxed.frame.objects.allSatisfy(\.prompted))
        // Another frame: object 2 has no output there yet, so it gets the placeholder.
        let other = try p.addPointsOrBox(frame: 9, object: 1, prompt: PredictorFixture.box)
        XCTAssertEqual(other.frame.objectsWithoutOutput, [2])
        XCTAssertEqual(other.frame.result(2)?.objectScore, noObjectScore)
        XCTAssertEqual(Set(other.frame.result(2)!.lowResLogits.scalars), [noObjectScore])
    }

    func testClearOldPointsReplacesOrAppends() throws {
        let (p, _) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
        try p.addPointsOrBox(frame: 0, object: 1, prompt: ImagePrompt(points: [(x: 400, y: 300, label: 0)]), clearOld: false)
        XCTAssertEqual(p.objects[1]?.pointInputs[0]?.points.count, 1)
        XCTAssertNotNil(p.objects[1]?.pointInputs[0]?.box, "appending keeps the box")
        try p.addPointsOrBox(frame: 0, object: 1, prompt: ImagePrompt(points: [(x: 410, y: 310, label: 1)]))
        XCTAssertEqual(p.objects[1]?.pointInputs[0]?.points.map(\.x), [410])
        XCTAssertNil(p.objects[1]?.pointInputs[0]?.box, "clearOld replaces the box too")
        try p.addMask(frame: 0, object: 1, mask: TrackingFixture.ellipse([480, 270, 150, 100], height: 540, width: 960))
        XCTAssertNil(p.objects[1]?.pointInputs[0], "a mask replaces the frame's clicks")
        XCTAssertTrue(p.objects[1]!.hasPrompt(on: 0))
    }

    /// A correction on a tracked frame becomes a conditioning frame (default), or only replaces
    /// the frame's tracked output (correctionsAsConditioning false; a propagation starting on
    /// that frame would track it again, as the official predictor does); either way the next
    /// propagation after it recomputes the later frames.
    func testCorrectionsBecomeConditioningFrames() throws {
        for asConditioning in [true, false] {
            let (p, _) = PredictorFixture.predictor(PredictorOptions(fillHoleArea: 0, correctionsAsConditioning: asConditioning))
            try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
            try p.propagate(maxFrames: 12) { _ in .continue }
            let before = try p.results(frame: 10).result(1)!.lowResLogits
            try p.addPointsOrBox(frame: 8, object: 1, prompt: ImagePrompt(points: [(x: 600, y: 120, label: 1)]))
            try p.propagate(start: 9, maxFrames: 3) { _ in .continue }
            let state = p.objects[1]!
            XCTAssertEqual(state.conditioning.map(\.frame), asConditioning ? [0, 8] : [0])
            XCTAssertEqual(state.nonConditioning[8] == nil, asConditioning)
            XCTAssertGreaterThan(relativeL2Error(try p.results(frame: 10).result(1)!.lowResLogits, before), 1e-3,
                                 "the correction must change the frames after it (conditioning: \(asConditioning))")
        }
    }

    func testClearingAPromptDowngradesItsFrame() throws {
        let (p, _) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 0, object: 1, prompt: PredictorFixture.box)
        try p.addPointsOrBox(frame: 5, object: 1, prompt: PredictorFixture.click)
        try p.propagate { _ in .continue }
        XCTAssertEqual(p.objects[1]?.conditioning.map(\.frame), [0, 5])
        try p.clearPrompts(frame: 5, object: 1)
        XCTAssertEqual(p.objects[1]?.conditioning.map(\.frame), [0])
        XCTAssertNotNil(p.objects[1]?.nonConditioning[5], "the output stays as a tracked one")
        XCTAssertNil(p.objects[1]?.tracked[5], "the frame counts as untracked again")
        let again = try p.addPointsOrBox(frame: 5, object: 1, prompt: PredictorFixture.click)
        XCTAssertEqual(again.candidates.count, 3, "a prompt there starts from the frame alone again")
        // All prompts of an object cleared: nothing to track it from.
        try p.addPointsOrBox(frame: 3, object: 4, prompt: PredictorFixture.click)
        try p.clearPrompts(frame: 3, object: 4)
        assertPredictorError(try p.propagate { _ in .continue }, "object without prompts") {
            if case .objectWithoutPrompts(4) = $0 { true } else { false }
        }
        XCTAssertEqual(p.objects[1]?.conditioning.map(\.frame), [0], "a refused propagation commits nothing")
        try p.removeObject(4)
        try p.propagate(start: 4, maxFrames: 2) { _ in .continue }
        XCTAssertEqual(p.objects[1]?.conditioning.map(\.frame), [0, 5])
    }

    func testRemoveAndResetGiveTheSameResultsAsAFreshPredictor() throws {
        let (fresh, _) = PredictorFixture.predictor()
        try fresh.addPointsOrBox(frame: 2, object: 1, prompt: PredictorFixture.box)
        var expected: [Int: [Float]] = [:]
        try fresh.propagate(maxFrames: 5) { expected[$0.frame] = $0.result(1)!.lowResLogits.scalars; return .continue }

        let (p, _) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 0, object: 3, prompt: PredictorFixture.click)
        try p.propagate(maxFrames: 3) { _ in .continue }
        p.resetState()
        XCTAssertTrue(p.objects.isEmpty)
        XCTAssertEqual(p.memoryByteCount, 0)
        try p.addPointsOrBox(frame: 2, object: 1, prompt: PredictorFixture.box)
        try p.addPointsOrBox(frame: 2, object: 2, prompt: PredictorFixture.click)
        try p.removeObject(2)
        var seen: [Int] = []
        try p.propagate(maxFrames: 5) { frame in
            seen.append(frame.frame)
            XCTAssertEqual(frame.objects.map(\.objectID), [1])
            XCTAssertEqual(frame.result(1)!.lowResLogits.scalars, expected[frame.frame], "frame \(frame.frame)")
            return .continue
        }
        XCTAssertEqual(seen, Array(2...7))
    }

    /// Reverse from a prompted frame visits it and the frames before; maxFrames counts frames
    /// after the start, as max_frame_num_to_track.
    func testReverseAndFrameLimits() throws {
        let (p, _) = PredictorFixture.predictor()
        try p.addPointsOrBox(frame: 10, object: 1, prompt: PredictorFixture.box)
        let back = try p.propagate(reverse: true) { _ in .continue }
        XCTAssertEqual(back, PropagationSummary(frames: Array((0...10).reversed()), cancelled: false))
        XCTAssertEqual(p.objects[1]?.tracked.filter { $0.value }.keys.sorted(), Array(0...10))
        let forward = try p.propagate(start: 5, maxFrames: 3) { _ in .continue }
        XCTAssertEqual(forward.frames, [5, 6, 7, 8])
        XCTAssertEqual(p.objects[1]?.tracked[6], false, "the last direction is recorded")
        XCTAssertEqual(try p.propagate(start: 2, maxFrames: 5, reverse: true) { _ in .continue }.frames, [2, 1, 0])
        XCTAssertEqual(try p.propagate(start: 0, reverse: true) { _ in .continue }.frames, [], "reverse from frame 0 does nothing")
        XCTAssertEqual(try p.propagate(start: 22) { _ in .continue }.frames, [22, 23])
    }
}
