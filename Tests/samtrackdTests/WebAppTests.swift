// WebAppTests: samtrackd as a new user meets it — started with no --data and no --config (the
// bundled model, the default data directory, the web app at /), and the web app driven in a real
// headless Chromium by Tools/browser/webapp_test.py (selenium + Debian's chromium-driver; see its
// docstring for the scenario). Without chromium the browser test is skipped locally and fails
// under CI (the CI environment variable set), where Tools/install-deps.sh installs it.
// SAMTRACK_UPDATE_SCREENSHOTS=1 copies its screenshots to docs/ (webapp_*.png).

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class WebAppTests: XCTestCase {
    private static let repository = Fixtures.repositoryRoot.path

    private func temporaryDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "samtrackd-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// No flags but a free port: the data directory is $XDG_DATA_HOME/samtrack, the model the
    /// bundled synth.pt (named "default"), and / serves the app with its headers.
    func testStartsWithoutFlagsOnTheDefaultsAndServesTheApp() throws {
        let root = try temporaryDirectory("defaults")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let daemon = try DaemonProcess(dataDirectory: root + "/unused", config: "", arguments: ["--listen", "127.0.0.1:0"],
                                       environment: ["XDG_DATA_HOME": root, "SAMTRACK_DATA": ""])
        defer { daemon.terminate() }
        let client = daemon.client
        let health = try client.request("GET", "/healthz")
        XCTAssertEqual(health.status, 200, health.text)
        XCTAssertEqual(health.json["models"] as? [String], ["default"])
        for file in ["samtrackd.sqlite", "samtrackd.lock", "media"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/samtrack/" + file), "\(file) in the default data directory")
        }
        let page = try client.request("GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        XCTAssertEqual(page.headers["cache-control"], "no-cache")
        XCTAssertTrue(page.text.contains(#"data-testid="frame-canvas""#), "the app's page")
        let etag = try XCTUnwrap(page.headers["etag"])
        XCTAssertEqual(try client.request("GET", "/", headers: ["If-None-Match": etag]).status, 304)
        let script = try client.request("GET", "/js/editor.js")
        XCTAssertEqual(script.status, 200)
        XCTAssertEqual(script.headers["content-type"], "text/javascript; charset=utf-8")
        let escape = try client.request("GET", "/../Package.swift")
        XCTAssertEqual(escape.status, 404, "a path out of the app's folder: \(escape.text)")
        XCTAssertEqual(escape.errorCode, "not_found")
        XCTAssertEqual(try client.request("GET", "/js/%2e%2e/%2e%2e/README.md").status, 404)
        XCTAssertEqual(try client.request("POST", "/index.html").status, 405)
    }

    /// The daemon's bearer token in the browser scenario: the app must send it on every request,
    /// the live view's event stream included (EventSource cannot, so the app reads it with fetch).
    private static let token = "webapp-test-token-\(UUID().uuidString.prefix(8))"

    /// The scenario of Tools/browser/webapp_test.py in Chromium against a daemon on the bundled
    /// model (256 px) with the demo clip's folder and the shared videos' as allowed sources, and a
    /// bearer token that the scenario enters in the app first.
    func testWebAppInChromium() throws {
        let ci = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false
        let missing = [["/usr/bin/chromium", "/usr/bin/chromium-browser"], ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
                       ["/usr/bin/python3"]]
            .filter { $0.allSatisfy { !FileManager.default.isExecutableFile(atPath: $0) } }.map { $0[0] }
        if !missing.isEmpty {
            let message = "\(missing.joined(separator: ", ")) not installed: run Tools/install-deps.sh (chromium chromium-driver python3-venv)"
            if ci { XCTFail(message); return }
            throw XCTSkip(message)
        }
        let root = try temporaryDirectory("webapp")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let clip = Fixtures.path("clips/clip_700002")
        let longVideo = Samtrackd.bedroom  // 200 frames at 960x540: the job the live view watches, then cancels
        let config: [String: Any] = [
            "models": ["default": Fixtures.path("models/synth.pt")],
            "sources": ["roots": [(clip as NSString).deletingLastPathComponent, Samtrackd.mediaRoot]],
            "limits": ["max_running_jobs": 1],
            "threads_per_job": 2,
            "token": Self.token,
        ]
        let configPath = root + "/config.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let daemon = try DaemonProcess(dataDirectory: root + "/data", config: configPath)
        defer { daemon.terminate() }

        var arguments = [Self.repository + "/Tools/browser/webapp_test.py", "--url", "http://127.0.0.1:\(daemon.port)/",
                         "--clip", clip, "--long-source", longVideo, "--work", root + "/work", "--token", Self.token]
        if ProcessInfo.processInfo.environment["SAMTRACK_UPDATE_SCREENSHOTS"] == "1" {
            arguments += ["--screenshots", Self.repository + "/docs"]
        }
        let started = Date()
        // The first run creates .venv-browser (pip install from PyPI), hence the long limit.
        let (status, output) = try runChild("/usr/bin/python3", arguments, timeout: 1200)
        print(output)
        print(String(format: "browser test: %.1f s", Date().timeIntervalSince(started)))
        if status == 2, !ci, output.contains("cannot set up") {
            throw XCTSkip("the browser test's virtualenv cannot be set up (no PyPI?):\n\(output)")
        }
        XCTAssertEqual(status, 0, "webapp_test.py failed:\n\(output)\n--- samtrackd stderr ---\n\(daemon.stderr.suffix(4000))")
        XCTAssertTrue(output.contains("all browser checks passed"), output)
    }

    /// Runs a program with its stdout and stderr in one text, killing it after `timeout` seconds.
    private func runChild(_ executable: String, _ arguments: [String], timeout: Double) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let log = NSTemporaryDirectory() + "webapp-test-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return (-1, "timed out after \(timeout) s\n" + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
