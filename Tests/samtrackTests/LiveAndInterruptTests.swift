// Streams and stopping:
// - live: the ffmpeg CLI streams bedroom.mp4 in real time (-re) as MPEG-TS over UDP to
//   127.0.0.1 into `samtrack track udp://127.0.0.1:PORT --live --max-frames N`; frames must
//   arrive and be tracked within a bounded time (the tracker is killed at the limit and the
//   test fails saying so);
// - stdin: `samtrack track -` reads an MPEG-TS pipe;
// - Ctrl-C: SIGINT mid-run stops after the current frame with every finished frame written
//   (masks.jsonl valid, one line per finished frame, overlay playable) and exit status 130.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class LiveAndInterruptTests: XCTestCase {
    /// A UDP port on 127.0.0.1 that was free a moment ago.
    private func freeUDPPort() throws -> Int {
        #if os(Linux)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                guard bind(fd, sa, length) == 0 else { return -1 }
                return getsockname(fd, sa, &length)
            }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until some process listens on UDP `port` (Linux: /proc/net/udp); elsewhere waits 3 s.
    private func waitForUDPListener(port: Int, while child: ChildProcess, timeout: TimeInterval) -> Bool {
        let needle = String(format: ":%04X ", port)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && child.isRunning {
            guard let table = try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8) else {
                Thread.sleep(forTimeInterval: 3)
                return child.isRunning
            }
            // Column 2 is local_address HEXIP:HEXPORT.
            if table.split(separator: "\n").dropFirst().contains(where: { row in
                row.split(separator: " ").dropFirst().first.map { ($0 + " ").hasSuffix(needle) } ?? false
            }) {
                return true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func testLiveUDPStream() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let samtrack = try Samtrack.path()
        let dir = try TemporaryDirectory("live")
        let port = try freeUDPPort()
        let frames = 15
        let tracker = try ChildProcess(samtrack, [
            "track", "udp://127.0.0.1:\(port)", "--model", Samtrack.microModel, "--live", "--max-frames", "\(frames)",
            "--box", "1:100,100,400,400", "--point", "2:700,300", "--output", dir.file("out"),
        ])
        defer { tracker.terminate() }
        XCTAssertTrue(waitForUDPListener(port: port, while: tracker, timeout: 60),
                      "samtrack did not open udp://127.0.0.1:\(port) within 60 s:\n\(tracker.stderrSoFar)")
        // Real time (-re), looped so that a slow tracker on a loaded machine still gets its frames;
        // the sender is stopped when the test ends (at most 30 s of stream).
        let sender = try ChildProcess(ffmpeg, [
            "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", Fixtures.sharedMedia("bedroom.mp4"), "-t", "30",
            "-an", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316",
        ])
        defer { sender.terminate() }
        // 60 s bounds the run even on a loaded machine (it takes ~2 s).
        guard tracker.wait(timeout: 60) else {
            let partial = (try? String(contentsOfFile: dir.file("out/masks.jsonl.partial"), encoding: .utf8)) ?? ""
            tracker.terminate()
            XCTFail("samtrack did not track \(frames) live frames within 60 s (sender running: \(sender.isRunning), "
                    + "\(partial.split(separator: "\n").count) frames written); killed.\n\(tracker.result.summary)")
            return
        }
        let result = tracker.result
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("tracked \(frames) frames (960x540)"), result.stderr)
        let records = try readMasksJSONL(dir.file("out/masks.jsonl"))
        XCTAssertEqual(records.map { $0["frame"] as? Int }, (0..<frames).map { $0 })
        XCTAssertTrue(records.allSatisfy { objectIDs($0).sorted() == [1, 2] })
        let pts = records.compactMap { $0["pts"] as? Double }
        XCTAssertEqual(pts.count, frames, "every live frame has a presentation time")
        XCTAssertTrue(zip(pts, pts.dropFirst()).allSatisfy { $0 < $1 }, "pts must increase: \(pts)")
        // Dropped frames show as gaps in pts (the source is 30 frames/s) and are reported.
        if let first = pts.first, let last = pts.last {
            let spanned = Int(((last - first) * 30).rounded()) + 1
            print("live: \(frames) frames tracked over \(spanned) source frames; \(result.stderrLines.last ?? "")")
            if spanned > frames + 1 {
                XCTAssertTrue(result.stderr.contains("frames dropped (live)"), "gaps in pts but no drops reported:\n\(result.stderr)")
            }
        }
    }

    /// Issue 23, finding 10: a live source whose sender stops ended never; with --idle-timeout
    /// (default 10 s) the run ends, finishes its outputs and exits 0.
    func testLiveStreamThatStopsEndsAfterTheIdleTimeout() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let samtrack = try Samtrack.path()
        let dir = try TemporaryDirectory("live-idle")
        let port = try freeUDPPort()
        let tracker = try ChildProcess(samtrack, [
            "track", "udp://127.0.0.1:\(port)", "--model", Samtrack.microModel, "--live", "--idle-timeout", "2",
            "--box", "1:100,100,400,400", "--output", dir.file("out"),
        ])
        defer { tracker.terminate() }
        XCTAssertTrue(waitForUDPListener(port: port, while: tracker, timeout: 60),
                      "samtrack did not open udp://127.0.0.1:\(port) within 60 s:\n\(tracker.stderrSoFar)")
        // Two seconds of stream, then the sender stops for good.
        let sender = try ChildProcess.run(ffmpeg, [
            "-nostdin", "-v", "error", "-re", "-i", Fixtures.sharedMedia("bedroom.mp4"), "-t", "2",
            "-an", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316",
        ], timeout: 60)
        XCTAssertEqual(sender.status, 0, sender.summary)
        let stopped = Date()
        guard tracker.wait(timeout: 60) else {
            XCTFail("samtrack still ran 60 s after the sender stopped (idle timeout 2 s)\n\(tracker.stderrSoFar)")
            return
        }
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 30, "ended long after the idle timeout")
        let result = tracker.result
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("sent nothing for 2.0 s"), result.stderr)
        let records = try readMasksJSONL(dir.file("out/masks.jsonl"))
        XCTAssertGreaterThan(records.count, 0, "the frames received were tracked and written")
    }

    func testStandardInput() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let samtrack = try Samtrack.path()
        let dir = try TemporaryDirectory("stdin")
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", Fixtures.sharedMedia("bedroom.mp4"), "-t", "1",
                                                  "-an", "-vf", "scale=320:180", "-f", "mpegts", dir.file("clip.ts")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        let child = try ChildProcess(samtrack, ["track", "-", "--model", Samtrack.microModel, "--box", "1:10,10,200,150",
                                                "--max-frames", "6", "--output", dir.file("out")],
                                     standardInput: dir.file("clip.ts"))
        guard child.wait(timeout: 120) else {
            child.terminate()
            XCTFail("samtrack track - did not finish within 120 s\n\(child.result.summary)")
            return
        }
        XCTAssertEqual(child.result.status, 0, child.result.summary)
        XCTAssertTrue(child.result.stderr.contains("tracked 6 frames (320x180)"), child.result.stderr)
        XCTAssertEqual(try readMasksJSONL(dir.file("out/masks.jsonl")).count, 6)
    }

    func testInterruptWritesEveryFinishedFrame() throws {
        let samtrack = try Samtrack.path()
        let dir = try TemporaryDirectory("interrupt")
        // 300 frames: far more than are tracked before the signal.
        let child = try ChildProcess(samtrack, [
            "track", Fixtures.sharedMedia("cups.mp4"), "--model", Samtrack.microModel, "--box", "1:400,200,700,500",
            "--output", dir.file("out"), "--save-logits", dir.file("logits"), "--overlay", dir.file("overlay.mp4"),
        ])
        defer { child.terminate() }
        // Wait until a few frames are done (their logits files exist), then press Ctrl-C.
        let deadline = Date().addingTimeInterval(120)
        func finished() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("logits"))) ?? []).filter { $0.hasSuffix(".npy") }.count
        }
        while finished() < 3 && child.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard child.isRunning, finished() >= 3 else {
            XCTFail("samtrack did not start tracking within 120 s (or exited early):\n\(child.result.summary)")
            return
        }
        child.send(SIGINT)
        guard child.wait(timeout: 60) else {
            child.terminate()
            XCTFail("samtrack did not stop within 60 s of SIGINT; killed.\n\(child.result.summary)")
            return
        }
        let result = child.result
        XCTAssertFalse(result.signalled, "killed by the signal instead of stopping cleanly:\n\(result.summary)")
        XCTAssertEqual(result.status, 130, result.summary)
        XCTAssertTrue(result.stderr.contains("stopping after the current frame"), result.stderr)

        let records = try readMasksJSONL(dir.file("out/masks.jsonl"))
        let done = records.count
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out/masks.jsonl.partial")))
        XCTAssertGreaterThanOrEqual(done, 3)
        XCTAssertLessThan(done, 300, "the run was not interrupted")
        XCTAssertEqual(records.map { $0["frame"] as? Int }, (0..<done).map { $0 })
        XCTAssertEqual(finished(), done, "one logits file per finished frame")
        XCTAssertTrue(result.stderr.contains("tracked \(done) frames (1280x720)"), result.stderr)
        let overlay = try ProbedVideo.probe(dir.file("overlay.mp4"), countFrames: true)
        XCTAssertEqual(overlay.frames, done, "overlay frames after Ctrl-C")
    }
}
