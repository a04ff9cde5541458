// End to end over real HTTP: media uploaded (streamed to disk by the server) and registered,
// served as frames, refused when too large or not media; a session on an upload prompted on a
// later frame, tracked both ways, exported in every format, then replayed as a durable job whose
// masks equal the session's.

import Foundation
import XCTest
import Export
import TestSupport

final class MediaAndSessionEndToEndTests: XCTestCase {
    var scratch = ""

    override func setUp() {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samtrackd-media-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// A daemon with the micro model, uploads up to `maxUpload` bytes.
    private func startDaemon(maxUpload: Int) throws -> DaemonProcess {
        let data = scratch + "/data"
        let path = try DaemonProcess.writeConfig(dataDirectory: data)
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        config["uploads"] = ["max_bytes": maxUpload]
        config["sessions"] = ["max": 2, "threads": 1, "fill_holes": 8]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return try DaemonProcess(dataDirectory: data, config: path)
    }

    /// A 24-frame 320x240 MP4 (faststart) made with the ffmpeg CLI.
    private func makeClip() throws -> [UInt8] {
        let file = scratch + "/clip.mp4"
        let ffmpeg = ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try XCTUnwrap(ffmpeg, "ffmpeg is needed (Tools/install-deps.sh installs it)"))
        process.arguments = ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12", "-frames:v", "24",
                             "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", "-y", file]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    }

    private func upload(_ client: MiniHTTPClient, _ bytes: [UInt8], name: String, type: String = "video/mp4") throws -> HTTPResult {
        try client.request("POST", "/v1/media?name=\(name)", body: bytes, headers: ["Content-Type": type])
    }

    private func errorCode(_ reply: HTTPResult) -> String? {
        (reply.json["error"] as? [String: Any])?["code"] as? String
    }

    /// Width and height from a PNG's IHDR.
    private func pngSize(_ bytes: [UInt8]) -> (Int, Int)? {
        guard bytes.count > 24, bytes[0] == 0x89, bytes[1] == 0x50 else { return nil }
        func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        return (u32(16), u32(20))
    }

    /// Width and height from a JPEG's baseline or progressive frame header.
    private func jpegSize(_ bytes: [UInt8]) -> (Int, Int)? {
        guard bytes.count > 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var i = 2
        while i + 9 < bytes.count {
            guard bytes[i] == 0xFF else { return nil }
            let marker = bytes[i + 1]
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xC0 || marker == 0xC2 {
                return (Int(bytes[i + 7]) << 8 | Int(bytes[i + 8]), Int(bytes[i + 5]) << 8 | Int(bytes[i + 6]))
            }
            i += 2 + length
        }
        return nil
    }

    func testMediaUploadRegisterFramesAndRefusals() throws {
        let clip = try makeClip()
        let daemon = try startDaemon(maxUpload: 4 << 20)
        let client = daemon.client

        // Upload: probed, listed, served.
        let created = try upload(client, clip, name: "clip.mp4")
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.json["id"] as? String)
        XCTAssertEqual(created.json["kind"] as? String, "video")
        XCTAssertEqual(created.json["width"] as? Int, 320)
        XCTAssertEqual(created.json["height"] as? Int, 240)
        XCTAssertEqual(created.json["frames"] as? Int, 24)
        XCTAssertEqual(created.json["fps"] as? Double, 12)
        XCTAssertEqual(created.headers["location"], "/v1/media/\(id)")
        let list = try client.request("GET", "/v1/media")
        XCTAssertEqual((list.json["media"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])
        XCTAssertEqual(try client.request("GET", "/v1/media/\(id)").json["name"] as? String, "clip.mp4")

        let png = try client.request("GET", "/v1/media/\(id)/frames/5?format=png")
        XCTAssertEqual(png.status, 200, png.text)
        XCTAssertEqual(png.headers["content-type"], "image/png")
        XCTAssertTrue(pngSize(png.body).map { $0 == (320, 240) } ?? false, "PNG size \(String(describing: pngSize(png.body)))")
        let jpeg = try client.request("GET", "/v1/media/\(id)/frames/23?format=jpeg&width=160")
        XCTAssertEqual(jpeg.status, 200, jpeg.text)
        XCTAssertEqual(jpeg.headers["content-type"], "image/jpeg")
        XCTAssertTrue(jpegSize(jpeg.body).map { $0 == (160, 120) } ?? false, "JPEG size \(String(describing: jpegSize(jpeg.body)))")
        // Frames differ (testsrc2 moves): frame 5 and frame 6 as PNG are not the same bytes.
        XCTAssertNotEqual(png.body, try client.request("GET", "/v1/media/\(id)/frames/6?format=png").body)

        for (target, status, code) in [("/v1/media/\(id)/frames/24", 422, "frame_out_of_range"),
                                       ("/v1/media/\(id)/frames/-1", 422, "frame_out_of_range"),
                                       ("/v1/media/\(id)/frames/x", 422, "frame_out_of_range"),
                                       ("/v1/media/\(id)/frames/0?format=gif", 400, "invalid_request"),
                                       ("/v1/media/\(id)/frames/0?width=4", 400, "invalid_request"),
                                       ("/v1/media/00000000-0000-0000-0000-000000000000", 404, "media_not_found")] {
            let reply = try client.request("GET", target)
            XCTAssertEqual(reply.status, status, "\(target): \(reply.text)")
            XCTAssertEqual(errorCode(reply), code, "\(target): \(reply.text)")
        }

        // Refusals: not media, too large, a source outside the roots.
        let text = try upload(client, Array("this is not a video".utf8), name: "notes.mp4")
        XCTAssertEqual(text.status, 422, text.text)
        XCTAssertEqual(errorCode(text), "not_media")
        let large = try upload(client, [UInt8](repeating: 7, count: (4 << 20) + 1), name: "big.mp4")
        XCTAssertEqual(large.status, 413, large.text)
        XCTAssertEqual(errorCode(large), "upload_too_large")
        let longName = try upload(client, clip, name: String(repeating: "a", count: 256))
        XCTAssertEqual(longName.status, 400, longName.text)
        XCTAssertEqual(errorCode(longName), "invalid_request")
        let outside = try client.request("POST", "/v1/media", json: ["source": "/etc/passwd"])
        XCTAssertEqual(outside.status, 403, outside.text)
        XCTAssertEqual(errorCode(outside), "source_not_allowed")
        XCTAssertEqual((try client.request("GET", "/v1/media").json["media"] as? [[String: Any]])?.count, 1,
                       "refused uploads leave no media behind")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: scratch + "/data/media").filter { !$0.hasPrefix(id) && $0 != ".incoming" }
        XCTAssertEqual(leftovers, [], "refused uploads leave no files behind")

        // A source under a root, and an image.
        let registered = try client.request("POST", "/v1/media", json: ["source": Samtrackd.bedroom])
        XCTAssertEqual(registered.status, 201, registered.text)
        XCTAssertEqual(registered.json["frames"] as? Int, 200)
        XCTAssertEqual(registered.json["width"] as? Int, 960)
        let truck = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedMedia("truck.jpg"))))
        let image = try upload(client, truck, name: "truck.jpg", type: "image/jpeg")
        XCTAssertEqual(image.status, 201, image.text)
        XCTAssertEqual(image.json["kind"] as? String, "image")
        XCTAssertEqual(image.json["frames"] as? Int, 1)

        // In use by a session: not deleted; deleted after the session closes.
        let session = try client.request("POST", "/v1/sessions", json: ["media": id])
        XCTAssertEqual(session.status, 201, session.text)
        let sessionID = try XCTUnwrap(session.json["id"] as? String)
        let busy = try client.request("DELETE", "/v1/media/\(id)")
        XCTAssertEqual(busy.status, 409, busy.text)
        XCTAssertEqual(errorCode(busy), "media_in_use")
        XCTAssertEqual(try client.request("DELETE", "/v1/sessions/\(sessionID)").status, 200)
        XCTAssertEqual(try client.request("DELETE", "/v1/media/\(id)").status, 200)
        XCTAssertEqual(try client.request("GET", "/v1/media/\(id)").status, 404)
        XCTAssertTrue(daemon.process.isRunning)
    }

    func testSessionOnAnUploadExportsAndReplaysAsAJob() throws {
        let clip = try makeClip()
        let daemon = try startDaemon(maxUpload: 1 << 20)
        let client = daemon.client
        let mediaID = try XCTUnwrap(try upload(client, clip, name: "clip.mp4").json["id"] as? String)
        let session = try client.request("POST", "/v1/sessions", json: ["media": mediaID, "model": "micro"])
        XCTAssertEqual(session.status, 201, session.text)
        let id = try XCTUnwrap(session.json["id"] as? String)

        // Two clicks for object 1 on frame 8, a box for object 2 on frame 3. (One prompt per object
        // and frame: a later prompt on the same frame is refined from the earlier mask, as the
        // official predictor does, which a job replaying the final prompt cannot repeat exactly.)
        var reply = try client.request("POST", "/v1/sessions/\(id)/prompts",
                                   json: ["frame": 8, "object": 1, "points": [[100, 120, 1], [20, 20, 0]], "clear": true])
        XCTAssertEqual(reply.status, 200, reply.text)
        reply = try client.request("POST", "/v1/sessions/\(id)/prompts", json: ["frame": 3, "object": 2, "box": [180, 40, 300, 200]])
        XCTAssertEqual(reply.status, 200, reply.text)
        let objects = try XCTUnwrap(reply.json["objects"] as? [[String: Any]])
        // Every object on the frame, as the official predictor answers: object 1 (prompted on
        // frame 8 only) has no mask on frame 3 yet.
        XCTAssertEqual(objects.compactMap { $0["id"] as? Int }, [1, 2])
        XCTAssertEqual(objects.compactMap { $0["area"] as? Int }.first, 0)
        XCTAssertGreaterThan(objects.compactMap { $0["area"] as? Int }.last ?? 0, 1000)
        XCTAssertEqual((objects.last?["rle"] as? [String: Any])?["size"] as? [Int], [240, 320])

        let propagation = try client.request("POST", "/v1/sessions/\(id)/propagate", json: ["from": 3, "direction": "both"])
        XCTAssertEqual(propagation.status, 200)
        XCTAssertEqual(propagation.headers["content-type"], "text/event-stream")
        let events = propagation.text.components(separatedBy: "\n\n").filter { $0.contains("event: frame") }
        XCTAssertGreaterThanOrEqual(events.count, 24, "every frame is reported")
        XCTAssertTrue(propagation.text.contains("event: done"), propagation.text.suffix(300).description)

        // Exports.
        let jsonl = try client.request("GET", "/v1/sessions/\(id)/masks?format=jsonl")
        XCTAssertEqual(jsonl.status, 200, jsonl.text)
        let sessionFrames = try jsonl.text.split(separator: "\n").map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(sessionFrames.map(\.frame), Array(0..<24))
        XCTAssertEqual(Set(sessionFrames.flatMap { $0.objects.map(\.id) }), [1, 2])
        let coco = try client.request("GET", "/v1/sessions/\(id)/masks?format=coco")
        XCTAssertEqual(coco.status, 200, coco.text)
        XCTAssertEqual((coco.json["images"] as? [Any])?.count, 24)
        XCTAssertEqual((coco.json["annotations"] as? [Any])?.count, sessionFrames.reduce(0) { $0 + $1.objects.count })
        for (format, entry) in [("png", "1/00008.png"), ("palette", "00008.png")] {
            let zip = try client.request("GET", "/v1/sessions/\(id)/masks?format=\(format)")
            XCTAssertEqual(zip.status, 200, "\(format): \(zip.text.prefix(300))")
            XCTAssertEqual(zip.headers["content-type"], "application/zip")
            XCTAssertEqual(Array(zip.body.prefix(4)), [0x50, 0x4B, 0x03, 0x04], format)
            XCTAssertNotNil(zip.text.range(of: entry), "\(format) zip names \(entry)")
        }
        let bad = try client.request("GET", "/v1/sessions/\(id)/masks?format=tiff")
        XCTAssertEqual(bad.status, 400, bad.text)

        // The session as a durable job: the same masks, read from the uploaded file.
        let refused = try client.request("POST", "/v1/sessions/\(id)/job", json: ["unknown": 1])
        XCTAssertEqual(refused.status, 400, refused.text)
        let job = try client.request("POST", "/v1/sessions/\(id)/job", json: ["output": ["path": "from-session"]])
        XCTAssertEqual(job.status, 201, job.text)
        let jobID = try XCTUnwrap(job.json["id"] as? String)
        let prompts = try XCTUnwrap((job.json["request"] as? [String: Any])?["prompts"] as? [[String: Any]],
                                    job.text)
        XCTAssertEqual(prompts.count, 2, "one prompt per object and frame: \(prompts)")
        XCTAssertEqual(prompts.first?["frame"] as? Int, 3)
        XCTAssertEqual((prompts.last?["points"] as? [[Double]]), [[100, 120, 1], [20, 20, 0]], "the clicks of frame 8")
        let (status, jobEvents) = try client.events("/v1/jobs/\(jobID)/events")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(jobEvents.last?.json["status"] as? String, "succeeded", jobEvents.last?.data ?? "")
        let jobMasks = try client.request("GET", "/v1/jobs/\(jobID)/masks?format=jsonl")
        XCTAssertEqual(jobMasks.status, 200, jobMasks.text)
        let jobFrames = try jobMasks.text.split(separator: "\n").map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(jobFrames.map(\.frame), sessionFrames.map(\.frame))
        var differing = 0
        for (a, b) in zip(jobFrames, sessionFrames) {
            XCTAssertEqual(a.objects.map(\.id), b.objects.map(\.id), "frame \(a.frame)")
            for (x, y) in zip(a.objects, b.objects) where x.rle.counts != y.rle.counts {
                let (mx, my) = (try x.rle.decoded(), try y.rle.decoded())
                for i in 0..<(mx.width * mx.height) where mx[i % mx.width, i / mx.width] != my[i % my.width, i / my.width] { differing += 1 }
            }
        }
        XCTAssertEqual(differing, 0, "pixels where the job's masks differ from the session's")
        XCTAssertTrue(daemon.process.isRunning)
    }
}
