// Tracker state integrity (issue 23, finding 2): a saved state carries a CRC-32 of every byte;
// flipped bytes anywhere (header or data) and truncation make restore throw `.damaged` naming
// the file, a state without a checksum is refused as `.unverifiable`, and an intact state
// round-trips exactly. Before the checksum, 5 flipped data bytes restored silently.

import Foundation
import XCTest
import Checkpoint
import SAM2
import Tensor
import TestSupport
import Tracker

final class TrackerStateIntegrityTests: XCTestCase {
    static let model: SAM2Model = TrackerStateTests.model

    /// A state saved after 5 frames with two objects, as bytes, and the tracker that saved it.
    private func savedState() throws -> (bytes: [UInt8], tracker: VideoTracker) {
        let tracker = VideoTracker(model: Self.model, sourceHeight: 540, sourceWidth: 960,
                                   options: TrackerOptions(fillHoleArea: 8, frameCount: 20))
        let raw = TrackerStateTests.raw
        for t in 0..<5 {
            let prompts: [Int: ObjectPrompt] = t == 0 ? [
                1: .points(ImagePrompt(box: (300, 150, 520, 500))),
                2: .points(ImagePrompt(points: [(x: 700, y: 300, label: 1)])),
            ] : [:]
            _ = try tracker.step(frame: TrackingFixture.frame(raw, index: t, size: 128), prompts: prompts)
        }
        let path = try scratchPath("intact")
        try tracker.saveState(to: path)
        return (Array(try Data(contentsOf: URL(fileURLWithPath: path))), tracker)
    }

    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-state-integrity-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func scratchPath(_ name: String) throws -> String {
        scratch.appendingPathComponent("\(name).safetensors").path
    }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try scratchPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Restores `path`, expecting `.damaged` naming it; returns the cause.
    @discardableResult
    private func expectDamaged(_ path: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
        do {
            _ = try VideoTracker.restore(from: path, model: Self.model)
            XCTFail("\(what): restored without an error", file: file, line: line)
        } catch let TrackerStateError.damaged(errorPath, cause) {
            XCTAssertEqual(errorPath, path, what, file: file, line: line)
            XCTAssertTrue("\(TrackerStateError.damaged(path: errorPath, cause: cause))".contains(path), file: file, line: line)
            return cause
        } catch {
            XCTFail("\(what): expected TrackerStateError.damaged, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testIntactStateIsVerifiedAndRoundTripsExactly() throws {
        let (bytes, tracker) = try savedState()
        let path = try write(bytes, "copy")
        let contents = try SafeTensorsReader.read(file: MappedFile(path: path))
        XCTAssertTrue(contents.isChecksumVerified)
        XCTAssertNil(contents.metadata[SafeTensorsChecksum.metadataKey], "the checksum is not part of the metadata handed out")
        let restored = try VideoTracker.restore(from: path, model: Self.model)
        XCTAssertEqual(restored.frameIndex, tracker.frameIndex)
        XCTAssertEqual(restored.objectIDs, tracker.objectIDs)
        // Saving the restored tracker gives the same tensors, bit for bit, and the same state
        // document: every memory and pointer came back. (The document's key order may differ.)
        let again = try scratchPath("again")
        try restored.saveState(to: again)
        let first = contents, second = try SafeTensorsReader.read(file: MappedFile(path: again))
        XCTAssertEqual(second.store.orderedKeys, first.store.orderedKeys)
        for key in first.store.orderedKeys {
            let a = try XCTUnwrap(first.store.tensors[key]), b = try XCTUnwrap(second.store.tensors[key])
            XCTAssertEqual(a.shape, b.shape, key)
            XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern), key)
        }
        func document(_ contents: SafeTensorsContents) throws -> NSDictionary {
            let json = try XCTUnwrap(contents.metadata["samtrack_state"])
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary)
        }
        XCTAssertEqual(try document(second), try document(first))
    }

    func testFiveFlippedBytesAnywhereAreDetected() throws {
        let (bytes, _) = try savedState()
        let headerEnd = 8 + Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        XCTAssertLessThan(headerEnd, bytes.count)
        var generator = SeededGenerator(seed: 23)
        let regions: [(String, Range<Int>)] = [
            ("anywhere", 0..<bytes.count), ("header", 0..<headerEnd), ("data", headerEnd..<bytes.count),
        ]
        for (region, range) in regions {
            for trial in 0..<8 {
                var damaged = bytes
                var positions = Set<Int>()
                while positions.count < 5 { positions.insert(range.lowerBound + Int(generator.next() % UInt64(range.count))) }
                for position in positions {
                    damaged[position] ^= UInt8(1 + generator.next() % 255)
                }
                let path = try write(damaged, "flipped-\(region)-\(trial)")
                expectDamaged(path, "5 bytes flipped in the \(region) at \(positions.sorted())")
            }
        }
        // Each byte of the header length and the "{" after it.
        for position in 0..<9 {
            var damaged = bytes
            damaged[position] ^= 0x40
            expectDamaged(try write(damaged, "start-\(position)"), "byte \(position) flipped")
        }
        // One flipped bit in a tensor's data, the smallest damage: the checksum names it.
        var oneBit = bytes
        oneBit[bytes.count - 3] ^= 0x01
        let cause = expectDamaged(try write(oneBit, "one-bit"), "one bit flipped in the data")
        guard case .fileChecksumMismatch? = cause else { return XCTFail("expected a checksum mismatch, got \(String(describing: cause))") }
    }

    func testTruncatedStatesAreDetected() throws {
        let (bytes, _) = try savedState()
        let headerEnd = 8 + Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        for length in [0, 1, 8, 9, headerEnd / 2, headerEnd - 1, headerEnd, headerEnd + 1, (headerEnd + bytes.count) / 2,
                       bytes.count - 4, bytes.count - 1] {
            let path = try write(Array(bytes.prefix(length)), "cut-\(length)")
            expectDamaged(path, "cut to \(length) of \(bytes.count) bytes")
        }
        // Bytes appended after the end are damage too.
        expectDamaged(try write(bytes + [0, 0, 0, 0], "extended"), "4 bytes appended")
    }

    func testStateWithoutChecksumIsRefusedAsUnverifiable() throws {
        let (bytes, _) = try savedState()
        // The same file as an older samtrack wrote it: no "samtrack.crc32" in the metadata.
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        var metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertNotNil(metadata.removeValue(forKey: SafeTensorsChecksum.metadataKey))
        header["__metadata__"] = metadata
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var old = [UInt8]()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { old.append(contentsOf: $0) }
        old += json
        old += bytes[(8 + headerLength)...]
        let path = try write(old, "unchecksummed")
        XCTAssertFalse(try SafeTensorsReader.read(file: MappedFile(path: path)).isChecksumVerified)
        XCTAssertThrowsError(try VideoTracker.restore(from: path, model: Self.model)) { error in
            XCTAssertEqual(error as? TrackerStateError, .unverifiable(path: path))
            XCTAssertTrue("\(error)".contains(path))
        }
    }
}
