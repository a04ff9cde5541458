// Decode + preprocessing cost per frame (skipped unless SAMTRACK_MEDIA_BENCH=1).
//
// Release numbers:
//   Tools/synth/make_test_clips.sh /tmp/samtrack-clips --bench      # makes cups_1080p.mp4
//   swift build -c release -Xswiftc -enable-testing --build-tests --scratch-path .build-media
//   SAMTRACK_MEDIA_BENCH=1 SAMTRACK_MEDIA_BENCH_CLIPS=../shared/fixtures/cups.mp4:/tmp/samtrack-clips/cups_1080p.mp4 \
//     swift test -c release --skip-build --scratch-path .build-media --filter MediaBenchmarkTests

import XCTest
import Foundation
import Tensor
import TestSupport
@testable import Media

final class MediaBenchmarkTests: XCTestCase {
    private var clips: [String] {
        let env = ProcessInfo.processInfo.environment
        if let list = env["SAMTRACK_MEDIA_BENCH_CLIPS"] { return list.split(separator: ":").map(String.init) }
        return [Fixtures.sharedMedia("cups.mp4")]
    }

    private func milliseconds(_ seconds: Double, _ frames: Int) -> String {
        String(format: "%6.2f ms/frame", seconds * 1000 / Double(max(frames, 1)))
    }

    /// CPU seconds used by the whole process (all threads) so far: insensitive to other load.
    private func processCPU() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    func testDecodeAndPreprocessCost() throws {
        guard ProcessInfo.processInfo.environment["SAMTRACK_MEDIA_BENCH"] == "1" else {
            throw XCTSkip("set SAMTRACK_MEDIA_BENCH=1 to run")
        }
        let size = Int(ProcessInfo.processInfo.environment["SAMTRACK_MEDIA_BENCH_SIZE"] ?? "") ?? 1024
        let frames = 120
        for clip in clips {
            let header = try VideoSource(clip).info
            print("\n\(clip): \(header.width)x\(header.height) \(header.pixelFormat) -> S=\(size), \(frames) frames, \(ProcessInfo.processInfo.activeProcessorCount) cores")

            // Decode only.
            var source = try VideoSource(clip)
            var start = Date()
            var cpu = processCPU()
            var count = 0
            while count < frames, try source.nextFrame() != nil { count += 1 }
            let decode = Date().timeIntervalSince(start)
            print("  decode only                       \(milliseconds(decode, count)) wall, \(milliseconds(processCPU() - cpu, count)) CPU")

            for threads in [1, 2] {
                // Decode + scale to S x S RGB24 + normalise into the tensor.
                source = try VideoSource(clip)
                let preprocessor = FramePreprocessor(imageSize: size, threads: threads)
                var scaleTime = 0.0, normaliseTime = 0.0
                count = 0
                start = Date()
                while count < frames, let frame = try source.nextFrame() {
                    let t0 = Date()
                    let scaled = try preprocessor.resizedRGB(frame)
                    let t1 = Date()
                    var tensor = Tensor(uninitialized: [1, 3, size, size])
                    scaled.pixels.withUnsafeBufferPointer { rgb in
                        tensor.withUnsafeMutablePointer { out in
                            FramePreprocessor.normalize(rgb: rgb.baseAddress!, linesize: size * 3,
                                                        width: size, height: size, into: out)
                        }
                    }
                    normaliseTime += Date().timeIntervalSince(t1)
                    scaleTime += t1.timeIntervalSince(t0)
                    count += 1
                }
                print("  sws threads \(threads): swscale to RGB24     \(milliseconds(scaleTime, count))")
                print("  sws threads \(threads): normalise (CHW)      \(milliseconds(normaliseTime, count))")

                source = try VideoSource(clip)
                count = 0
                start = Date()
                cpu = processCPU()
                while count < frames, let frame = try source.nextFrame() {
                    _ = try preprocessor.modelInput(frame)
                    count += 1
                }
                print("  sws threads \(threads): decode + modelInput  \(milliseconds(Date().timeIntervalSince(start), count)) wall, \(milliseconds(processCPU() - cpu, count)) CPU")
            }

            // Decoding ahead: the consumer's wait per frame when it does no other work.
            let reader = try FrameReader(input: clip, options: FrameReaderOptions(imageSize: size, maxFrames: frames))
            start = Date()
            count = 0
            while try reader.next() != nil { count += 1 }
            print("  FrameReader throughput            \(milliseconds(Date().timeIntervalSince(start), count))")
        }
    }
}
