// Helpers for the Export tests: temporary folders, synthetic masks (seeded by TestSupport's
// SeededGenerator), the naive RLE encoder used as the oracle of the fast one, and running Python.

import Foundation
import XCTest
@testable import Export
import TestSupport

/// A fresh folder under the system's temporary directory, removed on deinit.
final class TemporaryDirectory {
    let path: String

    init(_ label: String) throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("samtrack-export-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Names in the folder (sorted), hidden ones included.
    func contents(_ sub: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: sub.isEmpty ? path : file(sub)).sorted()
    }

    deinit {
        // Restore permissions a test may have removed, then delete.
        chmod(path, 0o755)
        try? FileManager.default.removeItem(atPath: path)
    }
}

enum SyntheticMasks {
    /// A union of `blobs` random ellipses (integer arithmetic: the same pixels on every platform).
    static func blobs(width: Int, height: Int, blobs: Int, seed: UInt64) -> BinaryMask {
        var rng = SeededGenerator(seed: seed)
        var mask = BinaryMask(width: width, height: height)
        for _ in 0..<blobs {
            let cx = Int.random(in: 0..<width, using: &rng), cy = Int.random(in: 0..<height, using: &rng)
            let rx = Int.random(in: 1...max(1, width / 4), using: &rng), ry = Int.random(in: 1...max(1, height / 4), using: &rng)
            for y in max(0, cy - ry)...min(height - 1, cy + ry) {
                for x in max(0, cx - rx)...min(width - 1, cx + rx) {
                    let dx = x - cx, dy = y - cy
                    if dx * dx * ry * ry + dy * dy * rx * rx <= rx * rx * ry * ry { mask[x, y] = true }
                }
            }
        }
        return mask
    }

    /// Independent random pixels with probability `density` (many short runs).
    static func noise(width: Int, height: Int, density: Double, seed: UInt64) -> BinaryMask {
        var rng = SeededGenerator(seed: seed)
        return BinaryMask(width: width, height: height) { _, _ in Double.random(in: 0..<1, using: &rng) < density }
    }
}

/// The oracle: maskApi.c's rleEncode written as plainly as possible (column-major walk).
func naiveRunLengths(_ mask: BinaryMask) -> [UInt32] {
    var counts: [UInt32] = []
    var previous = false
    var run: UInt32 = 0
    for x in 0..<mask.width {
        for y in 0..<mask.height {
            let value = mask[x, y]
            if value != previous {
                counts.append(run)
                run = 0
                previous = value
            }
            run += 1
        }
    }
    counts.append(run)
    return counts
}

/// The naive tight box: scan every pixel.
func naiveBoundingBox(_ mask: BinaryMask) -> BoundingBox {
    var minX = Int.max, minY = Int.max, maxX = -1, maxY = -1
    for y in 0..<mask.height {
        for x in 0..<mask.width where mask[x, y] {
            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
        }
    }
    return maxX < 0 ? .empty : BoundingBox(x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1)
}

/// Absolute path of `name` on PATH, or nil.
func executableOnPath(_ name: String) -> String? {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for dir in paths {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Runs `executable arguments`, returning (exit status, stdout + stderr). Both pipes are drained
/// concurrently; the process is killed after `timeout` seconds (status -1).
func runProcess(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let output = OutputBox()
    let reader = Thread {
        output.data = pipe.fileHandleForReading.readDataToEndOfFile()
        output.done.signal()
    }
    reader.start()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(50_000) }
    var timedOut = false
    if process.isRunning {
        process.terminate()
        timedOut = true
    }
    process.waitUntilExit()
    output.done.wait()
    let text = String(decoding: output.data, as: UTF8.self)
    return (timedOut ? -1 : process.terminationStatus, text)
}

private final class OutputBox: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
