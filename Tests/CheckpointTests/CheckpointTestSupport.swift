// Helpers shared by the checkpoint tests: fixture paths, exact tensor comparison, capturing
// thrown CheckpointErrors, and scratch files.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
import Tensor
import Checkpoint
import TestSupport

/// Path of `Fixtures/checkpoint/<name>`.
func checkpointFixture(_ name: String) -> String {
    Fixtures.path("checkpoint/\(name)")
}

/// The reference tensors torch computed for `<stem>.pt` (`t.float().contiguous()`), in file order.
func expectedTensors(_ stem: String) throws -> WeightStore {
    try Fixtures.reference("checkpoint/\(stem).expected.safetensors").store
}

/// Asserts `actual` equals `expected` bit for bit (same shape, same Float bit patterns; NaNs
/// included). Exactness is the contract: float32 is copied, float16/bfloat16 widen exactly.
func assertBitwiseEqual(_ actual: Tensor, _ expected: Tensor, _ name: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(name): shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
        return
    }
    let a = actual.scalars, e = expected.scalars
    for index in 0..<e.count where a[index].bitPattern != e[index].bitPattern {
        XCTFail("\(name): element \(index) is \(a[index]) (0x\(String(a[index].bitPattern, radix: 16))), expected \(e[index]) (0x\(String(e[index].bitPattern, radix: 16)))",
                file: file, line: line)
        return
    }
}

/// Asserts that `store` holds exactly the keys of `expected`, in the same order, with
/// bitwise-equal values.
func assertMatchesExpected(_ store: WeightStore, _ expected: WeightStore,
                           file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(store.orderedKeys, expected.orderedKeys, "keys or their order differ", file: file, line: line)
    for key in expected.orderedKeys {
        guard let actual = store.tensors[key], let reference = expected.tensors[key] else {
            XCTFail("missing tensor '\(key)'", file: file, line: line)
            continue
        }
        assertBitwiseEqual(actual, reference, key, file: file, line: line)
    }
}

/// Runs `body`, expecting a `CheckpointError` whose description names `path`; returns it.
@discardableResult
func expectCheckpointError(naming path: String, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () throws -> Void) -> CheckpointError? {
    do {
        try body()
        XCTFail("expected a CheckpointError for \(path), but nothing was thrown", file: file, line: line)
        return nil
    } catch let error as CheckpointError {
        XCTAssertEqual(error.path, path, file: file, line: line)
        XCTAssertTrue(error.description.contains(path), "description does not name the file: \(error)",
                      file: file, line: line)
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
        return nil
    }
}

/// A fresh temporary directory, removed at the end of the test case.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("samtrack-checkpoint-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to `name` in this directory (replacing it) and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = url.appendingPathComponent(name).path
        guard let stream = fopen(path, "wb") else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { fclose(stream) }
        guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, stream) == bytes.count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The bytes of a file.
func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
