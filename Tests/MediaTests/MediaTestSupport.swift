// Helpers for the Media tests: running the ffmpeg / ffprobe CLIs and temporary folders.

import Foundation
import XCTest

/// Runs command-line tools the tests compare against.
enum CLI {
    /// Absolute path of `name` on PATH, or nil.
    static func which(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for dir in paths {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Skips the calling test when `tool` is not installed.
    static func require(_ tool: String) throws -> String {
        guard let path = which(tool) else { throw XCTSkip("\(tool) is not installed") }
        return path
    }

    /// Runs `tool arguments` and returns its standard output; throws when it exits non-zero.
    /// `timeout` bounds the run time (the process is terminated after it).
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try require(tool))
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes concurrently so a chatty tool cannot block on a full pipe.
        let collected = Collector()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.set(stdout: data)
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            collected.set(stderr: data)
            group.leave()
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            group.wait()
            throw NSError(domain: "CLI", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(tool) timed out"])
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: collected.stderr.suffix(2000), as: UTF8.self)
            throw NSError(domain: "CLI", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "\(tool) \(arguments.joined(separator: " ")) failed: \(message)"])
        }
        return collected.stdout
    }

    /// Runs ffmpeg quietly, overwriting outputs.
    @discardableResult
    static func ffmpeg(_ arguments: [String], timeout: TimeInterval = 60) throws -> Data {
        try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + arguments, timeout: timeout)
    }

    /// Runs ffprobe and returns its output as text.
    static func ffprobe(_ arguments: [String]) throws -> String {
        String(decoding: try run("ffprobe", ["-v", "error"] + arguments), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var stdout = Data()
        private(set) var stderr = Data()
        func set(stdout data: Data) { lock.lock(); stdout = data; lock.unlock() }
        func set(stderr data: Data) { lock.lock(); stderr = data; lock.unlock() }
    }
}

/// A temporary directory removed when the test ends.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init(_ label: String = "media") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("samtrack-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Largest absolute difference between two byte arrays of equal length, and how many differ.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (maximum: Int, count: Int) {
    precondition(a.count == b.count, "lengths \(a.count) and \(b.count) differ")
    var maximum = 0, count = 0
    for i in 0..<a.count where a[i] != b[i] {
        maximum = max(maximum, abs(Int(a[i]) - Int(b[i])))
        count += 1
    }
    return (maximum, count)
}
