// Test harness for the daemon's library side: a temporary data directory, a config with the micro
// model and the shared videos' folder as the only source root, a JobManager and an APIHandler
// called directly (no sockets). The job store is SQLite (the default) or a new database on a
// private PostgreSQL server (`HarnessStore.postgres`), so that one API suite runs on both.

import Foundation
import XCTest
import Export
import TestSupport
import TrackingRun
@testable import TrackingDaemon

/// A temporary directory removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "samtrackd-test") {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ relative: String) -> String { (path as NSString).appendingPathComponent(relative) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// The shared test videos.
enum TestMedia {
    static let bedroom = Fixtures.sharedMedia("bedroom.mp4")
    static var root: String { (bedroom as NSString).deletingLastPathComponent }
    static let microModel = Fixtures.path("models/micro.pt")
}

/// Which job store a harness's daemon keeps its jobs in.
enum HarnessStore {
    /// `samtrackd.sqlite` in the data directory (the daemon's default).
    case sqlite
    /// A database of its own on this class's server (a node of a one-node cluster).
    case postgres(ClassPostgres)
}

/// A test class whose harnesses use one store kind; a subclass that overrides `harnessStore()` runs
/// the same tests on PostgreSQL (a `ClassPostgres` server started once per class, stopped in its tearDown).
class StoreParameterizedTestCase: XCTestCase {
    /// The store for this class's harnesses (SQLite here).
    func harnessStore() throws -> HarnessStore { .sqlite }
}

/// One daemon-in-a-process: data directory, store, manager, handler.
final class ServiceHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    let data: String
    let config: DaemonConfig
    let store: any JobStore
    /// The SQLite store, when that is the kind (its file's path for tests that damage it).
    var sqlite: SQLiteJobStore? { store as? SQLiteJobStore }
    let manager: JobManager
    let handler: APIHandler

    /// `start: false` leaves the workers off, so that submitted jobs stay queued. `reuse` restarts
    /// on an earlier harness's directory and database (a daemon restart).
    init(limits: DaemonConfig.Limits = DaemonConfig.Limits(maxRunningJobs: 1), token: String? = nil,
         checkpointEvery: Int = 5, extraRoots: [String] = [], patterns: [String] = ["udp://127.0.0.1:*", "/dev/video*"],
         threadsPerJob: Int = 2, start: Bool = true, reuse: TemporaryDirectory? = nil, store kind: HarnessStore = .sqlite) throws {
        directory = reuse ?? TemporaryDirectory()
        data = directory.file("data")
        var config = DaemonConfig(models: ["micro": .init(checkpoint: TestMedia.microModel)],
                                  sourceRoots: [TestMedia.root] + extraRoots, sourcePatterns: patterns,
                                  outputRoot: (data as NSString).appendingPathComponent("outputs"),
                                  limits: limits, checkpointEvery: checkpointEvery, threadsPerJob: threadsPerJob, token: token)
        let postgresURL = try Self.databaseURL(kind, directory: directory)
        if let postgresURL { config.store = .postgres(url: postgresURL) }
        self.config = try config.validated()
        if let postgresURL {
            store = try PostgresJobStore(url: postgresURL, nodeName: "harness")
        } else {
            store = try SQLiteJobStore(path: (data as NSString).appendingPathComponent("samtrackd.sqlite"))
        }
        manager = JobManager(config: self.config, dataDirectory: data, store: store)
        handler = APIHandler(manager: manager, keepAliveInterval: 30)
        if start { try manager.start() }
    }

    deinit { (store as? PostgresJobStore)?.close() }

    /// The PostgreSQL database of a harness in `directory` (nil for SQLite): made on first use, its
    /// URL kept in the directory so that a `reuse` finds the same one.
    private static func databaseURL(_ kind: HarnessStore, directory: TemporaryDirectory) throws -> String? {
        guard case let .postgres(postgres) = kind else { return nil }
        let urlFile = directory.file("postgres-url")
        if let saved = try? String(contentsOfFile: urlFile, encoding: .utf8) { return saved }
        let url = try postgres.newDatabase(prefix: "api")
        try url.write(toFile: urlFile, atomically: true, encoding: .utf8)
        return url
    }

    /// Stops the workers (jobs are suspended or stay queued).
    func shutdown() async {
        await manager.drain(timeout: 30)
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func call(_ method: String, _ target: String, json: Any? = nil, body: [UInt8]? = nil,
              headers: [String: String] = [:]) async -> Reply {
        var payload = body ?? []
        if let json { payload = Array(try! JSONSerialization.data(withJSONObject: json)) }
        let response = await handler.handle(APIRequest(method: method, target: target, headers: headers, body: payload))
        return Reply(status: response.status, headers: response.headers, body: await response.collectedBody())
    }

    /// A job request on bedroom.mp4 with two objects.
    func jobBody(maxFrames: Int = 10, path: String? = nil, extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = [
            "source": TestMedia.bedroom, "model": "micro",
            "prompts": [["object": 1, "box": [300, 150, 520, 500]], ["object": 2, "points": [[700, 300]]]],
            "max_frames": maxFrames,
        ]
        if let path { body["output"] = ["path": path] }
        for (k, v) in extra { body[k] = v }
        return body
    }

    /// Creates a job; fails the test unless 201. Returns its id.
    func submit(_ body: [String: Any], file: StaticString = #filePath, line: UInt = #line) async -> String {
        let reply = await call("POST", "/v1/jobs", json: body)
        XCTAssertEqual(reply.status, 201, reply.text, file: file, line: line)
        return reply.json["id"] as? String ?? ""
    }

    /// Parsed events of a job's stream; `until` stops reading early (returns what was read).
    func events(_ id: String, after: Int? = nil, until: ((ParsedEvent) -> Bool)? = nil) async -> [ParsedEvent] {
        let response = await handler.handle(APIRequest(method: "GET", target: "/v1/jobs/\(id)/events"
                                                       + (after.map { "?after=\($0)" } ?? "")))
        guard case let .stream(stream) = response.body else { return [] }
        var events: [ParsedEvent] = []
        var pending = ""
        for await chunk in stream {
            pending += String(decoding: chunk, as: UTF8.self)
            while let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                guard let event = ParsedEvent(block) else { continue }
                events.append(event)
                if let until, until(event) { return events }
            }
        }
        return events
    }

    func job(_ id: String) async -> [String: Any] { await call("GET", "/v1/jobs/\(id)").json }

    /// masks.jsonl of a job's output path.
    func masks(_ path: String) throws -> String {
        try String(contentsOfFile: (config.outputRoot as NSString).appendingPathComponent("\(path)/masks.jsonl"), encoding: .utf8)
    }
}

/// One event from a text/event-stream.
struct ParsedEvent {
    var name: String
    var id: Int?
    var data: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }

    init?(_ block: String) {
        var name: String?, id: Int?, data = ""
        for line in block.split(separator: "\n") {
            if line.hasPrefix(":") { continue }
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
            if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        guard let name else { return nil }
        self.name = name
        self.id = id
        self.data = data
    }

    /// Object ids of a frame event.
    var objectIDs: [Int] { (json["objects"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int } }
}
