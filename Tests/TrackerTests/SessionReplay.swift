// SessionReplay: replays a scripted session of Tools/reference/make_session_fixtures.py on a
// VideoPredictor and compares, step by step, what every call returns with what the official
// SAM2VideoPredictor returned: each object's low-res logits, object score and object pointer on
// every prompted and propagated frame, the frames a propagation visits and their order, the
// objects present, and at the end every stored memory (conditioning or not, bfloat16).
//
// Tolerances (DESIGN §8): logits and pointers relative L2 <= `tolerance` (1e-4 for the micro
// fixtures); masks identical except where the reference |logit| < 1e-3; object scores within
// 1e-3 x max(1, |score|); memories bfloat16-close (`assertBFloat16Close`).

import Foundation
import XCTest
import SAM2
import Tensor
import TestSupport
import Tracker

struct SessionReplay {
    let reference: Fixtures.Reference
    let steps: [[String: Any]]
    let sourceHeight: Int, sourceWidth: Int
    /// Relative L2 bound for logits and pointers.
    let tolerance: Double

    init(_ reference: Fixtures.Reference, tolerance: Double) throws {
        self.reference = reference
        self.tolerance = tolerance
        steps = try JSONSerialization.jsonObject(with: Data(reference.metadata["script"]!.utf8)) as! [[String: Any]]
        sourceHeight = reference.int("source_height")!
        sourceWidth = reference.int("source_width")!
    }

    /// Figures of one replay.
    struct Figures {
        var worstLogits = 0.0, worstPointer = 0.0
        var comparedFrames = 0, comparedMemories = 0, propagatedFrames = 0
    }

    /// Replays every step on `predictor`, asserting agreement; `log` gets one line per step.
    func run(_ predictor: VideoPredictor, log: (String) -> Void = { _ in },
             file: StaticString = #filePath, line: UInt = #line) throws -> Figures {
        var figures = Figures()
        for (i, step) in steps.enumerated() {
            let op = step["op"] as! String
            let started = Date()
            switch op {
            case "points", "mask":
                let frame = step["frame"] as! Int, object = step["object"] as! Int
                let result: PromptResult
                if op == "mask" {
                    let mask = TrackingFixture.ellipse(step["ellipse"] as? [Double], height: sourceHeight, width: sourceWidth)
                    result = try predictor.addMask(frame: frame, object: object, mask: mask)
                } else {
                    var prompt = ImagePrompt()
                    if let b = step["box"] as? [Double] { prompt.box = (Float(b[0]), Float(b[1]), Float(b[2]), Float(b[3])) }
                    if let points = step["points"] as? [[Double]], let labels = step["labels"] as? [Int] {
                        prompt.points = zip(points, labels).map { (x: Float($0[0]), y: Float($0[1]), label: $1) }
                    }
                    result = try predictor.addPointsOrBox(frame: frame, object: object, prompt: prompt,
                                                          clearOld: step["clear"] as? Bool ?? true)
                }
                let ids = try reference.tensor("\(i).objects").scalars.map { Int($0) }
                XCTAssertEqual(result.frame.objects.map(\.objectID), ids.sorted(), "step \(i): objects", file: file, line: line)
                try compareObjects(result.frame, predictor, prefix: "\(i)", figures: &figures, file: file, line: line)
                log(String(format: "step %2d %@ frame %d object %d (%.2f s)", i, op, frame, object, Date().timeIntervalSince(started)))
            case "propagate":
                var visited: [Int] = []
                var failure: Error?
                let summary = try predictor.propagate(start: step["start"] as? Int, maxFrames: step["max"] as? Int,
                                                      reverse: step["reverse"] as! Bool) { result in
                    visited.append(result.frame)
                    do { try compareObjects(result, predictor, prefix: "\(i).\(result.frame)", figures: &figures, file: file, line: line) }
                    catch { failure = error; return .stop }
                    return .continue
                }
                if let failure { throw failure }
                let expected = try reference.tensor("\(i).frames").scalars.map { Int($0) }
                XCTAssertEqual(visited, expected, "step \(i): frames visited", file: file, line: line)
                XCTAssertEqual(summary, PropagationSummary(frames: expected, cancelled: false), "step \(i)", file: file, line: line)
                figures.propagatedFrames += visited.count
                log(String(format: "step %2d propagate %d frames (%.2f s)", i, visited.count, Date().timeIntervalSince(started)))
            case "remove":
                try predictor.removeObject(step["object"] as! Int)
                let expected = try reference.tensor("\(i).objects").scalars.map { Int($0) }
                XCTAssertEqual(predictor.objectIDs, expected.sorted(), "step \(i): objects left", file: file, line: line)
            default:
                XCTFail("unknown step \(op)", file: file, line: line)
            }
        }
        try compareFinalState(predictor, figures: &figures, file: file, line: line)
        return figures
    }

    /// Every object's result on one frame against "<prefix>.<id>.*".
    /// Pointers are not part of the results: the object's stored output on the frame gives them.
    func compareObjects(_ frame: PredictorFrame, _ predictor: VideoPredictor, prefix: String, figures: inout Figures,
                        file: StaticString, line: UInt) throws {
        let label = "step \(prefix)"
        for result in frame.objects {
            let key = "\(prefix).\(result.objectID)"
            let expected = try reference.tensor("\(key).low_res")
            let error = relativeL2Error(result.lowResLogits, expected)
            figures.worstLogits = max(figures.worstLogits, error)
            assertTensorsClose(result.lowResLogits, expected, relativeL2: tolerance, "\(label) object \(result.objectID) logits",
                               file: file, line: line)
            assertMasksAgree(result.lowResLogits, expected, "\(label) object \(result.objectID)", file: file, line: line)
            let score = try reference.tensor("\(key).score").scalars[0]
            XCTAssertEqual(result.objectScore, score, accuracy: 1e-3 * max(1, abs(score)), "\(label) object \(result.objectID) score",
                           file: file, line: line)
            if reference.store.contains("\(key).present") {
                let present = try reference.tensor("\(key).present").scalars[0] == 1
                XCTAssertEqual(!frame.objectsWithoutOutput.contains(result.objectID), present,
                               "\(label) object \(result.objectID): output present", file: file, line: line)
            }
            if reference.store.contains("\(key).pointer") {
                let expectedPointer = try reference.tensor("\(key).pointer")
                let stored = try XCTUnwrap(predictor.objects[result.objectID]?.output(on: frame.frame),
                                           "\(label) object \(result.objectID): no stored output", file: file, line: line)
                let pointer = Tensor(shape: [stored.pointer.count], values: stored.pointer)
                figures.worstPointer = max(figures.worstPointer, relativeL2Error(pointer, expectedPointer))
                assertTensorsClose(pointer, expectedPointer, relativeL2: tolerance, "\(label) object \(result.objectID) pointer",
                                   file: file, line: line)
            }
            figures.comparedFrames += 1
        }
    }

    /// Every object's stored outputs at the end: the same frames, conditioning or not, with the
    /// same memories (bfloat16) and pointers.
    func compareFinalState(_ predictor: VideoPredictor, figures: inout Figures, file: StaticString, line: UInt) throws {
        let keys = reference.store.orderedKeys.filter { $0.hasPrefix("final.") && $0.hasSuffix(".memory") }
        var expectedFrames: [Int: [Int: Bool]] = [:]
        for key in keys {
            let parts = key.split(separator: ".")
            let (id, frame) = (Int(parts[1])!, Int(parts[2])!)
            expectedFrames[id, default: [:]][frame] = try reference.tensor("final.\(id).\(frame).conditioning").scalars[0] == 1
        }
        XCTAssertEqual(predictor.objectIDs, expectedFrames.keys.sorted(), "final objects", file: file, line: line)
        for (id, frames) in expectedFrames {
            guard let state = predictor.objects[id] else { continue }
            XCTAssertEqual(Set(state.conditioning.map(\.frame)), Set(frames.filter { $0.value }.keys),
                           "object \(id): conditioning frames", file: file, line: line)
            XCTAssertEqual(Set(state.nonConditioning.keys), Set(frames.filter { !$0.value }.keys),
                           "object \(id): tracked frames", file: file, line: line)
            for (frame, conditioning) in frames {
                let out = conditioning ? state.conditioningOutput(frame) : state.nonConditioning[frame]
                guard let memory = out?.memory else {
                    XCTFail("object \(id) frame \(frame): no memory stored", file: file, line: line)
                    continue
                }
                let expected = try reference.tensor("final.\(id).\(frame).memory")
                assertBFloat16Close(memory.tensor.reshaped(expected.shape), expected, "object \(id) frame \(frame) memory",
                                    file: file, line: line)
                figures.comparedMemories += 1
            }
        }
    }
}
