// The pieces without jobs: the config file, the path policy, the request decoding, the job
// store, events and metrics text.

import Foundation
import XCTest
import Export
import TestSupport
import Tensor
import TrackingRun
@testable import TrackingDaemon

final class ConfigStoreAndSpecTests: XCTestCase {
    func writeConfig(_ dir: TemporaryDirectory, _ text: String) -> String {
        let path = dir.file("config.json")
        try! Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testConfigFileWithRelativePathsAndDefaults() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try FileManager.default.copyItem(atPath: TestMedia.microModel, toPath: dir.file("micro.pt"))
        try FileManager.default.createDirectory(atPath: dir.file("videos"), withIntermediateDirectories: true)
        try Data("secret-token-1\n".utf8).write(to: URL(fileURLWithPath: dir.file("token")))
        let path = writeConfig(dir, """
            {"models": {"micro": "micro.pt", "tiny": {"checkpoint": "micro.pt", "config": "micro.pt"}},
             "sources": {"roots": ["videos"], "patterns": ["/dev/video*"]},
             "limits": {"max_queued_jobs": 7},
             "token_file": "token"}
            """)
        let config = try DaemonConfig.load(path: path, dataDirectory: dir.file("data"))
        XCTAssertEqual(config.models["micro"]?.checkpoint, dir.file("micro.pt"))
        XCTAssertEqual(config.models["tiny"]?.config, dir.file("micro.pt"))
        XCTAssertEqual(config.sourceRoots, [PathPolicy.realPath(dir.file("videos"))!])
        XCTAssertEqual(config.sourcePatterns, ["/dev/video*"])
        XCTAssertEqual(config.outputRoot, PathPolicy.realPath(dir.file("data/outputs")), "default output root: DATA/outputs, created")
        XCTAssertEqual(config.limits.maxQueuedJobs, 7)
        XCTAssertEqual(config.limits.maxRunningJobs, DaemonConfig.Limits.defaultRunningJobs)
        XCTAssertEqual(config.checkpointEvery, 50)
        XCTAssertEqual(config.token, "secret-token-1")
        XCTAssertLessThanOrEqual(config.limits.maxRunningJobs * config.effectiveThreadsPerJob,
                                 max(ProcessInfo.processInfo.activeProcessorCount, config.limits.maxRunningJobs))
    }

    func testBadConfigFilesAreRefusedWithTheReason() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let model = TestMedia.microModel
        let cases: [(String, String)] = [
            ("{", "not valid JSON"),
            (#"{"models": {}}"#, "no models"),
            (#"{"models": {"m": "/nonexistent.pt"}}"#, "not a readable file"),
            (#"{"models": {"m": "\#(model)"}, "limit": {}}"#, "unknown key 'limit'"),
            (#"{"models": {"m": "\#(model)"}, "limits": {"max_running": 2}}"#, "unknown key 'max_running'"),
            (#"{"models": {"m": "\#(model)"}, "limits": {"max_running_jobs": 0}}"#, "max_running_jobs must be at least 1"),
            (#"{"models": {"m": "\#(model)"}, "sources": {"roots": ["/nonexistent-root"]}}"#, "not an existing directory"),
            (#"{"models": {"m": "\#(model)"}, "sources": {"patterns": ["*"]}}"#, "would allow anything"),
            (#"{"models": {"m": "\#(model)"}, "token": "short"}"#, "at least 8 characters"),
            (#"{"models": {"bad name": "\#(model)"}}"#, "model name"),
        ]
        for (text, expected) in cases {
            let path = writeConfig(dir, text)
            XCTAssertThrowsError(try DaemonConfig.load(path: path, dataDirectory: dir.file("data")), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(text): \(error)")
                XCTAssertTrue("\(error)".contains(path), "the message names the file: \(error)")
            }
        }
        XCTAssertThrowsError(try DaemonConfig.load(path: dir.file("missing.json"), dataDirectory: dir.path))
    }

    func testPathPolicy() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let files = FileManager.default
        try files.createDirectory(atPath: dir.file("root/frames"), withIntermediateDirectories: true)
        try files.createDirectory(atPath: dir.file("rootbeer"), withIntermediateDirectories: true)
        try files.createDirectory(atPath: dir.file("out/inner"), withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: dir.file("root/clip.mp4")))
        try Data().write(to: URL(fileURLWithPath: dir.file("rootbeer/clip.mp4")))
        try files.createSymbolicLink(atPath: dir.file("root/inside-link.mp4"), withDestinationPath: dir.file("root/clip.mp4"))
        try files.createSymbolicLink(atPath: dir.file("root/outside-link.mp4"), withDestinationPath: dir.file("rootbeer/clip.mp4"))
        try files.createSymbolicLink(atPath: dir.file("out/escape"), withDestinationPath: dir.path)
        try files.createSymbolicLink(atPath: dir.file("out/ok"), withDestinationPath: dir.file("out/inner"))
        let root = PathPolicy.realPath(dir.file("root"))!, out = PathPolicy.realPath(dir.file("out"))!
        let policy = PathPolicy(sourceRoots: [root], sourcePatterns: ["/dev/video*", "udp://127.0.0.1:*"], outputRoot: out)

        XCTAssertEqual(try policy.checkSource(dir.file("root/clip.mp4")), .file(root + "/clip.mp4"))
        XCTAssertEqual(try policy.checkSource(dir.file("root/inside-link.mp4")), .file(root + "/clip.mp4"))
        XCTAssertEqual(try policy.checkSource(dir.file("root/frames/%05d.png")), .file(root + "/frames/%05d.png"))
        XCTAssertEqual(try policy.checkSource("/dev/video0"), .stream("/dev/video0"))
        XCTAssertEqual(try policy.checkSource("udp://127.0.0.1:5000"), .stream("udp://127.0.0.1:5000"))
        let refused: [(String, Int)] = [
            (dir.file("rootbeer/clip.mp4"), 403),  // a sibling whose name starts like the root
            (dir.file("root/outside-link.mp4"), 403),
            (dir.file("root/../rootbeer/clip.mp4"), 403),
            (dir.file("root/frames"), 422),
            (dir.file("root/none.mp4"), 422),
            ("/dev/video0/../sda", 403), ("/dev/sda", 403), ("udp://10.0.0.1:5000", 403),
            ("udp://127.0.0.1:5000/../x", 403), ("file:/etc/passwd", 403), ("", 400),
        ]
        for (source, status) in refused {
            XCTAssertThrowsError(try policy.checkSource(source), source) { error in
                XCTAssertEqual((error as? APIError)?.status, status, "\(source): \(error)")
            }
        }

        XCTAssertEqual(try policy.outputDirectory("a/b"), out + "/a/b")
        XCTAssertEqual(try policy.outputDirectory("ok/x"), out + "/ok/x", "a link that stays inside is fine")
        for bad in ["..", "a/../..", "/abs", "~/x", "a//b", "./a", "a/.", "", "escape", "escape/deeper"] {
            XCTAssertThrowsError(try policy.outputDirectory(bad), bad) { error in
                XCTAssertEqual((error as? APIError)?.code, .invalidOutputPath, bad)
            }
        }
    }

    func testJobSpecDecodingAndPromptConversion() throws {
        let rle = COCORLE(encoding: BinaryMask(width: 4, height: 3) { x, y in x == 1 && y > 0 })
        let json = """
            {"source": "/v/a.mp4", "model": "tiny", "live": false, "max_frames": 9, "fill_holes": 0,
             "prompts": [{"object": 1, "frame": 0, "box": [1, 2, 3, 4]},
                         {"object": 2, "points": [[5, 6], [7, 8, 0]]},
                         {"object": 3, "mask": {"size": [3, 4], "counts": "\(rle.compressed)"}}],
             "output": {"format": "png", "path": "x/y"}}
            """
        let spec = try APIJSON.decode(JobSpec.self, from: Array(json.utf8))
        try spec.check(limits: DaemonConfig.Limits(maxObjectsPerJob: 3))
        XCTAssertEqual(spec.output, OutputSpec(format: .png, path: "x/y"))
        XCTAssertEqual(spec.maxFrames, 9)
        let prompts = spec.prompts.map { $0.trackingPrompt() }
        guard case let .points(box) = prompts[0].kind, case let .points(points) = prompts[1].kind,
              case let .mask(mask) = prompts[2].kind else { return XCTFail("kinds") }
        XCTAssertEqual(box.box?.x2, 3)
        XCTAssertEqual(points.points.map(\.label), [1, 0])
        XCTAssertEqual(mask, rle.decoded())
        // Round trip through the stored form of applied prompts.
        for prompt in prompts {
            XCTAssertEqual(PromptSpec(prompt: prompt).trackingPrompt().objectID, prompt.objectID)
        }
        XCTAssertEqual(PromptSpec(prompt: prompts[2]).mask, rle)
        XCTAssertEqual(PromptSpec(prompt: prompts[1]).points, [[5, 6, 1], [7, 8, 0]])
        // Re-encoding gives the same spec (stored in the job table).
        let again = try JSONDecoder().decode(JobSpec.self, from: Data(APIJSON.encode(spec)))
        XCTAssertEqual(again, spec)

        XCTAssertThrowsError(try APIJSON.decode(JobSpec.self, from: Array(#"{"source": "a", "model": "m", "prompts": [{"object": 1, "bx": []}]}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("prompts[0]"), "\($0)")
            XCTAssertTrue("\($0)".contains("'bx'"), "\($0)")
        }
        let single = try APIJSON.decode(AddPromptsSpec.self, from: Array(#"{"object": 4, "box": [1, 2, 3, 4]}"#.utf8))
        XCTAssertEqual(single.prompts.map(\.object), [4])
        let several = try APIJSON.decode(AddPromptsSpec.self, from: Array(#"{"prompts": [{"object": 4, "points": [[1, 2]]}, {"object": 5, "points": [[1, 2]]}]}"#.utf8))
        XCTAssertEqual(several.prompts.map(\.object), [4, 5])
        XCTAssertThrowsError(try APIJSON.decode(AddPromptsSpec.self, from: Array(#"{"prompts": [], "extra": 1}"#.utf8)))
    }

    func testJobSpecPrecision() throws {
        let base = #"{"source": "/v/a.mp4", "model": "tiny", "prompts": [{"object": 1, "box": [1, 2, 3, 4]}]"#
        XCTAssertNil(try APIJSON.decode(JobSpec.self, from: Array((base + "}").utf8)).precision)
        let bf16 = try APIJSON.decode(JobSpec.self, from: Array((base + #", "precision": "bf16"}"#).utf8))
        XCTAssertEqual(bf16.precision, .bfloat16)
        XCTAssertEqual(try JSONDecoder().decode(JobSpec.self, from: Data(APIJSON.encode(bf16))), bf16)
        if Precision.bfloat16Supported {
            XCTAssertNoThrow(try bf16.check(limits: DaemonConfig.Limits(maxObjectsPerJob: 1)))
        } else {
            XCTAssertThrowsError(try bf16.check(limits: DaemonConfig.Limits(maxObjectsPerJob: 1))) {
                XCTAssertEqual(($0 as? APIError)?.code, .bf16Unsupported)
            }
        }
        XCTAssertThrowsError(try APIJSON.decode(JobSpec.self, from: Array((base + #", "precision": "fp16"}"#).utf8))) {
            XCTAssertTrue("\($0)".contains("'fp16' is not one of fp32, bf16"), "\($0)")
        }
    }

    func testEventHubReplaysHistoryAndEnds() async throws {
        let hub = JobEventHub()
        for frame in 0..<5 { hub.publish(ServerSentEvent(name: "frame", id: frame, data: "{\"frame\": \(frame)}")) }
        let late = hub.subscribe(afterID: 2)
        hub.publish(ServerSentEvent(name: "frame", id: 5, data: "{}"))
        hub.finish(with: ServerSentEvent(name: "end", data: "{}"))
        var seen: [String] = []
        for await event in late { seen.append("\(event.name)\(event.id.map(String.init) ?? "")") }
        XCTAssertEqual(seen, ["frame3", "frame4", "frame5", "end"])
        XCTAssertEqual(hub.subscriberCount, 0)
        var after: [String] = []
        for await event in hub.subscribe(afterID: 4) { after.append(event.name) }
        XCTAssertEqual(after, ["frame", "end"])
        XCTAssertEqual(ServerSentEvent(name: "frame", id: 3, data: "{}").text, "event: frame\nid: 3\ndata: {}\n\n")
    }

    func testMetricsText() {
        let metrics = DaemonMetrics()
        var stages = FrameStageSeconds()
        stages.encoder = 0.003
        stages.frame = 0.2
        metrics.frameTracked(stages, newlyDropped: 2)
        metrics.jobSubmitted()
        metrics.jobFinished(.failed)
        metrics.httpRequest(status: 201)
        let text = metrics.render(jobCounts: [.running: 1], loadedModels: 1)
        for line in ["samtrackd_jobs{state=\"running\"} 1.0", "samtrackd_jobs{state=\"queued\"} 0.0",
                     "samtrackd_jobs_finished_total{state=\"failed\"} 1", "samtrackd_frames_tracked_total 1",
                     "samtrackd_dropped_frames_total 2", "samtrackd_stage_seconds_bucket{stage=\"encoder\",le=\"0.0025\"} 0",
                     "samtrackd_stage_seconds_bucket{stage=\"encoder\",le=\"0.005\"} 1",
                     "samtrackd_stage_seconds_bucket{stage=\"frame\",le=\"0.25\"} 1", "samtrackd_stage_seconds_count{stage=\"decode\"} 1",
                     "samtrackd_http_requests_total{code=\"201\"} 1", "samtrackd_models_loaded 1.0",
                     "# TYPE samtrackd_stage_seconds histogram"] {
            XCTAssertTrue(text.contains(line + "\n"), "missing: \(line)")
        }
        // Every sample line is NAME{LABELS} VALUE with a number.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            XCTAssertNotNil(Double(line.split(separator: " ").last ?? ""), String(line))
        }
    }
}
