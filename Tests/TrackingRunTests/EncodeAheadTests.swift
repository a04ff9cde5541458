// The pipelined streaming loop (Sources/TrackingRun/EncodeAhead.swift): with frame t + 1 read
// and encoded on its own thread while frame t is tracked, a run writes the same masks and
// logits byte for byte as the one-stage loop (prompts added while it runs included), stops
// cleanly part-way, and ends a damaged source the same way.

import Foundation
import XCTest
import SAM2
import Tensor
import TestSupport
@testable import TrackingRun

final class EncodeAheadTests: XCTestCase {
    static let model = ResumeTests.model
    let added = TrackingPrompt(objectID: 3, kind: .points(ImagePrompt(box: (600, 200, 800, 400))))

    func request(input: String = TestMedia.bedroom, _ directory: String, frames: Int = 24) -> TrackingRequest {
        TrackingRequest(input: input,
                        prompts: [TrackingPrompt(objectID: 1, kind: .points(ImagePrompt(box: (300, 150, 520, 500)))),
                                  TrackingPrompt(objectID: 2, kind: .points(ImagePrompt(points: [(x: 700, y: 300, label: 1)])))],
                        output: OutputOptions(directory: directory, logitsDirectory: directory + "/logits"), maxFrames: frames)
    }

    /// Runs on a two-thread context, adding object 3 after frame 8; returns the summary and frames
    /// seen (and checks that the loop was pipelined exactly when asked).
    func track(_ request: TrackingRequest, encodesAhead: Bool, stopAfter: Int? = nil, threads: Int = 2,
               model: SAM2Model = EncodeAheadTests.model) throws -> (TrackingSummary, [Int]) {
        try ComputeContext(threads: threads).run {
            let run = TrackingRun(model: model, request: request, encodesAhead: encodesAhead)
            defer { XCTAssertEqual(run.wasPipelined, encodesAhead, "pipelined") }
            var frames: [Int] = []
            let summary = try run.run { p in
                frames.append(p.frame)
                if p.frame == 8 { try! run.addPrompt(self.added) }
                if p.frame == stopAfter { run.stop() }
            }
            return (summary, frames)
        }
    }

    func files(_ directory: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let names = try FileManager.default.subpathsOfDirectory(atPath: directory).filter { !$0.hasSuffix("run.json") }
        for name in names {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + name
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[name] = try Data(contentsOf: URL(fileURLWithPath: path))
            }
        }
        return result
    }

    func testPipelinedRunWritesTheSameFiles() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (one, oneFrames) = try track(request(dir.file("one")), encodesAhead: false)
        let (two, twoFrames) = try track(request(dir.file("two")), encodesAhead: true)
        XCTAssertEqual(oneFrames, Array(0..<24))
        XCTAssertEqual(twoFrames, oneFrames)
        XCTAssertEqual(two.framesTracked, one.framesTracked)
        XCTAssertEqual(two.endReason, one.endReason)
        let reference = try files(dir.file("one")), pipelined = try files(dir.file("two"))
        XCTAssertGreaterThan(reference.keys.filter { $0.hasPrefix("logits/") }.count, 24 * 2)
        XCTAssertEqual(Set(pipelined.keys), Set(reference.keys))
        for (name, data) in reference where pipelined[name] != data {
            XCTFail("\(name) differs between the one-stage and the pipelined run")
        }
    }

    /// The default model (256 px: memory attention has 256 queries, which attention cuts in
    /// blocks; the micro model's 64 fit one) writes the same bytes on one thread, on three, and
    /// pipelined on two: results do not depend on how many cores computed them.
    func testSameFilesOnAnyThreadCount() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let model = try SAM2Model.load(checkpoint: Fixtures.path("models/synth.pt"))
        var outputs: [[String: Data]] = []
        for (name, threads, ahead) in [("one", 1, false), ("three", 3, false), ("pipelined", 2, true)] {
            _ = try track(request(dir.file(name), frames: 10), encodesAhead: ahead, threads: threads, model: model)
            outputs.append(try files(dir.file(name)))
        }
        XCTAssertGreaterThan(outputs[0].keys.filter { $0.hasPrefix("logits/") }.count, 10 * 2)
        for (index, output) in outputs.enumerated().dropFirst() {
            XCTAssertEqual(Set(output.keys), Set(outputs[0].keys))
            for (name, data) in outputs[0] where output[name] != data {
                XCTFail("\(name) differs between one thread and run \(index)")
            }
        }
    }

    func testStopPartWayEndsTheEncoderThread() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (summary, frames) = try track(request(dir.file("out"), frames: 200), encodesAhead: true, stopAfter: 5)
        XCTAssertTrue(summary.stopped)
        XCTAssertEqual(frames, Array(0...5))
        XCTAssertEqual(summary.endReason, .stopped)
        let lines = try String(contentsOfFile: dir.file("out/masks.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
    }

    /// A video cut short mid-file (a `+faststart` remux of bedroom.mp4, index first, cut at 40%):
    /// both loops track the same frames and end it as truncated.
    func testTruncatedSourceEndsTheSameWay() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let faststart = dir.file("faststart.mp4")
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = ["-v", "error", "-i", TestMedia.bedroom, "-c", "copy", "-movflags", "+faststart", faststart]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        XCTAssertEqual(ffmpeg.terminationStatus, 0)
        let whole = try Data(contentsOf: URL(fileURLWithPath: faststart))
        let cut = dir.file("cut.mp4")
        try whole.prefix(whole.count * 2 / 5).write(to: URL(fileURLWithPath: cut))
        var outcomes: [String] = []
        for (index, ahead) in [false, true].enumerated() {
            let (summary, frames) = try track(request(input: cut, dir.file("out\(index)"), frames: 400), encodesAhead: ahead)
            XCTAssertEqual(summary.endReason, .truncated)
            XCTAssertGreaterThan(frames.count, 20)
            XCTAssertLessThan(frames.count, 200)
            outcomes.append("\(summary.endReason) after \(frames.count) frames")
        }
        XCTAssertEqual(outcomes[0], outcomes[1])
    }
}
