// .npy files: the exact header (NumPy 1.0 layout, 64-byte aligned), bit-exact round trips
// including NaN payloads, infinities, -0 and subnormals, and rejection of other dtypes.

import XCTest
import FileIO
import Tensor
@testable import Export
import TestSupport

final class NPYFileTests: XCTestCase {
    func testHeaderLayout() {
        let header = NPYFile.header(shape: [256, 256])
        XCTAssertEqual(header.count % 64, 0)
        XCTAssertEqual(Array(header[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        XCTAssertEqual(Int(header[8]) | Int(header[9]) << 8, header.count - 10)
        let text = String(decoding: header[10...], as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (256, 256), }"), text)
        XCTAssertTrue(text.hasSuffix(" \n"))
        XCTAssertTrue(String(decoding: NPYFile.header(shape: [5])[10...], as: UTF8.self).contains("'shape': (5,)"))
        XCTAssertTrue(String(decoding: NPYFile.header(shape: [])[10...], as: UTF8.self).contains("'shape': ()"))
    }

    func testRoundTripIsBitExact() throws {
        let dir = try TemporaryDirectory("npy")
        var rng = SeededGenerator(seed: 3)
        var values = (0..<(37 * 53)).map { _ in Float.random(in: -40...40, using: &rng) }
        values[0] = .nan
        values[1] = Float(bitPattern: 0x7FC0_1234)  // NaN with a payload
        values[2] = -.infinity
        values[3] = -0.0
        values[4] = .leastNonzeroMagnitude
        values[5] = .greatestFiniteMagnitude
        let logits = Tensor(shape: [1, 1, 37, 53], values: values)
        let writer = try NPYWriter(directory: dir.file("logits"))
        try writer.write(frame: 12, id: 3, logits: logits)
        XCTAssertEqual(try dir.contents("logits"), ["00012_3.npy"])
        let back = try NPYFile.read(dir.file("logits/00012_3.npy"))
        XCTAssertEqual(back.shape, [37, 53])
        XCTAssertEqual(back.scalars.map(\.bitPattern), values.map(\.bitPattern))
        // Other ranks keep their shape through NPYFile directly.
        try NPYFile.write(Tensor(shape: [2, 3, 4], values: (0..<24).map(Float.init)), to: dir.file("t.npy"))
        let cube = try NPYFile.read(dir.file("t.npy"))
        XCTAssertEqual(cube.shape, [2, 3, 4])
        XCTAssertEqual(cube.scalars, (0..<24).map(Float.init))
    }

    func testRejectsOtherFiles() throws {
        let dir = try TemporaryDirectory("npy-bad")
        var header = NPYFile.header(shape: [2])
        let text = String(decoding: header, as: UTF8.self).replacingOccurrences(of: "<f4", with: "<f8")
        header = Array(text.utf8)
        try Data(header + [UInt8](repeating: 0, count: 16)).write(to: URL(fileURLWithPath: dir.file("f8.npy")))
        XCTAssertThrowsError(try NPYFile.read(dir.file("f8.npy"))) { error in
            guard case .malformedFile? = error as? ExportError else { return XCTFail("\(error)") }
        }
        try Data(NPYFile.header(shape: [4]) + [0, 0, 0]).write(to: URL(fileURLWithPath: dir.file("short.npy")))
        XCTAssertThrowsError(try NPYFile.read(dir.file("short.npy")))
        XCTAssertThrowsError(try NPYFile.read(dir.file("missing.npy"))) { error in
            guard case let .readFailed(path, reason, _)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, dir.file("missing.npy"))
            XCTAssertTrue(reason.contains("No such file"), reason)
        }
        XCTAssertThrowsError(try NPYWriter(directory: dir.path).write(frame: 0, id: 1, logits: Tensor(zeros: [2, 2, 2])))
    }
}
