// MP4 through a pipe (issue 26, item 5): a file whose index (moov) follows its frames cannot be
// read from a pipe, and the error must say how to fix it; a faststart MP4 and MPEG-TS read fine.

import XCTest
import TestSupport
@testable import Media

final class PipeInputTests: XCTestCase {
    /// Opens `path`'s bytes through a pipe (`pipe:FD`, as `-` is `pipe:0`), written by a thread.
    /// The pipe is kept open while the test runs (`pipes`).
    private var pipes: [Pipe] = []

    private func openThroughPipe(_ path: String) throws -> VideoSource {
        let pipe = Pipe()
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let writer = pipe.fileHandleForWriting
        DispatchQueue.global().async {
            try? writer.write(contentsOf: data)
            try? writer.close()
        }
        pipes.append(pipe)
        return try VideoSource("pipe:\(pipe.fileHandleForReading.fileDescriptor)")
    }

    private func clips() throws -> (late: String, fast: String, ts: String, dir: TemporaryDirectory) {
        let dir = try TemporaryDirectory("pipe")
        let late = dir.file("late.mp4"), fast = dir.file("fast.mp4"), ts = dir.file("clip.ts")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x72:rate=10", "-frames:v", "15", "-c:v", "mpeg2video",
                        "-movflags", "-faststart", late])
        try CLI.ffmpeg(["-i", late, "-c", "copy", "-movflags", "+faststart", fast])
        try CLI.ffmpeg(["-i", late, "-c", "copy", "-f", "mpegts", ts])
        return (late, fast, ts, dir)
    }

    func testMoovAtTheEndNamesTheFix() throws {
        let files = try clips()
        XCTAssertThrowsError(try openThroughPipe(files.late)) { error in
            guard case let MediaError.cannotOpen(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("-movflags +faststart"), reason)
            XCTAssertTrue(reason.contains("mpegts"), reason)
        }
        // The same file by path is fine.
        var count = 0
        let source = try VideoSource(files.late)
        while try source.nextFrame() != nil { count += 1 }
        XCTAssertEqual(count, 15)
    }

    func testFaststartMP4AndTransportStreamReadFromAPipe() throws {
        let files = try clips()
        for path in [files.fast, files.ts] {
            let source = try openThroughPipe(path)
            var count = 0
            while try source.nextFrame() != nil { count += 1 }
            XCTAssertEqual(count, 15, path)
        }
    }
}
