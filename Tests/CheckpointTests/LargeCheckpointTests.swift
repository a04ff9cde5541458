// LargeCheckpointTests: opt-in check on a real-size checkpoint (e.g. the official
// sam2.1_hiera_large.pt, ~900 MB), which is not committed:
//
//   SAMTRACK_LARGE_CHECKPOINT=/path/to/sam2.1_hiera_large.pt \
//     swift test --filter LargeCheckpointTests
//
// Opening must not read the tensor data: every contiguous float32 tensor borrows the mapping,
// and the resident memory grows by far less than the file size.

import Foundation
import XCTest
import Tensor
import Checkpoint
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class LargeCheckpointTests: XCTestCase {
    /// Current resident set size in bytes (Linux: /proc/self/statm; elsewhere 0).
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testLargeCheckpointOpensWithoutReadingTensorData() throws {
        guard let path = ProcessInfo.processInfo.environment["SAMTRACK_LARGE_CHECKPOINT"] else {
            throw XCTSkip("set SAMTRACK_LARGE_CHECKPOINT to a large .pt file to run this check")
        }
        let fileSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let before = residentBytes()
        let start = Date()
        let store = try CheckpointLoader.load(path: path)
        let seconds = Date().timeIntervalSince(start)
        let grown = residentBytes() - before
        print("loaded \(store.orderedKeys.count) tensors, \(store.parameterCount) parameters from \(fileSize) bytes in \(String(format: "%.3f", seconds)) s; resident memory grew by \(grown / 1_048_576) MiB")
        let copied = store.orderedKeys.filter { store.tensors[$0]?.isBorrowingFileMemory == false && store.tensors[$0]?.count != 0 }
        print("tensors copied instead of borrowed: \(copied.count)\(copied.isEmpty ? "" : " (first: \(copied[0]))")")
        // Official checkpoints are float32 and 64-byte aligned: nothing should be copied.
        XCTAssertTrue(copied.isEmpty, "copied: \(copied.prefix(5))")
        XCTAssertLessThan(grown, max(fileSize / 10, 64 << 20), "opening touched the tensor data")
    }
}
