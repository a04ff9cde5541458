// Safetensors structure (issue 23, finding 3): the format has no checksum, so damaged tensor
// values cannot be detected, but every structural damage must be: each digit of every shape and
// data offset changed to each other digit, each byte of the header length, a dtype renamed to
// another valid one, every cut of the file and bytes appended after its end. Each gives a
// CheckpointError naming the file (and a tensor, where the damage is in a tensor's entry).
// Before the tiling check, bytes appended after the last tensor loaded silently.
//
// Not checkable, so not tested: the shape and dtype of an empty tensor ([0, 5] and [0, 6], F32
// and F16 all hold no data) and the names and string metadata (a renamed tensor is caught by WeightStore's strict
// binding: missing and unused keys).

import Foundation
import XCTest
@testable import Checkpoint

final class SafeTensorsStructureTests: XCTestCase {
    private static let fixtures = ["official.safetensors", "halfprecision.safetensors"]

    private func expectError(_ bytes: [UInt8], _ what: String, namingOneOf keys: [String]? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafeTensorsReader.read(file: MappedFile(name: "damaged.safetensors", bytes: bytes))
            XCTFail("\(what): loaded", file: file, line: line)
        } catch let error as CheckpointError {
            XCTAssertTrue(error.description.contains("damaged.safetensors"), "\(what): \(error)", file: file, line: line)
            // A leading zero ("0288") is invalid JSON: an error, but not about one tensor.
            if let keys, !error.description.contains("not valid JSON") {
                XCTAssertTrue(keys.contains { error.description.contains("'\($0)'") }, "\(what): \(error)", file: file, line: line)
            }
        } catch {
            XCTFail("\(what): not a CheckpointError: \(error)", file: file, line: line)
        }
    }

    /// The header text and, per tensor entry, its key and the byte ranges (in the file) of the
    /// digits of its shape and data offsets; empty tensors' shapes are left out.
    private func layout(_ bytes: [UInt8]) throws -> (headerEnd: Int, entries: [(key: String, shapeDigits: [Int], offsetDigits: [Int], dtype: Range<Int>, isEmpty: Bool)]) {
        let length = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
        let text = Array(bytes[0..<(8 + length)])
        func find(_ needle: String, from: Int) -> Int? {
            let pattern = Array(needle.utf8)
            guard text.count >= pattern.count else { return nil }
            for start in from...(text.count - pattern.count) where Array(text[start..<(start + pattern.count)]) == pattern { return start }
            return nil
        }
        func digits(after marker: String, from start: Int) -> (Int, [Int])? {
            guard let at = find(marker, from: start) else { return nil }
            var i = at + marker.utf8.count, found: [Int] = []
            while text[i] != UInt8(ascii: "]") {
                if (48...57).contains(text[i]) { found.append(i) }
                i += 1
            }
            return (i, found)
        }
        var entries: [(String, [Int], [Int], Range<Int>, Bool)] = []
        for (key, value) in header where key != "__metadata__" {
            let entry = try XCTUnwrap(value as? [String: Any])
            let shape = try XCTUnwrap(entry["shape"] as? [Int])
            let start = try XCTUnwrap(find("\"\(key)\":{", from: 8))
            let dtypeAt = try XCTUnwrap(find("\"dtype\":\"", from: start)) + 9
            let dtypeEnd = try XCTUnwrap(find("\"", from: dtypeAt))
            let (_, shapeDigits) = try XCTUnwrap(digits(after: "\"shape\":[", from: start))
            let (_, offsetDigits) = try XCTUnwrap(digits(after: "\"data_offsets\":[", from: start))
            entries.append((key, shape.contains(0) ? [] : shapeDigits, offsetDigits, dtypeAt..<dtypeEnd, shape.contains(0)))
        }
        return (8 + length, entries)
    }

    func testEveryStructuralDamageIsAnError() throws {
        var cases = 0
        for name in Self.fixtures {
            let original = try fileBytes(checkpointFixture(name))
            XCTAssertNoThrow(try SafeTensorsReader.read(file: MappedFile(name: name, bytes: original)))
            let (headerEnd, entries) = try layout(original)
            let keys = entries.map(\.key)
            for entry in entries {
                for position in entry.shapeDigits + entry.offsetDigits {
                    for digit in UInt8(ascii: "0")...UInt8(ascii: "9") where digit != original[position] {
                        var bytes = original
                        bytes[position] = digit
                        let isShape = entry.shapeDigits.contains(position)
                        expectError(bytes, "\(name): '\(entry.key)' \(isShape ? "shape" : "offset") digit at \(position) -> \(Character(Unicode.Scalar(digit)))",
                                    namingOneOf: isShape ? [entry.key] : keys)
                        cases += 1
                    }
                }
                // The dtype renamed to another one of a different size (an empty tensor's dtype
                // sizes nothing, so it cannot be checked).
                if entry.isEmpty { continue }
                let dtype = String(decoding: original[entry.dtype], as: UTF8.self)
                let others = ["F32": ["F16", "I32"], "F16": ["F32", "I16"], "BF16": ["BOOL"]][dtype] ?? []
                for other in others {
                    var bytes = original
                    bytes.replaceSubrange(entry.dtype, with: Array(other.utf8))
                    expectError(bytes, "\(name): '\(entry.key)' dtype \(dtype) -> \(other)", namingOneOf: [entry.key])
                    cases += 1
                }
            }
            // Every byte of the header length, changed.
            for position in 0..<8 {
                for delta: UInt8 in [1, 0x80, 0xFF] {
                    var bytes = original
                    bytes[position] &+= delta
                    expectError(bytes, "\(name): header length byte \(position) + \(delta)")
                    cases += 1
                }
            }
            // Every cut, and bytes appended after the last tensor.
            for length in 0..<original.count {
                expectError(Array(original.prefix(length)), "\(name): cut to \(length) of \(original.count) bytes")
                cases += 1
            }
            for extra in 1...8 {
                expectError(original + [UInt8](repeating: 0, count: extra), "\(name): \(extra) bytes appended")
                cases += 1
            }
            XCTAssertGreaterThan(headerEnd, 8)
        }
        XCTAssertGreaterThan(cases, 1000)
    }
}
