// End-to-end test support: finding the built `samtrack` binary, running it (and the ffmpeg /
// ffprobe / python3 CLIs) as child processes with a time limit, temporary directories and small
// file helpers. Every child runs with bounded time; a child still running at its limit is killed
// and the test fails saying so.

import Foundation
import XCTest
import TestSupport

/// The `samtrack` executable the tests run.
///
/// `swift build` / `swift test` put it next to the test runner: on Linux the runner is
/// `<products>/samtrackPackageTests.xctest`, an executable (also with `--scratch-path DIR`, where
/// products are `DIR/<triple>/debug`); on macOS it is the `.xctest` bundle in `<products>`.
/// `SAMTRACK_BINARY=/path/to/samtrack` overrides the search.
enum Samtrack {
    static let binary: String? = {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["SAMTRACK_BINARY"], !explicit.isEmpty {
            return explicit
        }
        var directories: [URL] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let first = CommandLine.arguments.first, first.contains("/") {
            directories.append(URL(fileURLWithPath: first).standardizedFileURL.deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        directories.append(Bundle.main.bundleURL)
        directories.append(Fixtures.repositoryRoot.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent("samtrack").path
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               fm.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }()

    /// The binary, or a failure explaining how to build it.
    static func path(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let binary else {
            XCTFail("the samtrack executable was not found next to the test runner; run `swift build` first "
                    + "or set SAMTRACK_BINARY", file: file, line: line)
            throw XCTSkip("samtrack binary missing")
        }
        return binary
    }

    /// Runs `samtrack ARGS` to completion (at most `timeout` seconds).
    static func run(_ arguments: [String], timeout: TimeInterval = 120, environment: [String: String] = [:],
                    directory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try ChildProcess.run(path(file: file, line: line), arguments, timeout: timeout, environment: environment,
                             directory: directory, file: file, line: line)
    }

    /// The micro model (random weights, real architecture; `micro.json` beside it is its config).
    static var microModel: String { Fixtures.path("models/micro.pt") }
}

/// What a finished child process did.
struct ProcessResult {
    var status: Int32
    /// True when the process ended by a signal (then `status` is the signal number).
    var signalled: Bool
    var stdout: String
    var stderr: String
    var seconds: Double

    /// Non-empty stderr lines.
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }

    var summary: String {
        "\(signalled ? "signal" : "exit status") \(status) after \(String(format: "%.1f", seconds)) s\n"
            + "stderr:\n\(stderr.suffix(4000))\nstdout:\n\(stdout.suffix(2000))"
    }
}

/// A child process whose output goes to files (so nothing blocks on a full pipe), with a time limit.
final class ChildProcess {
    let process = Process()
    let name: String
    private let stdoutURL: URL
    private let stderrURL: URL
    private let started = Date()
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `executable`; `standardInput` is a file to read from (default: /dev/null).
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
         standardInput: String? = nil) throws {
        name = URL(fileURLWithPath: executable).lastPathComponent
        let scratch = FileManager.default.temporaryDirectory
        stdoutURL = scratch.appendingPathComponent("samtrackTests-\(UUID().uuidString).out")
        stderrURL = scratch.appendingPathComponent("samtrackTests-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        // A machine whose environment forces an older OpenBLAS kernel set (OPENBLAS_CORETYPE=Haswell
        // on an AVX-512 CPU) makes samtrack print a start-up warning, which would be one more stderr
        // line in every error-message check; the warning has its own tests (OpenBLASCoreTypeTests).
        env["OPENBLAS_CORETYPE"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let standardInput {
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: standardInput))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    var isRunning: Bool { process.isRunning }

    /// Sends `signal` to the process (SIGINT is what Ctrl-C sends).
    func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits up to `timeout` seconds; true when the process exited.
    func wait(timeout: TimeInterval) -> Bool {
        if exited.wait(timeout: .now() + timeout) == .timedOut { return false }
        process.waitUntilExit()
        return true
    }

    /// Stops a process that is still running: SIGTERM, then SIGKILL after 3 s.
    func terminate() {
        guard process.isRunning else { return }
        send(SIGTERM)
        if !wait(timeout: 3) { send(SIGKILL); _ = wait(timeout: 10) }
    }

    /// Standard error written so far.
    var stderrSoFar: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// The result of an exited process.
    var result: ProcessResult {
        ProcessResult(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
            stderr: stderrSoFar, seconds: Date().timeIntervalSince(started))
    }

    /// Runs to completion; a process still running after `timeout` seconds is killed and the test
    /// fails (the partial result is returned so that the caller's assertions still say more).
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval, environment: [String: String] = [:],
                    directory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let child = try ChildProcess(executable, arguments, environment: environment, directory: directory)
        if !child.wait(timeout: timeout) {
            child.terminate()
            let result = child.result
            XCTFail("\(child.name) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s; "
                    + "killed.\n\(result.summary)", file: file, line: line)
            return result
        }
        return child.result
    }
}

/// The absolute path of `name` on PATH, or nil.
func executableOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A required command-line tool (ffmpeg, ffprobe): missing ones fail the test with the remedy.
func requiredTool(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    guard let path = executableOnPath(name) else {
        XCTFail("\(name) is not installed; run Tools/install-deps.sh", file: file, line: line)
        throw XCTSkip("\(name) missing")
    }
    return path
}

/// A directory removed when the value is released (kept when SAMTRACK_KEEP_TEST_OUTPUT=1).
final class TemporaryDirectory: Sendable {
    let url: URL
    var path: String { url.path }

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-e2e-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        if ProcessInfo.processInfo.environment["SAMTRACK_KEEP_TEST_OUTPUT"] == "1" {
            print("kept \(path)")
        } else {
            try? FileManager.default.removeItem(at: url)
        }
    }

    /// Path of `relative` inside the directory.
    func file(_ relative: String) -> String { url.appendingPathComponent(relative).path }
}

/// The video stream of a media file as ffprobe reports it.
struct ProbedVideo {
    var width: Int
    var height: Int
    /// `r_frame_rate`, e.g. "30000/1001".
    var frameRate: String
    /// Frames decoded by ffprobe (`-count_frames`), when asked for.
    var frames: Int?
    var codec: String

    static func probe(_ path: String, countFrames: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws -> ProbedVideo {
        let ffprobe = try requiredTool("ffprobe", file: file, line: line)
        var arguments = ["-v", "error", "-select_streams", "v:0"]
        if countFrames { arguments.append("-count_frames") }
        arguments += ["-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "json", path]
        let result = try ChildProcess.run(ffprobe, arguments, timeout: 60, file: file, line: line)
        guard result.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let stream = (json["streams"] as? [[String: Any]])?.first,
              let width = stream["width"] as? Int, let height = stream["height"] as? Int,
              let rate = stream["r_frame_rate"] as? String else {
            XCTFail("ffprobe cannot read \(path):\n\(result.summary)", file: file, line: line)
            throw XCTSkip("ffprobe failed")
        }
        return ProbedVideo(width: width, height: height, frameRate: rate,
                           frames: (stream["nb_read_frames"] as? String).flatMap { Int($0) },
                           codec: stream["codec_name"] as? String ?? "")
    }
}

/// Reads `DIR/masks.jsonl`: one parsed JSON object per line.
func readMasksJSONL(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "\(path) does not end with a newline", file: file, line: line)
    return try text.split(separator: "\n").map { row in
        guard let object = try JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt)
        }
        return object
    }
}

/// Object ids of one masks.jsonl record.
func objectIDs(_ record: [String: Any]) -> [Int] {
    ((record["objects"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
}

/// Width and height from a PNG's IHDR chunk.
func pngSize(_ path: String) throws -> (width: Int, height: Int)? {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    guard data.count >= 24, Array(data.prefix(8)) == signature, String(decoding: data[12..<16], as: UTF8.self) == "IHDR" else {
        return nil
    }
    func be32(_ at: Int) -> Int { data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
    return (be32(16), be32(20))
}

/// Deterministic pseudo-random bytes (xorshift), for corrupt-file fixtures.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> Data {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return Data(bytes)
}

/// Makes a mask PNG (white rectangle on black, the video's size) with the ffmpeg CLI.
func makeMaskPNG(_ path: String, width: Int, height: Int, rect: (x: Int, y: Int, w: Int, h: Int),
                 file: StaticString = #filePath, line: UInt = #line) throws {
    let ffmpeg = try requiredTool("ffmpeg", file: file, line: line)
    let result = try ChildProcess.run(ffmpeg, [
        "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:s=\(width)x\(height)",
        "-vf", "drawbox=x=\(rect.x):y=\(rect.y):w=\(rect.w):h=\(rect.h):color=white:t=fill",
        "-frames:v", "1", path,
    ], timeout: 60, file: file, line: line)
    XCTAssertEqual(result.status, 0, "ffmpeg could not make \(path):\n\(result.summary)", file: file, line: line)
}
