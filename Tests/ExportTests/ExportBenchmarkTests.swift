// Output cost per frame at 1280x720 and 1920x1080 with three objects, and the resident memory of
// 1000-frame exports in every format (skipped unless SAMTRACK_EXPORT_BENCH=1). Release numbers:
//   swift build -c release --scratch-path .build-export --build-tests
//   SAMTRACK_EXPORT_BENCH=1 swift test -c release --skip-build --scratch-path .build-export \
//     --filter ExportBenchmarkTests
// Each stage runs `repeats` times; the median wall time is printed. Masks are a few large random
// ellipses per object (about the shape of tracked objects); files go to a temporary directory.

import XCTest
import Foundation
import Tensor
import Export
import FileIO
import TestSupport

final class ExportBenchmarkTests: XCTestCase {
    private func median(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }

    func testPerFrameCost() throws {
        guard ProcessInfo.processInfo.environment["SAMTRACK_EXPORT_BENCH"] == "1" else {
            throw XCTSkip("set SAMTRACK_EXPORT_BENCH=1 to run")
        }
        let repeats = Int(ProcessInfo.processInfo.environment["SAMTRACK_EXPORT_BENCH_REPEATS"] ?? "") ?? 15
        print("Export benchmark: \(Parallel.threadCount) threads, median of \(repeats), ms per frame (3 objects)")
        for (width, height) in [(1280, 720), (1920, 1080)] {
            let dir = try TemporaryDirectory("bench-\(width)")
            let objects = (1...3).map { id in
                ObjectMask(id: id, score: Float(id), mask: SyntheticMasks.blobs(width: width, height: height, blobs: 3,
                                                                               seed: UInt64(id * 7)))
            }
            var rng = SeededGenerator(seed: 5)
            let rgb = (0..<(width * height * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let low = Tensor(shape: [1, 1, 256, 256], values: (0..<65_536).map { _ in Float.random(in: -4...4, using: &rng) })

            var frame = 0
            let threshold = try median(repeats) {
                for _ in 0..<3 { _ = try BinaryMask(logits: low, upsampledToHeight: height, width: width) }
            }
            let rleSerial = median(repeats) { for object in objects { _ = COCORLE(encoding: object.mask).compressed } }
            let rleLine = median(repeats) {
                _ = FrameRecord(frame: 0, pts: 0, objects: MaskJSONLWriter.records(objects)).jsonLine
            }
            let jsonl = try MaskJSONLWriter(directory: dir.file("rle"))
            let jsonlAppend = try median(repeats) {
                try jsonl.append(frame: frame, pts: Double(frame), objects: objects)
                frame += 1
            }
            try jsonl.finish()
            let palette = try PalettePNGWriter(directory: dir.file("palette"))
            let palettePNG = try median(repeats) {
                try palette.write(frame: frame, width: width, height: height, objects: objects)
                frame += 1
            }
            let grey = try MaskPNGWriter(directory: dir.file("png"))
            let greyPNG = try median(repeats) {
                try grey.write(frame: frame, objects: objects)
                frame += 1
            }
            let greyFast = try MaskPNGWriter(directory: dir.file("png1"), compressionLevel: 1)
            let greyPNG1 = try median(repeats) {
                try greyFast.write(frame: frame, objects: objects)
                frame += 1
            }
            let renderer = OverlayRenderer()
            let overlay = try median(repeats) { _ = try renderer.render(rgb: rgb, width: width, height: height, objects: objects) }
            let area = objects.map { Double($0.mask.area) / Double(width * height) * 100 }
            print(String(format: "%dx%d (object areas %.0f%%, %.0f%%, %.0f%%):", width, height, area[0], area[1], area[2]))
            print(String(format: "  logits -> mask x3 (256^2 upsample)  %7.2f", threshold))
            print(String(format: "  RLE encode x3 (serial)             %7.2f", rleSerial))
            print(String(format: "  RLE x3 (parallel) + JSON line      %7.2f", rleLine))
            print(String(format: "  masks.jsonl append (all of it)     %7.2f", jsonlAppend))
            print(String(format: "  palette PNG                        %7.2f", palettePNG))
            print(String(format: "  per-object PNG x3                  %7.2f", greyPNG))
            print(String(format: "  per-object PNG x3 (zlib level 1)   %7.2f", greyPNG1))
            print(String(format: "  overlay render                     %7.2f", overlay))
            func bytes(_ sub: String) throws -> Int {
                try FileManager.default.subpathsOfDirectory(atPath: dir.file(sub)).reduce(0) { total, name in
                    let attributes = try FileManager.default.attributesOfItem(atPath: dir.file(sub + "/" + name))
                    return total + ((attributes[.type] as? FileAttributeType) == .typeRegular ? (attributes[.size] as? Int ?? 0) : 0)
                }
            }
            print(String(format: "  PNG bytes per object: level 6 %d, level 1 %d; palette PNG %d",
                         try bytes("png") / (3 * repeats), try bytes("png1") / (3 * repeats), try bytes("palette") / repeats))
        }
    }

    /// Resident memory of this process in bytes (/proc/self/statm), 0 where unavailable.
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// Streaming bounds memory: each format exported for 1000 frames x 3 objects at 1280x720 (the
    /// records made on the fly from 10 sets of masks, as a reader would parse them), the chunks
    /// written to a file; resident memory is sampled after every chunk. Decoded, the masks are
    /// 2.6 GiB; the peak growth over the resident size before the export must stay under 64 MiB.
    func testExportMemoryIsBounded() throws {
        guard ProcessInfo.processInfo.environment["SAMTRACK_EXPORT_BENCH"] == "1" else {
            throw XCTSkip("set SAMTRACK_EXPORT_BENCH=1 to run")
        }
        let (width, height, frames) = (1280, 720, Int(ProcessInfo.processInfo.environment["SAMTRACK_EXPORT_FRAMES"] ?? "") ?? 1000)
        let sets = (0..<10).map { set in
            MaskJSONLWriter.records((1...3).map { id in
                ObjectMask(id: id, score: Float(id), mask: SyntheticMasks.blobs(width: width, height: height, blobs: 3,
                                                                               seed: UInt64(set * 10 + id)))
            })
        }
        let dir = try TemporaryDirectory("export-memory")
        print("Export memory: \(frames) frames x 3 objects at \(width)x\(height), \(Parallel.threadCount) threads")
        for format in MaskExportFormat.allCases {
            var next = 0
            let export = try MaskExport(format: format, width: width, height: height) { () -> FrameRecord? in
                guard next < frames else { return nil }
                defer { next += 1 }
                return FrameRecord(frame: next, pts: Double(next) / 30, objects: sets[next % sets.count])
            }
            let before = residentBytes()
            var peak = before, chunks = 0
            let start = DispatchTime.now().uptimeNanoseconds
            try AtomicFile.write(to: dir.file(format.fileName)) { sink in
                while let chunk = try export.nextChunk() {
                    try sink.write(chunk)
                    chunks += 1
                    peak = max(peak, residentBytes())
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let size = try FileManager.default.attributesOfItem(atPath: dir.file(format.fileName))[.size] as? Int ?? 0
            let growth = Double(peak - before) / 1_048_576
            let name = format.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            print("  " + name + String(format: "%6.1f MiB in %4d chunks, %6.1f s (%5.1f ms/frame); resident %.1f MiB before, peak +%.1f MiB",
                                       Double(size) / 1_048_576, chunks, seconds, seconds * 1000 / Double(frames),
                                       Double(before) / 1_048_576, growth))
            XCTAssertEqual(export.frameCount, frames)
            XCTAssertLessThan(growth, 64, "\(format): resident memory grew by \(growth) MiB")
            try FileManager.default.removeItem(atPath: dir.file(format.fileName))
        }
    }
}
