// DaemonProcess: starts the built `samtrackd` on 127.0.0.1 with a free port (port 0; the daemon
// prints the port it got), a temporary data directory and a config using the micro model, and
// stops it (SIGTERM, or SIGKILL to simulate a crash). Every wait is bounded.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

enum Samtrackd {
    /// The executable next to the test runner (SAMTRACKD_BINARY overrides).
    static let binary: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SAMTRACKD_BINARY"], !explicit.isEmpty { return explicit }
        var places: [URL] = []
        if let runner = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            places.append(URL(fileURLWithPath: runner).deletingLastPathComponent())
        }
        places += Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        places.append(Bundle.main.bundleURL)
        return places.map { $0.appendingPathComponent("samtrackd").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static func path() throws -> String {
        guard let binary else {
            XCTFail("samtrackd was not found next to the test runner: build it (swift build) or set SAMTRACKD_BINARY")
            throw XCTSkip("no samtrackd binary")
        }
        return binary
    }

    static let bedroom = Fixtures.sharedMedia("bedroom.mp4")
    static let mediaRoot = (bedroom as NSString).deletingLastPathComponent
    static let microModel = Fixtures.path("models/micro.pt")
}

/// A running samtrackd.
final class DaemonProcess {
    let process = Process()
    let dataDirectory: String
    let stderrPath: String
    private(set) var port = 0
    let token: String?

    /// A config for `dataDirectory`/config.json (micro model, the shared videos' folder as root).
    static func writeConfig(dataDirectory: String, limits: [String: Any] = [:], checkpointEvery: Int = 10,
                            token: String? = nil, http: [String: Any]? = nil, store: String? = nil) throws -> String {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        var config: [String: Any] = [
            "models": ["micro": Samtrackd.microModel],
            "sources": ["roots": [Samtrackd.mediaRoot], "patterns": ["udp://127.0.0.1:*"]],
            "limits": ["max_running_jobs": 1].merging(limits) { $1 },
            "checkpoint_every": checkpointEvery,
            "threads_per_job": 1,
        ]
        if let token { config["token"] = token }
        if let http { config["http"] = http }
        if let store {  // a PostgreSQL URL: the daemon as a node of a shared store, with a short lease
            config["store"] = ["postgres": store]
            config["node"] = ["name": "e2e", "lease_ttl_s": 3, "heartbeat_s": 0.5]
        }
        let path = (dataDirectory as NSString).deletingLastPathComponent + "/config.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts samtrackd and waits (up to `timeout` s) for "listening on".
    /// `arguments` replaces `--listen LISTEN --data DIR --config CONFIG` (e.g. no --data or --config, to
    /// start on the defaults); `environment` is added to the test runner's.
    init(dataDirectory: String, config: String, token: String? = nil, listen: String = "127.0.0.1:0",
         timeout: Double = 60, arguments: [String]? = nil, environment: [String: String] = [:]) throws {
        self.dataDirectory = dataDirectory
        self.token = token
        stderrPath = (dataDirectory as NSString).deletingLastPathComponent + "/stderr-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try Samtrackd.path())
        process.arguments = arguments ?? ["--listen", listen, "--data", dataDirectory, "--config", config]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        // Read stdout on a thread until the listening line (or EOF).
        let found = DispatchSemaphore(value: 0)
        let box = PortBox()
        Thread.detachNewThread {
            var text = ""
            while true {
                let data = stdout.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
                box.stdout = text
                if let range = text.range(of: "listening on "), let newline = text[range.upperBound...].firstIndex(of: "\n") {
                    let address = text[range.upperBound..<newline]
                    box.port = Int(address.split(separator: ":").last ?? "") ?? 0
                    found.signal()
                    break
                }
            }
            found.signal()
        }
        guard found.wait(timeout: .now() + timeout) == .success, box.port > 0 else {
            if process.isRunning { process.terminate() }
            throw HTTPError("samtrackd did not start: \(stderr)")
        }
        port = box.port
    }

    final class PortBox: @unchecked Sendable { var port = 0; var stdout = "" }

    var client: MiniHTTPClient { MiniHTTPClient(port: port, token: token) }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then waits for the exit; returns the exit status (nil if it did not exit in time).
    @discardableResult
    func terminate(timeout: Double = 60) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        return waitForExit(timeout)
    }

    /// SIGKILL (a crash), then waits for the process to be gone.
    func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = waitForExit(30)
    }

    private func waitForExit(_ timeout: Double) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit { killHard() }
}

/// Runs a daemon that is expected to refuse to start; returns its exit status and stderr.
func runRefusedDaemon(_ arguments: [String], timeout: Double = 30) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try Samtrackd.path())
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date(timeIntervalSinceNow: timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        throw HTTPError("samtrackd \(arguments) kept running")
    }
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, text)
}
