// The training-data readers: DAVIS folders, a COCO instances file (RLE, uncompressed RLE and
// polygons) and a masks.jsonl with its video, each read back to the masks that were written, and
// every bad-input path of issue 30 (a mask of the wrong size, an id with no mask, an unreadable
// image, ...) an error that names the file at fault.

import XCTest
import Export
import Foundation
import Media
@testable import Training

final class DataReaderTests: XCTestCase {
    let (width, height) = (96, 80)

    func testDAVISFolderReadsEveryObjectOfEveryFrame() throws {
        let root = try SyntheticData.folder("davis-read", removedAfter: self)
        try SyntheticData.davis(root, sequences: 2, frames: 3, width: width, height: height)
        XCTAssertEqual(try TrainingData.detectFormat(root), .davis)
        let data = try TrainingData.load(root)
        XCTAssertEqual(data.format, .davis)
        XCTAssertEqual(data.sequences.map(\.name), ["seq00", "seq01"])
        XCTAssertEqual(data.frameCount, 6)
        for (s, sequence) in data.sequences.enumerated() {
            XCTAssertTrue(sequence.isVideo)
            XCTAssertEqual(sequence.objectIDs, [1, 2])
            for (t, frame) in sequence.frames.enumerated() {
                XCTAssertEqual(frame.image, .file(String(format: "%@/JPEGImages/seq%02d/%05d.png", root, s, t)))
                XCTAssertEqual(frame.width, width)
                XCTAssertEqual(frame.height, height)
                for id in [1, 2] {
                    let area = SyntheticData.expectedArea(sequence: s, frame: t, id: id, objects: 2, width: width, height: height)
                    XCTAssertGreaterThan(area, 50)
                    XCTAssertEqual(frame.masks[id]?.area, area, "sequence \(s) frame \(t) object \(id)")
                }
            }
        }
    }

    func testDAVISAnnotationInRGBPaletteColoursAndEmptyFrames() throws {
        let root = try SyntheticData.folder("davis-rgb", removedAfter: self)
        try SyntheticData.davis(root, sequences: 1, frames: 2, width: width, height: height)
        // Frame 1's annotation re-saved as RGB in the palette's colours; frame 0's emptied.
        let annotation = root + "/Annotations/seq00/00001.png"
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        let mask = SyntheticData.objectMask(sequence: 0, frame: 1, id: 1, width: width, height: height)
        let colour = DAVISPalette.color(index: 1)
        for i in 0..<(width * height) where mask.pixels[i] != 0 {
            rgb[3 * i] = colour.red; rgb[3 * i + 1] = colour.green; rgb[3 * i + 2] = colour.blue
        }
        try PNGWriter().writeRGB(RGBImage(width: width, height: height, pixels: rgb), to: annotation)
        try PNGWriter().writeIndexed([UInt8](repeating: 0, count: width * height), width: width, height: height,
                                     palette: DAVISPalette.bytes, to: root + "/Annotations/seq00/00000.png")
        let data = try TrainingData.load(root, format: .davis)
        XCTAssertEqual(data.sequences[0].frames[0].masks.count, 0, "an all-zero annotation: no object")
        XCTAssertEqual(data.sequences[0].frames[1].masks[1]?.area, mask.area)
        // A colour outside the palette names the file and the pixel.
        rgb[0] = 1; rgb[1] = 2; rgb[2] = 3
        try PNGWriter().writeRGB(RGBImage(width: width, height: height, pixels: rgb), to: annotation)
        assertError(try TrainingData.load(root, format: .davis), .unknownColour(path: annotation, x: 0, y: 0, red: 1, green: 2, blue: 3))
    }

    func testDAVISErrorsNameTheFile() throws {
        let root = try SyntheticData.folder("davis-errors", removedAfter: self)
        try SyntheticData.davis(root, sequences: 1, frames: 2, width: width, height: height)
        let annotation = root + "/Annotations/seq00/00001.png", image = root + "/JPEGImages/seq00/00001.png"
        // A mask of the wrong size.
        try PNGWriter().writeIndexed([UInt8](repeating: 1, count: 50 * 40), width: 50, height: 40, palette: DAVISPalette.bytes,
                                     to: annotation)
        assertError(try TrainingData.load(root), .maskSize(path: annotation, expectedWidth: width, expectedHeight: height,
                                                           width: 50, height: 40, image: image))
        try SyntheticData.davis(root, sequences: 1, frames: 2, width: width, height: height)
        // An unreadable image.
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: image))
        let error = catchError(try TrainingData.load(root))
        guard case let .unreadableImage(path, _)? = error else { return XCTFail("expected unreadableImage, got \(String(describing: error))") }
        XCTAssertEqual(path, image)
        XCTAssertTrue(error!.description.hasPrefix(image))
        // An annotation without its image.
        try FileManager.default.removeItem(atPath: image)
        assertError(try TrainingData.load(root), .missing(path: root + "/JPEGImages/seq00/00001.jpg", what: "the image of annotation \(annotation)"))
        // An unreadable annotation.
        try SyntheticData.davis(root, sequences: 1, frames: 2, width: width, height: height)
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: URL(fileURLWithPath: annotation))
        guard case let .unreadableImage(path2, _)? = catchError(try TrainingData.load(root)) else { return XCTFail("expected unreadableImage") }
        XCTAssertEqual(path2, annotation)
        // No Annotations folder.
        try FileManager.default.removeItem(atPath: root + "/Annotations")
        assertError(try TrainingData.load(root, format: .davis), .missing(path: root + "/Annotations", what: "the Annotations folder"))
        assertError(try TrainingData.load(root), .unknownLayout(path: root))
    }

    // MARK: COCO

    func cocoFolder(_ name: String, annotations: [[String: Any]], images: [[String: Any]]? = nil) throws -> String {
        let root = try SyntheticData.folder(name, removedAfter: self)
        try FileManager.default.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
        try PNGWriter().writeRGB(SyntheticData.picture(sequence: 0, frame: 0, objects: 2, width: width, height: height),
                                 to: root + "/images/a.png")
        try PNGWriter().writeRGB(SyntheticData.picture(sequence: 1, frame: 0, objects: 2, width: width, height: height),
                                 to: root + "/b.png")
        let json: [String: Any] = [
            "images": images ?? [["id": 7, "file_name": "a.png", "width": width, "height": height],
                                 ["id": 9, "file_name": "b.png", "width": width, "height": height]],
            "annotations": annotations,
        ]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: root + "/instances_train.json"))
        return root
    }

    func testCOCOReadsRLEAndPolygons() throws {
        let mask = SyntheticData.objectMask(sequence: 0, frame: 0, id: 1, width: width, height: height)
        let rle = COCORLE(encoding: mask)
        let second = COCORLE(encoding: SyntheticData.objectMask(sequence: 1, frame: 0, id: 2, width: width, height: height))
        let root = try cocoFolder("coco-read", annotations: [
            ["id": 1, "image_id": 7, "segmentation": ["size": [height, width], "counts": rle.compressed]],
            ["id": 2, "image_id": 7, "segmentation": [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]],
            ["id": 3, "image_id": 9, "segmentation": ["size": [height, width], "counts": second.counts.map(Int.init)]],
        ])
        XCTAssertEqual(try TrainingData.detectFormat(root), .coco)
        let data = try TrainingData.load(root)
        XCTAssertEqual(data.sequences.count, 2)
        XCTAssertFalse(data.sequences[0].isVideo)
        let a = data.sequences[0].frames[0], b = data.sequences[1].frames[0]
        XCTAssertEqual(a.image, .file(root + "/images/a.png"))
        XCTAssertEqual(b.image, .file(root + "/b.png"))
        XCTAssertEqual(a.masks[1], rle)
        // The rectangle (10, 10)-(30, 20): pixel centres 10.5 ... 29.5 and 10.5 ... 19.5.
        let polygon = a.masks[2]!.decoded()
        XCTAssertEqual(polygon.area, 20 * 10)
        XCTAssertTrue(polygon[10, 10] && polygon[29, 19] && !polygon[30, 19] && !polygon[9, 10])
        XCTAssertEqual(b.masks[1], second, "uncompressed counts")
    }

    func testCOCOErrorsNameTheFile() throws {
        func file(_ root: String) -> String { root + "/instances_train.json" }
        var root = try cocoFolder("coco-nomask", annotations: [["id": 4, "image_id": 7]])
        assertError(try TrainingData.load(root), .noMask(path: file(root), location: "annotations[0] (id 4)", objectID: 4))
        root = try cocoFolder("coco-noimage", annotations: [["id": 4, "image_id": 8, "segmentation": [[1.0, 1, 5, 1, 5, 5]]]])
        assertError(try TrainingData.load(root), .unknownImage(path: file(root), annotation: "annotations[0] (id 4)", imageID: 8))
        let small = COCORLE(encoding: BinaryMask(width: 20, height: 10))
        root = try cocoFolder("coco-size", annotations: [["id": 1, "image_id": 9, "segmentation": ["size": [10, 20], "counts": small.compressed]]])
        assertError(try TrainingData.load(root), .maskSize(path: file(root), expectedWidth: width, expectedHeight: height,
                                                           width: 20, height: 10, image: root + "/b.png"))
        root = try cocoFolder("coco-polygon", annotations: [["id": 1, "image_id": 9, "segmentation": [[1.0, 2.0, 3.0]]]])
        assertError(try TrainingData.load(root), .malformed(path: file(root), reason: "annotations[0] (id 1): a polygon needs at least 3 (x, y) pairs"))
        root = try cocoFolder("coco-missing", annotations: [["id": 1, "image_id": 5, "segmentation": [[1.0, 1, 5, 1, 5, 5]]]],
                              images: [["id": 5, "file_name": "gone.jpg", "width": width, "height": height]])
        assertError(try TrainingData.load(root), .missing(path: root + "/gone.jpg", what: "image 5 of \(file(root))"))
        try Data("{\"images\": [".utf8).write(to: URL(fileURLWithPath: file(root)))
        guard case let .malformed(path, _)? = catchError(try TrainingData.load(root)) else { return XCTFail("expected malformed") }
        XCTAssertEqual(path, file(root))
    }

    // MARK: masks.jsonl

    /// DIR/masks.jsonl for frames 0, 2, 3 of a 4-frame image-folder "video" DIR/frames/.
    func jsonlFolder(_ name: String, lines: [String]? = nil) throws -> (root: String, video: String) {
        let root = try SyntheticData.folder(name, removedAfter: self)
        let video = root + "/frames"
        try FileManager.default.createDirectory(atPath: video, withIntermediateDirectories: true)
        for t in 0..<4 {
            try PNGWriter().writeRGB(SyntheticData.picture(sequence: 0, frame: t, objects: 1, width: width, height: height),
                                     to: video + String(format: "/%05d.png", t))
        }
        let records = [0, 2, 3].map { t in
            FrameRecord(frame: t, pts: nil, objects: [MaskRecord(id: 5, score: 1, rle: COCORLE(encoding:
                SyntheticData.objectMask(sequence: 0, frame: t, id: 1, width: width, height: height)))]).jsonLine
        }
        try ((lines ?? records).joined(separator: "\n") + "\n").write(toFile: root + "/masks.jsonl", atomically: true, encoding: .utf8)
        return (root, video)
    }

    func testMasksJSONLWithItsVideo() throws {
        let (root, video) = try jsonlFolder("jsonl-read")
        XCTAssertEqual(try TrainingData.detectFormat(root), .jsonl)
        let data = try TrainingData.load(root, video: video)
        XCTAssertEqual(data.sequences.count, 1)
        let frames = data.sequences[0].frames
        XCTAssertEqual(frames.map(\.image), [0, 2, 3].map { .video(path: video, index: $0) })
        for (frame, t) in zip(frames, [0, 2, 3]) {
            XCTAssertEqual(frame.masks[5]?.area, SyntheticData.objectMask(sequence: 0, frame: t, id: 1, width: width, height: height).area)
        }
        // The masks.jsonl file itself may be given.
        XCTAssertEqual(try TrainingData.load(root + "/masks.jsonl", video: video).frameCount, 3)
        // Without --video and no video beside it: named.
        guard case let .missing(path, _)? = catchError(try TrainingData.load(root)) else { return XCTFail("expected missing video") }
        XCTAssertEqual(path, root + "/video.mp4")
    }

    func testMasksJSONLErrorsNameTheFile() throws {
        let wrongSize = FrameRecord(frame: 1, pts: nil, objects: [MaskRecord(id: 1, score: 1, rle: COCORLE(encoding: BinaryMask(width: 10, height: 10)))])
        var (root, video) = try jsonlFolder("jsonl-size", lines: [wrongSize.jsonLine])
        assertError(try TrainingData.load(root, video: video), .maskSize(path: root + "/masks.jsonl line 1", expectedWidth: width,
                                                                         expectedHeight: height, width: 10, height: 10, image: video))
        let late = FrameRecord(frame: 9, pts: nil, objects: [])
        (root, video) = try jsonlFolder("jsonl-range", lines: [late.jsonLine])
        assertError(try TrainingData.load(root, video: video), .frameOutOfRange(path: root + "/masks.jsonl", frame: 9, frames: 4, video: video))
        (root, video) = try jsonlFolder("jsonl-bad", lines: ["{\"frame\": 0, \"objects\": [{\"id\": 1}]}"])
        let error = catchError(try TrainingData.load(root, video: video))
        guard case let .malformed(path, reason)? = error else { return XCTFail("expected malformed, got \(String(describing: error))") }
        XCTAssertEqual(path, root + "/masks.jsonl")
        XCTAssertTrue(reason.contains("line 1"), reason)
        (root, video) = try jsonlFolder("jsonl-video", lines: [FrameRecord(frame: 0, pts: nil, objects: []).jsonLine])
        guard case let .missing(missing, _)? = catchError(try TrainingData.load(root, video: root + "/nothing.mp4")) else {
            return XCTFail("expected a missing video")
        }
        XCTAssertEqual(missing, root + "/nothing.mp4")
    }

    // MARK: helpers

    func catchError(_ body: @autoclosure () throws -> TrainingData) -> TrainingDataError? {
        do {
            _ = try body()
            return nil
        } catch let error as TrainingDataError {
            return error
        } catch {
            XCTFail("not a TrainingDataError: \(error)")
            return nil
        }
    }

    func assertError(_ body: @autoclosure () throws -> TrainingData, _ expected: TrainingDataError,
                     file: StaticString = #filePath, line: UInt = #line) {
        let error = catchError(try body())
        XCTAssertEqual(error, expected, file: file, line: line)
        if let error { XCTAssertTrue(error.description.contains("/"), "the message names a file: \(error)", file: file, line: line) }
    }
}
