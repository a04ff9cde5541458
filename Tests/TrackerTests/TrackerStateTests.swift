// Tracker state: bounded memory over a long stream, save/restore giving identical results, and
// bad inputs (wrong frame shape, bad ids, bad state files) giving clear errors.

import Foundation
import XCTest
import Checkpoint
import SAM2
import Tensor
import TestSupport
import Tracker

final class TrackerStateTests: XCTestCase {
    static let model: SAM2Model = {
        try! SAM2Model.load(checkpoint: Fixtures.path("models/micro.pt"))
    }()
    static let raw: [UInt8] = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/bedroom_128x128_24.rgb"))))

    func frame(_ t: Int) -> Tensor { TrackingFixture.frame(Self.raw, index: t % 24, size: 128) }

    let prompts: [Int: ObjectPrompt] = [
        1: .points(ImagePrompt(box: (300, 150, 520, 500))),
        2: .points(ImagePrompt(points: [(x: 700, y: 300, label: 1)])),
    ]

    func testMemoryStaysBoundedOverALongStream() throws {
        let tracker = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960)
        _ = try tracker.step(frame: frame(0), prompts: prompts)
        var sizes: [Int] = []
        for t in 1..<40 {
            _ = try tracker.step(frame: frame(t))
            sizes.append(tracker.memoryByteCount)
        }
        // After the rings fill (6 memories, 15 pointers) nothing grows.
        XCTAssertEqual(Set(sizes.suffix(20)).count, 1, "memory must be flat once the rings are full: \(sizes)")
        for id in tracker.objectIDs {
            let memory = tracker.objects[id]!
            XCTAssertEqual(memory.conditioning.count, 1)
            XCTAssertEqual(memory.recentMemories.count, 6)
            XCTAssertEqual(memory.recentPointers.count, 15)
        }
    }

    func testSaveAndRestoreContinueIdentically() throws {
        let options = TrackerOptions(fillHoleArea: 8, frameCount: 14)
        let uninterrupted = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960, options: options)
        var expected: [[ObjectFrameResult]] = []
        for t in 0..<14 { expected.append(try uninterrupted.step(frame: frame(t), prompts: t == 0 ? prompts : [:])) }

        let first = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960, options: options)
        for t in 0..<7 { _ = try first.step(frame: frame(t), prompts: t == 0 ? prompts : [:]) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-state-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.saveState(to: path)
        let restored = try VideoTracker.restore(from: path, model: Self.model)
        XCTAssertEqual(restored.frameIndex, 6)
        XCTAssertEqual(restored.objectIDs, [1, 2])
        for t in 7..<14 {
            let results = try restored.step(frame: frame(t))
            XCTAssertEqual(results.map(\.objectID), expected[t].map(\.objectID))
            for (a, b) in zip(results, expected[t]) {
                XCTAssertEqual(a.frame, b.frame)
                XCTAssertEqual(a.lowResLogits.scalars, b.lowResLogits.scalars, "frame \(t) object \(a.objectID) differs after restore")
                XCTAssertEqual(a.objectScore, b.objectScore)
            }
        }
    }

    func testBadInputsGiveClearErrors() throws {
        let tracker = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960)
        XCTAssertThrowsError(try tracker.prompt(objectID: 1, .points(ImagePrompt(points: [(x: 5, y: 5, label: 1)])))) {
            XCTAssertEqual($0 as? TrackerError, .noFrame)
        }
        XCTAssertThrowsError(try tracker.step(frame: Tensor(zeros: [1, 3, 64, 64]))) {
            XCTAssertEqual($0 as? TrackerError, .imageShape(expected: [1, 3, 128, 128], actual: [1, 3, 64, 64]))
        }
        XCTAssertThrowsError(try tracker.step(frame: frame(0), prompts: [0: prompts[1]!])) {
            XCTAssertEqual($0 as? TrackerError, .prompt(.invalidObjectID(0)))
        }
        // A bad prompt in a step is rejected before anything happens: the frame does not advance.
        XCTAssertThrowsError(try tracker.step(frame: frame(0), prompts: [1: .points(ImagePrompt(box: (10, 10, 5, 5)))])) {
            XCTAssertEqual($0 as? TrackerError, .prompt(.invalidBox(x1: 10, y1: 10, x2: 5, y2: 5)))
        }
        XCTAssertEqual(tracker.frameIndex, -1)
        _ = try tracker.step(frame: frame(0), prompts: prompts)
        XCTAssertThrowsError(try tracker.prompt(objectID: 3, .points(ImagePrompt(points: [(x: 2000, y: 5, label: 1)])))) {
            XCTAssertEqual($0 as? TrackerError, .prompt(.pointOutsideImage(x: 2000, y: 5, width: 960, height: 540)))
        }
        XCTAssertThrowsError(try tracker.prompt(objectID: 3, .mask(Tensor(zeros: [10, 10])))) {
            XCTAssertEqual($0 as? TrackerError, .prompt(.maskSize(width: 10, height: 10, sourceWidth: 960, sourceHeight: 540)))
        }
        XCTAssertThrowsError(try tracker.removeObject(9)) { XCTAssertEqual($0 as? TrackerError, .unknownObject(9)) }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-garbage-\(UUID())").path
        XCTAssertTrue(FileManager.default.createFile(atPath: garbage, contents: Data("not a state".utf8)))
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        XCTAssertThrowsError(try VideoTracker.restore(from: garbage, model: Self.model)) {
            XCTAssertTrue("\($0)".contains("not a samtrack tracker state"), "\($0)")
        }
    }

    func testRemovedObjectStopsAndCanBeReadded() throws {
        let tracker = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960)
        _ = try tracker.step(frame: frame(0), prompts: prompts)
        _ = try tracker.step(frame: frame(1))
        try tracker.removeObject(2)
        XCTAssertEqual(try tracker.step(frame: frame(2)).map(\.objectID), [1])
        let results = try tracker.step(frame: frame(3), prompts: [2: prompts[2]!])
        XCTAssertEqual(results.map(\.objectID), [1, 2])
        XCTAssertTrue(results[1].prompted)
    }
}
