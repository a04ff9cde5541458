// MaskExport without Python: the jsonl export is byte-equal to MaskJSONLWriter's file, the COCO
// text is a snapshot and valid JSON with the ids the format promises, the zips hold the
// OutputLayout names with the bytes the PNG encoders make, the record rules refuse what the
// formats cannot hold, the export is pulled lazily (bounded: records are read only as chunks are
// taken), and MaskJSONLReader reads finished and partial files. The reference readers
// (pycocotools, Pillow, zipfile) are in ExportInteropTests.

import Foundation
import XCTest
import FileIO
import Tensor
import TestSupport
@testable import Export

final class MaskExportTests: XCTestCase {
    private func object(_ id: Int, score: Float, rows: [[UInt8]]) -> ObjectMask {
        ObjectMask(id: id, score: score, mask: BinaryMask(width: rows[0].count, height: rows.count, pixels: rows.flatMap { $0 }))
    }

    /// Four frames of 3 x 2 masks (frame 5 has no objects).
    private func smallRecords() -> [FrameRecord] {
        [
            FrameRecord(frame: 0, pts: 0, objects: [
                MaskRecord(object(1, score: 3.2, rows: [[0, 1, 1], [1, 0, 1]])),
                MaskRecord(object(2, score: -0.5, rows: [[0, 0, 0], [0, 0, 0]])),
            ]),
            FrameRecord(frame: 1, pts: 1.0 / 30, objects: [MaskRecord(object(2, score: 1, rows: [[1, 1, 1], [1, 1, 1]]))]),
            FrameRecord(frame: 5, pts: nil, objects: []),
            FrameRecord(frame: 100_000, pts: 2, objects: [MaskRecord(object(7, score: .nan, rows: [[0, 0, 1], [0, 0, 0]]))]),
        ]
    }

    private func export(_ format: MaskExportFormat, _ records: [FrameRecord], width: Int = 3, height: Int = 2) throws -> [UInt8] {
        try MaskExport(format: format, width: width, height: height,
                       options: .init(zip: .init(modified: fixedZipDate, timeZone: utc)), records: records).collect()
    }

    func testJSONLIsWhatTheWriterWrites() throws {
        let dir = try TemporaryDirectory("export-jsonl")
        let writer = try MaskJSONLWriter(directory: dir.path)
        for record in smallRecords() { try writer.append(record) }
        try writer.finish()
        XCTAssertEqual(try export(.jsonl, smallRecords()), try readFile(writer.path))
        XCTAssertEqual(try export(.jsonl, []), [])
    }

    /// Snapshot of the COCO text: a change to it must be deliberate.
    func testCOCOSnapshot() throws {
        let text = String(decoding: try export(.coco, Array(smallRecords().prefix(3))), as: UTF8.self)
        XCTAssertEqual(text, """
            {"categories": [{"id": 1, "name": "object", "supercategory": "object"}], "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [2, 3], "counts": "1210"}, "area": 4, "bbox": [0, 0, 3, 2], "iscrowd": 0, "score": 3.2, "track_id": 1},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": {"size": [2, 3], "counts": "6"}, "area": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0, "score": -0.5, "track_id": 2},
            {"id": 3, "image_id": 2, "category_id": 1, "segmentation": {"size": [2, 3], "counts": "06"}, "area": 6, "bbox": [0, 0, 3, 2], "iscrowd": 0, "score": 1.0, "track_id": 2}
            ], "images": [
            {"id": 1, "file_name": "00000.jpg", "width": 3, "height": 2, "frame_index": 0},
            {"id": 2, "file_name": "00001.jpg", "width": 3, "height": 2, "frame_index": 1},
            {"id": 6, "file_name": "00005.jpg", "width": 3, "height": 2, "frame_index": 5}
            ]}

            """)
        XCTAssertEqual(String(decoding: try export(.coco, []), as: UTF8.self),
                       COCOText.header + COCOText.middle + COCOText.trailer)
    }

    func testCOCOIsJSONWithOneImagePerFrameAndOneAnnotationPerObject() throws {
        let records = smallRecords()
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try export(.coco, records))) as? [String: Any])
        let images = try XCTUnwrap(json["images"] as? [[String: Any]])
        let annotations = try XCTUnwrap(json["annotations"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["frame_index"] as? Int }, records.map(\.frame))
        XCTAssertEqual(images.map { $0["id"] as? Int }, records.map { $0.frame + 1 })
        XCTAssertEqual(images.last?["file_name"] as? String, "100000.jpg")
        XCTAssertEqual(annotations.map { $0["id"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(annotations.map { $0["track_id"] as? Int }, [1, 2, 2, 7])
        XCTAssertEqual(annotations.map { $0["image_id"] as? Int }, [1, 1, 2, 100_001])
        XCTAssertTrue(annotations[3]["score"] is NSNull, "a NaN score is null, as in masks.jsonl")
        let segmentation = try XCTUnwrap(annotations[3]["segmentation"] as? [String: Any])
        XCTAssertEqual(segmentation["counts"] as? String, records[3].objects[0].rle.compressed)
    }

    func testZipsHoldTheLayoutNamesAndTheEncodersBytes() throws {
        let records = smallRecords()
        let grey = try walkLocalHeaders(try export(.png, records))
        XCTAssertEqual(grey.map(\.name), ["1/00000.png", "2/00000.png", "2/00001.png", "7/100000.png"])
        let encoder = MaskPNGEncoder()
        let objects = records[0].objects.map { ObjectMask(id: $0.id, score: $0.score, mask: $0.rle.decoded()) }
        XCTAssertEqual(Array(grey.prefix(2).map(\.data)), try encoder.encode(objects, names: ["a", "b"]))

        let palette = try walkLocalHeaders(try export(.palette, records))
        XCTAssertEqual(palette.map(\.name), ["00000.png", "00001.png", "00005.png", "100000.png"])
        let paletteEncoder = try PalettePNGEncoder()
        XCTAssertEqual(palette[0].data, try paletteEncoder.encode(width: 3, height: 2, objects: objects, name: "x"))
        XCTAssertEqual(palette[2].data, try paletteEncoder.encode(width: 3, height: 2, objects: [], name: "x"))
        XCTAssertEqual(MaskExportFormat.allCases.map(\.fileName),
                       ["masks.jsonl", "masks_coco.json", "masks_png.zip", "masks_palette.zip"])
    }

    func testRecordsTheFormatsCannotHoldAreRefused() throws {
        let mask = object(1, score: 1, rows: [[1, 0, 0], [0, 0, 0]])
        func refused(_ format: MaskExportFormat, _ records: [FrameRecord], _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try export(format, records), line: line) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)", line: line)
            }
        }
        var big = mask
        big.id = 256
        var zero = mask
        zero.id = 0
        let wide = object(3, score: 1, rows: [[1, 0, 0, 0], [0, 0, 0, 0]])
        for format in MaskExportFormat.allCases {
            refused(format, [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(wide)])], "is 4x2, the frames are 3x2")
            refused(format, [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(zero)])], "has object 0")
            refused(format, [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(mask), MaskRecord(mask)])], "object 1 twice")
            refused(format, [FrameRecord(frame: -1, pts: 0, objects: [])], "negative")
            refused(format, [FrameRecord(frame: 2, pts: 0, objects: []), FrameRecord(frame: 2, pts: 0, objects: [])],
                    "frames must increase")
        }
        refused(.palette, [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(big)])], "1...255")
        XCTAssertNoThrow(try export(.png, [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(big)])]))
        XCTAssertThrowsError(try MaskExport(format: .coco, width: 0, height: 2, records: [FrameRecord]()))
        // The same rule, callable before a response starts.
        XCTAssertThrowsError(try MaskExport.check(FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(big)]),
                                                  format: .palette, width: 3, height: 2))
        XCTAssertNoThrow(try MaskExport.check(FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(big)]),
                                              format: .coco, width: 3, height: 2))
        // After a failure the export is over.
        let failing = try MaskExport(format: .jsonl, width: 3, height: 2,
                                     records: [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(wide)])])
        XCTAssertThrowsError(try failing.nextChunk())
        XCTAssertThrowsError(try failing.nextChunk()) { XCTAssertTrue("\($0)".contains("already failed"), "\($0)") }
    }

    /// Records are pulled only as chunks are taken: after each chunk the export has read just
    /// enough records for 64 KiB (plus one frame), so memory does not grow with the video.
    func testRecordsArePulledOnlyAsChunksAreTaken() throws {
        let (width, height) = (160, 120)
        let frames = 120
        var pulled = 0
        let masks = (1...3).map { SyntheticMasks.noise(width: width, height: height, density: 0.3, seed: UInt64($0)) }
        let records = masks.enumerated().map { MaskRecord(ObjectMask(id: $0.offset + 1, score: 1, mask: $0.element)) }
        for format in MaskExportFormat.allCases {
            pulled = 0
            let export = try MaskExport(format: format, width: width, height: height) { () -> FrameRecord? in
                guard pulled < frames else { return nil }
                defer { pulled += 1 }
                return FrameRecord(frame: pulled, pts: nil, objects: records)
            }
            var chunks = 0, total = 0, largest = 0
            var frameBytes = 0
            while let chunk = try export.nextChunk() {
                chunks += 1
                total += chunk.count
                largest = max(largest, chunk.count)
                if chunks == 1 { frameBytes = chunk.count / max(1, pulled) }
                // A chunk is at least 64 KiB (except the last) and holds the frames read for it.
                if pulled < frames { XCTAssertGreaterThanOrEqual(chunk.count, MaskExport.chunkBytes, "\(format)") }
                XCTAssertLessThanOrEqual(chunk.count, MaskExport.chunkBytes + 2 * frameBytes + 4096, "\(format) chunk \(chunks)")
            }
            XCTAssertEqual(pulled, frames, "\(format)")
            XCTAssertEqual(export.frameCount, frames)
            XCTAssertEqual(export.bytesProduced, UInt64(total))
            XCTAssertGreaterThan(chunks, 10, "\(format): \(total) bytes in \(chunks) chunks (largest \(largest))")
        }
    }

    func testAsyncChunksEqualTheWholeAndReportErrors() async throws {
        let records = smallRecords()
        let whole = try export(.palette, records)
        let stream = try MaskExport(format: .palette, width: 3, height: 2,
                                    options: .init(zip: .init(modified: fixedZipDate, timeZone: utc)), records: records)
            .chunks(context: ComputeContext(threads: 2, priority: .batch))
        var bytes: [UInt8] = []
        for await chunk in stream { bytes += chunk }
        XCTAssertEqual(bytes, whole)

        let failure = ErrorBox()
        let bad = try MaskExport(format: .palette, width: 3, height: 2,
                                 records: [FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(object(300, score: 1, rows: [[1, 1, 1], [1, 1, 1]]))])])
            .chunks(onError: { failure.set($0) })
        var count = 0
        for await _ in bad { count += 1 }
        XCTAssertEqual(count, 0)
        XCTAssertTrue("\(failure.get().map { "\($0)" } ?? "none")".contains("1...255"))
    }

    // MARK: - Reader

    func testReaderReadsFinishedAndPartialFiles() throws {
        let dir = try TemporaryDirectory("reader")
        XCTAssertThrowsError(try MaskJSONLReader(directory: dir.path)) { error in
            guard case let .readFailed(path, _, code)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(code, ENOENT)
            XCTAssertTrue(path.hasSuffix("masks.jsonl"), path)
        }
        let records = smallRecords()
        let writer = try MaskJSONLWriter(directory: dir.path)
        for record in records.prefix(2) { try writer.append(record) }
        // While the writer runs: the partial file, and a half-written line is not read.
        let partial = try MaskJSONLReader(directory: dir.path)
        XCTAssertTrue(partial.isPartial)
        let fd = open(writer.partialPath, O_WRONLY | O_APPEND)
        _ = "{\"frame\": 5, \"pts\"".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let growing = try MaskJSONLReader(directory: dir.path)
        for reader in [partial, growing] {
            var read: [FrameRecord] = []
            while let record = try reader.next() { read.append(record) }
            XCTAssertEqual(read, Array(records.prefix(2)))
            XCTAssertNil(try reader.next())
        }
        // A snapshot: lines appended after opening are not read.
        let early = try MaskJSONLReader(directory: dir.path)
        let writer2 = try MaskJSONLWriter.resume(directory: dir.path, continuingAt: 5)
        for record in records.dropFirst(2) { try writer2.append(record) }
        XCTAssertEqual(try early.next()?.frame, 0)
        XCTAssertEqual(try early.next()?.frame, 1)
        XCTAssertNil(try early.next())
        try writer2.finish()
        let final = try MaskJSONLReader(directory: dir.path)
        XCTAssertFalse(final.isPartial)
        var all: [FrameRecord] = []
        while let record = try final.next() { all.append(record) }
        XCTAssertEqual(all.map(\.frame), records.map(\.frame))
        XCTAssertEqual(all.map(\.jsonLine), records.map(\.jsonLine))
        // The reader feeds an export: the same bytes as from the records in memory.
        let fromFile = try MaskExport(format: .coco, width: 3, height: 2, reader: MaskJSONLReader(directory: dir.path)).collect()
        XCTAssertEqual(fromFile, try export(.coco, records))
    }

    func testReaderReportsDamageAndLinks() throws {
        let dir = try TemporaryDirectory("reader-bad")
        let line = smallRecords()[0].jsonLine
        try AtomicFile.write(Array((line + "\n" + "{\"frame\": 1, oops}\n").utf8), to: dir.file("masks.jsonl"))
        let reader = try MaskJSONLReader(directory: dir.path)
        XCTAssertEqual(try reader.next()?.frame, 0)
        XCTAssertThrowsError(try reader.next()) { error in
            guard case let .malformedFile(path, reason)? = error as? ExportError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("masks.jsonl"))
            XCTAssertTrue(reason.hasPrefix("line 2:"), reason)
        }
        // A finished file whose last line has no newline was damaged.
        try AtomicFile.write(Array((line + "\n" + line).utf8), to: dir.file("masks.jsonl"))
        let cut = try MaskJSONLReader(directory: dir.path)
        XCTAssertNotNil(try cut.next())
        XCTAssertThrowsError(try cut.next()) { XCTAssertTrue("\($0)".contains("cut short"), "\($0)") }
        // A line longer than the 64 KiB blocks.
        let long = FrameRecord(frame: 3, pts: nil, objects: [MaskRecord(ObjectMask(id: 1, score: 1,
            mask: SyntheticMasks.noise(width: 600, height: 600, density: 0.5, seed: 3)))])
        XCTAssertGreaterThan(long.jsonLine.utf8.count, 1 << 17)
        try AtomicFile.write(Array((line + "\n" + long.jsonLine + "\n").utf8), to: dir.file("masks.jsonl"))
        let longReader = try MaskJSONLReader(directory: dir.path)
        XCTAssertEqual(try longReader.next()?.frame, 0)
        XCTAssertEqual(try longReader.next(), long)
        XCTAssertNil(try longReader.next())
        // Links are not followed.
        let other = try TemporaryDirectory("reader-link")
        try FileManager.default.createSymbolicLink(atPath: other.file("masks.jsonl"), withDestinationPath: dir.file("masks.jsonl"))
        XCTAssertThrowsError(try MaskJSONLReader(directory: other.path)) { error in
            guard case .symbolicLink? = error as? FileError else { return XCTFail("\(error)") }
        }
    }
}

/// An error handed over from a `@Sendable` callback.
private final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ value: Error) { lock.lock(); error = value; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
