// Mask exports read by the reference tools (Tools/interop/check_exports.py): masks.jsonl by
// pycocotools (check_outputs' checks), the COCO file by `pycocotools.coco.COCO` (annToMask) and
// `mask.decode`, the zips by Python's zipfile and `unzip -t`, their PNGs by Pillow, all against
// masks described independently (packed bits in expected.json, not RLE). The four exports are
// made four ways: `collect()`, `write(to:)` into an atomic file, the async chunks, and from a
// masks.jsonl file through MaskJSONLReader. Skipped only when python3 is missing.

import Foundation
import XCTest
import FileIO
import Tensor
import TestSupport
@testable import Export

final class ExportInteropTests: XCTestCase {
    private let width = 97, height = 61

    /// Frames of one odd-sized video: overlapping blobs with a tied score, empty and full masks,
    /// noise (many short runs), id 255, a frame with no objects, a six-digit frame number.
    private func frames() -> [(frame: Int, pts: Double?, objects: [ObjectMask])] {
        let (w, h) = (width, height)
        let full = BinaryMask(width: w, height: h, pixels: [UInt8](repeating: 1, count: w * h))
        return [
            (0, 0, [
                ObjectMask(id: 1, score: 3.2, mask: SyntheticMasks.blobs(width: w, height: h, blobs: 3, seed: 11)),
                ObjectMask(id: 2, score: -0.75, mask: SyntheticMasks.blobs(width: w, height: h, blobs: 3, seed: 12)),
                ObjectMask(id: 3, score: -0.75, mask: SyntheticMasks.blobs(width: w, height: h, blobs: 3, seed: 13)),
            ]),
            (1, 1.0 / 30, [
                ObjectMask(id: 1, score: 10, mask: BinaryMask(width: w, height: h)),
                ObjectMask(id: 2, score: -1024, mask: full),
            ]),
            (2, nil, []),
            (9, 0.3, [
                ObjectMask(id: 255, score: 1, mask: SyntheticMasks.noise(width: w, height: h, density: 0.4, seed: 14)),
                ObjectMask(id: 7, score: 2, mask: SyntheticMasks.noise(width: w, height: h, density: 0.9, seed: 15)),
                ObjectMask(id: 1, score: 0.5, mask: SyntheticMasks.blobs(width: w, height: h, blobs: 1, seed: 16)),
            ]),
            (123_456, 4115.2, [ObjectMask(id: 3, score: 1e-5, mask: SyntheticMasks.blobs(width: w, height: h, blobs: 2, seed: 17))]),
        ]
    }

    private func packedBits(_ mask: BinaryMask) -> String {
        var bytes = [UInt8](repeating: 0, count: (mask.pixels.count + 7) / 8)
        for (i, value) in mask.pixels.enumerated() where value != 0 { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
        return Data(bytes).base64EncodedString()
    }

    private var options: MaskExport.Options { .init(zip: .init(modified: fixedZipDate, timeZone: utc)) }

    private func expectedFrames() -> [[String: Any]] {
        frames().map { item in
            ["frame": item.frame, "pts": item.pts.map { $0 as Any } ?? NSNull(),
             "objects": item.objects.map { ["id": $0.id, "score": $0.score.description, "bits": packedBits($0.mask)] }]
        }
    }

    private func records() -> [FrameRecord] {
        frames().map { FrameRecord(frame: $0.frame, pts: $0.pts, objects: MaskJSONLWriter.records($0.objects)) }
    }

    func testReferenceToolsReadTheExports() async throws {
        let dir = try TemporaryDirectory("exports")
        let records = records()
        // jsonl: collected in memory.
        try AtomicFile.write(try MaskExport(format: .jsonl, width: width, height: height, options: options, records: records).collect(),
                             to: dir.file("masks.jsonl"))
        // coco: from a masks.jsonl written by the writer, through the reader, into an atomic file.
        let run = dir.file("run")
        let writer = try MaskJSONLWriter(directory: run)
        for item in frames() { try writer.append(frame: item.frame, pts: item.pts, objects: item.objects) }
        try writer.finish()
        let coco = try MaskExport(format: .coco, width: width, height: height, options: options,
                                  reader: MaskJSONLReader(directory: run))
        try AtomicFile.write(to: dir.file("masks_coco.json")) { try coco.write(to: $0) }
        // png: the async chunks an HTTP body would carry.
        var png: [UInt8] = []
        let chunks = try MaskExport(format: .png, width: width, height: height, options: options, records: records).chunks()
        for await chunk in chunks { png += chunk }
        try AtomicFile.write(png, to: dir.file("masks_png.zip"))
        // palette: into an atomic file.
        let palette = try MaskExport(format: .palette, width: width, height: height, options: options, records: records)
        try AtomicFile.write(to: dir.file("masks_palette.zip")) { try palette.write(to: $0) }

        let expected: [String: Any] = ["exports": [
            "width": width, "height": height, "date_time": fixedZipDateTime, "frames": expectedFrames(),
            "jsonl": "masks.jsonl", "coco": "masks_coco.json", "png": "masks_png.zip", "palette": "masks_palette.zip",
        ]]
        let (status, output) = try runExportChecker(dir, expected: expected)
        XCTAssertEqual(status, 0, "check_exports.py failed:\n\(output.suffix(4000))")
        XCTAssertTrue(output.contains("checks passed"), output)
    }

    /// The checker must fail on a wrong export, not pass silently: one pixel off in the expected
    /// masks shows up in the COCO file (pycocotools) and in the png zip (Pillow).
    func testCheckerDetectsAMismatch() throws {
        let dir = try TemporaryDirectory("exports-bad")
        let records = records()
        try AtomicFile.write(try MaskExport(format: .coco, width: width, height: height, options: options, records: records).collect(),
                             to: dir.file("masks_coco.json"))
        try AtomicFile.write(try MaskExport(format: .png, width: width, height: height, options: options, records: records).collect(),
                             to: dir.file("masks_png.zip"))
        var frames = expectedFrames()
        var objects = try XCTUnwrap(frames[1]["objects"] as? [[String: Any]])
        var empty = BinaryMask(width: width, height: height)
        empty[5, 7] = true
        objects[0]["bits"] = packedBits(empty)
        frames[1]["objects"] = objects
        let expected: [String: Any] = ["exports": [
            "width": width, "height": height, "date_time": fixedZipDateTime, "frames": frames,
            "coco": "masks_coco.json", "png": "masks_png.zip",
        ]]
        let (status, output) = try runExportChecker(dir, expected: expected)
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("annToMask differs in 1 pixels"), output)
        XCTAssertTrue(output.contains("png masks_png.zip.extracted/1/00001.png: 1 pixels differ"), output)
    }
}
