// Reopening inputs: `samtrack bench --input` loops a clip by reopening it, and the daemon opens
// one video after another, so opening and closing a FrameReader must not make resident memory
// creep. The reader frees its decoder (frame threads, buffer pools, demuxer) on its decoding
// thread as soon as decoding ends; before that fix the decoder lived until the last reference
// to the reader went away, overlapped with the next reader's decoder, and glibc spread the two
// over ever more malloc arenas: +1.3 MB of RSS per reopen in the bench.

import XCTest
import Foundation
import TestSupport
@testable import Media
#if canImport(Glibc)
import Glibc
#endif

final class FrameReaderMemoryTests: XCTestCase {
    /// Current resident set size in bytes (Linux: /proc/self/statm), nil elsewhere.
    private func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// 30 readers of the same clip, each decoding a few frames, each opened while the previous
    /// one is still referenced (as the bench's loop does): the median RSS over the last 10
    /// reopens stays within 10 MiB of RSS after the 1st (one whole open-decode-close cycle).
    /// Measured (debug build): without the fix RSS grew by 15-17 MiB (1st -> 30th), most of it
    /// within the first 5 reopens, so a later baseline would not reliably catch it; with the fix
    /// it stays within 2 MiB when the test runs alone, and in the whole suite (other tests' heap
    /// in the same process) it wanders 88-94 MiB after a first sample of 86.6: the median of the
    /// last 10 was +6.3 MiB, the single last sample +6.7.
    func testReopeningReadersKeepsResidentMemoryFlat() throws {
        guard residentBytes() != nil else { throw XCTSkip("needs /proc/self/statm") }
        let path = Fixtures.sharedMedia("bedroom.mp4")
        let options = FrameReaderOptions(imageSize: 64, maxFrames: 8)
        var reader: FrameReader?
        var samples: [Int] = []
        for _ in 1...30 {
            let next = try FrameReader(input: path, options: options)
            reader = next
            var frames = 0
            while let frame = try next.next() {
                XCTAssertEqual(frame.image?.shape, [1, 3, 64, 64])
                frames += 1
            }
            XCTAssertEqual(frames, 8)
            samples.append(try XCTUnwrap(residentBytes()))
        }
        reader = nil
        _ = reader
        print("RSS (MiB) after each reopen: \(samples.map { String(format: "%.1f", Double($0) / 1_048_576) }.joined(separator: " "))")
        let lastTen = samples.suffix(10).sorted()
        let median = Double(lastTen[4] + lastTen[5]) / 2
        let grown = (median - Double(samples[0])) / 1_048_576
        XCTAssertLessThanOrEqual(grown, 10, String(format: "median RSS of the last 10 reopens is %.1f MiB above the 1st", grown))
    }

    /// `close()` frees the decoder at once: reading ends, `info` stays, closing twice is fine.
    func testCloseEndsReadingAndIsIdempotent() throws {
        let source = try VideoSource(Fixtures.sharedMedia("bedroom.mp4"))
        XCTAssertNotNil(try source.nextFrame())
        source.close()
        XCTAssertNil(try source.nextFrame())
        source.close()
        XCTAssertEqual(source.info.width, 960)
    }
}
