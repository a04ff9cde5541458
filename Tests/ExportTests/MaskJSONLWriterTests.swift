// masks.jsonl: the exact line text (snapshot), Python-compatible number layout, key order, the
// partial-file protocol (nothing at the final name before finish), frame order, and resuming after
// a simulated crash that left a cut-off last line.

import XCTest
import FileIO
@testable import Export

final class MaskJSONLWriterTests: XCTestCase {
    private func object(_ id: Int, score: Float, rows: [[UInt8]]) -> ObjectMask {
        ObjectMask(id: id, score: score, mask: BinaryMask(width: rows[0].count, height: rows.count, pixels: rows.flatMap { $0 }))
    }

    /// Snapshot: a change to this text must be deliberate (DESIGN §6 key order and layout).
    func testLineSnapshot() throws {
        let record = FrameRecord(frame: 0, pts: 0, objects: [
            MaskRecord(object(1, score: 3.2, rows: [[0, 1, 1], [1, 0, 1]])),
            MaskRecord(object(2, score: -0.5, rows: [[0, 0, 0], [0, 0, 0]])),
        ])
        XCTAssertEqual(record.jsonLine,
                       #"{"frame": 0, "pts": 0.0, "objects": [{"id": 1, "score": 3.2, "area": 4, "bbox": [0, 0, 3, 2], "#
                       + #""rle": {"size": [2, 3], "counts": "1210"}}, {"id": 2, "score": -0.5, "area": 0, "bbox": [0, 0, 0, 0], "#
                       + #""rle": {"size": [2, 3], "counts": "6"}}]}"#)
        XCTAssertEqual(FrameRecord(frame: 7, pts: nil, objects: []).jsonLine, #"{"frame": 7, "pts": null, "objects": []}"#)
        XCTAssertEqual(try FrameRecord(jsonLine: record.jsonLine), record)
    }

    /// Numbers are laid out as Python's repr (expected strings from CPython 3.11 `json.dumps`).
    func testNumbersFollowPythonRepr() {
        let doubles: [(Double, String)] = [
            (0, "0.0"), (3.2, "3.2"), (-1024, "-1024.0"), (1e-05, "1e-05"), (0.0001, "0.0001"), (1e16, "1e+16"),
            (1e15, "1000000000000000.0"), (1.5e16, "1.5e+16"), (123_456_789, "123456789.0"), (0.1, "0.1"),
            (2.5e-7, "2.5e-07"), (-0.0, "-0.0"), (16_777_216, "16777216.0"), (1e22, "1e+22"),
            (0.033366666666666664, "0.03336666666666666"), (1 / 29.97, "0.033366700033366704"),
            (3333.3666666666666, "3333.366666666667"),
        ]
        for (value, text) in doubles { XCTAssertEqual(jsonNumber(value), text, "\(value)") }
        // Floats keep their own shortest digits (json.loads("3.2") is 3.2 again).
        let floats: [(Float, String)] = [(3.2, "3.2"), (-1024, "-1024.0"), (1e10, "10000000000.0"), (0.1, "0.1"), (1e-5, "1e-05")]
        for (value, text) in floats { XCTAssertEqual(jsonNumber(value), text, "\(value)") }
        XCTAssertEqual(jsonNumber(Float.nan), "null")
        XCTAssertEqual(jsonNumber(Double.infinity), "null")
        XCTAssertEqual(jsonNumber(Double?.none), "null")
    }

    func testFinishRenamesPartialFile() throws {
        let dir = try TemporaryDirectory("jsonl")
        let out = dir.file("out")
        let writer = try MaskJSONLWriter(directory: out)
        for frame in 0..<3 {
            try writer.append(frame: frame, pts: Double(frame) / 30, objects: [object(1, score: 1, rows: [[1, 0], [0, 1]])])
        }
        // Readers of the final name see nothing before finish(); the partial file has every line.
        XCTAssertFalse(FileManager.default.fileExists(atPath: writer.path))
        let partial = try String(contentsOfFile: writer.partialPath, encoding: .utf8)
        XCTAssertEqual(partial.split(separator: "\n").count, 3)
        try writer.finish()
        XCTAssertEqual(try dir.contents("out"), ["masks.jsonl"])
        let lines = try String(contentsOfFile: writer.path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines.last, "")
        XCTAssertEqual(try lines.dropLast().map { try FrameRecord(jsonLine: String($0)).frame }, [0, 1, 2])
        XCTAssertThrowsError(try writer.append(frame: 3, pts: nil, objects: []))
    }

    func testFramesMustIncrease() throws {
        let dir = try TemporaryDirectory("jsonl-order")
        let writer = try MaskJSONLWriter(directory: dir.path)
        try writer.append(frame: 4, pts: nil, objects: [])
        XCTAssertThrowsError(try writer.append(frame: 4, pts: nil, objects: []))
        XCTAssertThrowsError(try writer.append(frame: 2, pts: nil, objects: []))
        try writer.append(frame: 9, pts: nil, objects: [])  // gaps are fine (live sources drop frames)
        XCTAssertEqual(writer.lineCount, 2)
    }

    func testResumeAfterCrashWithPartialLine() throws {
        let dir = try TemporaryDirectory("jsonl-resume")
        let masks = (0..<8).map { SyntheticMasks.blobs(width: 37, height: 53, blobs: 2, seed: UInt64($0)) }
        func frame(_ n: Int) -> [ObjectMask] { [ObjectMask(id: 1, score: Float(n), mask: masks[n])] }
        do {
            let writer = try MaskJSONLWriter(directory: dir.path)
            for n in 0..<5 { try writer.append(frame: n, pts: Double(n), objects: frame(n)) }
            // The process dies while writing frame 5: half a line reaches the file, no finish().
            let line = Array((FrameRecord(frame: 5, pts: 5, objects: MaskJSONLWriter.records(frame(5))).jsonLine).utf8)
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: writer.partialPath))
            handle.seekToEndOfFile()
            handle.write(Data(line.prefix(line.count / 2)))
            handle.closeFile()
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("masks.jsonl")))

        // The saved tracker state was at frame 4: frame 4's line is dropped too and re-tracked.
        let resumed = try MaskJSONLWriter.resume(directory: dir.path, continuingAt: 4)
        XCTAssertEqual(resumed.lastFrame, 3)
        XCTAssertEqual(resumed.lineCount, 4)
        XCTAssertGreaterThan(resumed.discardedBytes, 0)
        for n in 4..<8 { try resumed.append(frame: n, pts: Double(n), objects: frame(n)) }
        try resumed.finish()

        let text = try String(contentsOfFile: resumed.path, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"))
        let records = try text.split(separator: "\n").map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(records.map(\.frame), Array(0..<8))
        for record in records {
            XCTAssertEqual(record.objects.first?.rle.decoded(), masks[record.frame])
        }
        XCTAssertEqual(try dir.contents(), ["masks.jsonl"])
    }

    func testResumeKeepsCompleteLinesAndDropsGarbageTail() throws {
        let dir = try TemporaryDirectory("jsonl-resume-tail")
        let writer = try MaskJSONLWriter(directory: dir.path)
        for n in 0..<3 { try writer.append(frame: n, pts: nil, objects: []) }
        let partialPath = writer.partialPath
        // A power loss can leave zeros or a cut line that still ends in "\n".
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: partialPath))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"frame": 3, "pts": null, "obj"#.utf8) + Data([0x0A]))
        handle.closeFile()

        let resumed = try MaskJSONLWriter.resume(directory: dir.path, continuingAt: 100)
        XCTAssertEqual(resumed.lastFrame, 2)
        try resumed.append(frame: 3, pts: nil, objects: [])
        try resumed.finish()
        let frames = try String(contentsOfFile: resumed.path, encoding: .utf8).split(separator: "\n")
            .map { try FrameRecord(jsonLine: String($0)).frame }
        XCTAssertEqual(frames, [0, 1, 2, 3])
    }

    func testResumeErrors() throws {
        let dir = try TemporaryDirectory("jsonl-resume-errors")
        XCTAssertThrowsError(try MaskJSONLWriter.resume(directory: dir.path, continuingAt: 0)) { error in
            XCTAssertEqual(error as? ExportError, .nothingToResume(path: dir.file("masks.jsonl.partial")))
        }
        // A foreign line in the middle is not silently dropped.
        try Data("{\"frame\": 0, \"pts\": null, \"objects\": []}\nhello\n{\"frame\": 2, \"pts\": null, \"objects\": []}\n".utf8)
            .write(to: URL(fileURLWithPath: dir.file("masks.jsonl.partial")))
        XCTAssertThrowsError(try MaskJSONLWriter.resume(directory: dir.path, continuingAt: 5)) { error in
            guard case .malformedFile = error as? ExportError else { return XCTFail("\(error)") }
        }
    }

    func testUnwritableDirectoryIsReported() throws {
        let dir = try TemporaryDirectory("jsonl-missing")
        XCTAssertThrowsError(try MaskJSONLWriter(directory: dir.file("a/b"), options: .init(createDirectory: false))) { error in
            XCTAssertEqual(error as? FileError, .directoryNotFound(path: dir.file("a/b")))
        }
        // Created on request.
        let writer = try MaskJSONLWriter(directory: dir.file("a/b"))
        try writer.finish()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("a/b/masks.jsonl")))
    }
}
