// Atomic writes (FileIO, through which every Export writer goes): no temporary left behind, an
// existing file replaced only when the new content is complete, missing and unwritable
// directories reported as FileError naming the path, links never written through.

import XCTest
import FileIO
@testable import Export

final class AtomicFileTests: XCTestCase {
    private struct Boom: Error {}

    func testWriteLeavesOnlyTheFile() throws {
        let dir = try TemporaryDirectory("atomic")
        let path = dir.file("a.bin")
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        try AtomicFile.write([4, 5], to: path, options: .init(fsync: true))
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), [4, 5])
        XCTAssertEqual(try dir.contents(), ["a.bin"])
        // Streaming larger than the sink's buffer.
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        try AtomicFile.write(to: path) { sink in
            try sink.write(Array(big[0..<10]))
            try sink.write(Array(big[10..<200_000]))
            try sink.write(Data(big[200_000...]))
            XCTAssertEqual(sink.bytesWritten, big.count)
        }
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), big)
        XCTAssertEqual(try dir.contents(), ["a.bin"])
    }

    func testExistingFileReplacedOnlyOnSuccess() throws {
        let dir = try TemporaryDirectory("atomic-fail")
        let path = dir.file("keep.txt")
        try AtomicFile.write(Data("old".utf8), to: path)
        XCTAssertThrowsError(try AtomicFile.write(to: path) { sink in
            try sink.write("new, but ")
            try sink.write([UInt8](repeating: 65, count: 100_000))  // past the buffer: really on disk
            throw Boom()
        }) { error in XCTAssertTrue(error is Boom) }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        XCTAssertEqual(try dir.contents(), ["keep.txt"], "the temporary is removed")
    }

    func testMissingParents() throws {
        let dir = try TemporaryDirectory("atomic-parents")
        let path = dir.file("x/y/z.txt")
        XCTAssertThrowsError(try AtomicFile.write(Data("a".utf8), to: path)) { error in
            XCTAssertEqual(error as? FileError, .directoryNotFound(path: dir.file("x/y")))
            XCTAssertTrue("\(error)".contains(dir.file("x/y")))
        }
        try AtomicFile.write(Data("a".utf8), to: path, options: .init(createParents: true))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "a")
    }

    func testParentIsAFile() throws {
        let dir = try TemporaryDirectory("atomic-notdir")
        try Data().write(to: URL(fileURLWithPath: dir.file("plain")))
        XCTAssertThrowsError(try AtomicFile.write(Data("a".utf8), to: dir.file("plain/z.txt"))) { error in
            guard case let .cannotCreateDirectory(path, reason)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, dir.file("plain"))
            XCTAssertTrue(reason.contains("Not a directory"), reason)
        }
    }

    func testUnwritableDirectoryNamesThePath() throws {
        let dir = try TemporaryDirectory("atomic-readonly")
        let target: String
        if geteuid() != 0 {
            let locked = dir.file("locked")
            try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
            chmod(locked, 0o555)
            target = locked
        } else {
            // Permission bits do not stop root; sysfs refuses new files to everyone.
            guard open("/sys/.samtrack-probe", O_WRONLY | O_CREAT | O_EXCL, 0o644) < 0, errno == EACCES else {
                unlink("/sys/.samtrack-probe")
                throw XCTSkip("running as root without a read-only directory to test with")
            }
            target = "/sys"
        }
        defer { chmod(target, 0o755) }
        let path = (target as NSString).appendingPathComponent("masks.png")
        XCTAssertThrowsError(try AtomicFile.write(Data("a".utf8), to: path)) { error in
            guard case let .writeFailed(failedPath, reason, _)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(failedPath, path)
            XCTAssertTrue(reason.contains("Permission denied"), reason)
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        // The same error surfaces through the writers.
        XCTAssertThrowsError(try MaskJSONLWriter(directory: target)) { error in
            guard case let .writeFailed(failedPath, _, _)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(failedPath, (target as NSString).appendingPathComponent("masks.jsonl.partial"))
        }
        XCTAssertThrowsError(try NPYWriter(directory: target).write(frame: 0, id: 1, logits: .init(zeros: [2, 2]))) { error in
            guard case let .writeFailed(failedPath, _, _)? = error as? FileError else { return XCTFail("\(error)") }
            XCTAssertEqual(failedPath, (target as NSString).appendingPathComponent("00000_1.npy"))
        }
    }

    /// Issue 23, finding 4: a link planted where an output goes is refused, never followed.
    func testLinksInTheOutputDirectoryAreNotFollowed() throws {
        let dir = try TemporaryDirectory("atomic-links")
        let victim = dir.file("victim.txt")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: dir.file("out/masks.jsonl.partial"), withDestinationPath: victim)
        XCTAssertThrowsError(try MaskJSONLWriter(directory: dir.file("out"))) { error in
            XCTAssertEqual(error as? FileError, .symbolicLink(path: dir.file("out/masks.jsonl.partial")), "\(error)")
        }
        XCTAssertThrowsError(try MaskJSONLWriter.resume(directory: dir.file("out"), continuingAt: 3)) { error in
            XCTAssertEqual(error as? FileError, .symbolicLink(path: dir.file("out/masks.jsonl.partial")), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious")
        // A link as the output directory itself, or as an object's PNG folder.
        try FileManager.default.createSymbolicLink(atPath: dir.file("linked"), withDestinationPath: dir.path)
        XCTAssertThrowsError(try PalettePNGWriter(directory: dir.file("linked"))) { error in
            XCTAssertEqual(error as? FileError, .symbolicLink(path: dir.file("linked")), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: dir.file("png"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: dir.file("png/1"), withDestinationPath: dir.path)
        let png = try MaskPNGWriter(directory: dir.file("png"))
        XCTAssertThrowsError(try png.write(frame: 0, objects: [ObjectMask(id: 1, score: 1, mask: BinaryMask(width: 4, height: 4))])) { error in
            XCTAssertEqual(error as? FileError, .symbolicLink(path: dir.file("png/1")), "\(error)")
        }
        // A link at a whole file's final name is replaced (rename), not written through.
        try FileManager.default.createSymbolicLink(atPath: dir.file("out/00000.png"), withDestinationPath: victim)
        try PalettePNGWriter(directory: dir.file("out")).write(frame: 0, width: 4, height: 4, objects: [])
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious")
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: dir.file("out/00000.png")))
    }

    func testOutputLayoutNames() {
        XCTAssertEqual(OutputLayout.frameName(0), "00000")
        XCTAssertEqual(OutputLayout.frameName(42), "00042")
        XCTAssertEqual(OutputLayout.frameName(123_456), "123456")
        XCTAssertEqual(OutputLayout.maskPNG(in: "out", id: 3, frame: 7), "out/3/00007.png")
        XCTAssertEqual(OutputLayout.palettePNG(in: "out/", frame: 7), "out/00007.png")
        XCTAssertEqual(OutputLayout.logits(in: "l", frame: 12, id: 2), "l/00012_2.npy")
        XCTAssertEqual(OutputLayout.masksJSONL(in: "d"), "d/masks.jsonl")
    }
}
