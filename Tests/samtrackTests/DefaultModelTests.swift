// The bundled default model (Fixtures/models/synth.pt, trained by Tools/train on generated clips)
// really tracks: `samtrack track` with no --model on the bundled clip Fixtures/clips/clip_700002
// (not seen in training; ground truth from the generator as DAVIS palette PNGs; objects prompted
// with their frame-0 masks, masks/<id>.png) must reach the region similarity measured when the
// model was shipped, minus a margin — so a regression anywhere in the tracker, the decoder or the
// media path that costs accuracy fails here, with real weights.

import Foundation
import XCTest
import Export
import Media
import TestSupport

final class DefaultModelTests: XCTestCase {
    /// Mean J (IoU) over objects and frames 1..T-2 that the shipped model reaches on the clip
    /// (measured with `Tools/eval`; Fixtures/models/README.md); the test allows `margin` less.
    static let expectedMeanJ = 0.667
    static let margin = 0.05

    struct ClipPrompts: Decodable {
        let size: [Int]
        let num_frames: Int
        struct Object: Decodable { let box: [Int] }
        let objects: [String: Object]
    }

    func testDefaultModelTracksTheBundledClip() throws {
        let clip = Fixtures.path("clips/clip_700002")
        let prompts = try JSONDecoder().decode(ClipPrompts.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: clip + "/prompts.json")))
        let dir = try TemporaryDirectory("default-model")
        var args = ["track", clip + "/video.mp4", "--format", "palette", "--output", dir.file("out"), "--quiet"]
        for id in prompts.objects.keys.sorted(by: { Int($0)! < Int($1)! }) {
            args += ["--mask", "\(id):\(clip)/masks/\(id).png"]
        }
        // No --model: the bundled model is found next to the build; SAMTRACK_MODEL must not leak in.
        let result = try Samtrack.run(args, timeout: 600, environment: ["SAMTRACK_MODEL": ""])
        XCTAssertEqual(result.status, 0, result.summary)
        let truth = try readLabels(clip + "/gt/%05d.png")
        let tracked = try readLabels(dir.file("out") + "/%05d.png")
        XCTAssertEqual(truth.count, prompts.num_frames)
        XCTAssertEqual(tracked.count, prompts.num_frames)
        var ious: [Double] = []
        for id in prompts.objects.keys.compactMap({ UInt8($0) }) {
            for t in 1..<(prompts.num_frames - 1) {
                var inter = 0, union = 0
                for (a, b) in zip(truth[t], tracked[t]) {
                    let x = a == id, y = b == id
                    if x && y { inter += 1 }
                    if x || y { union += 1 }
                }
                ious.append(union == 0 ? 1 : Double(inter) / Double(union))
            }
        }
        let meanJ = ious.reduce(0, +) / Double(ious.count)
        XCTAssertGreaterThanOrEqual(meanJ, Self.expectedMeanJ - Self.margin,
                                    "mean J \(meanJ) on the bundled clip (shipped model measured \(Self.expectedMeanJ))")
    }

    /// `--precision bf16` (bfloat16 products in the encoder and memory attention) gives nearly the
    /// fp32 masks: mean IoU against fp32 over objects and frames >= 0.98 (0.993 when bf16 shipped),
    /// and not the identical masks (the option must change the arithmetic).
    func testBF16MasksFollowFP32() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try XCTSkipUnless(flags.contains("avx512_bf16"), "this CPU has no AVX-512 BF16")
        let clip = Fixtures.path("clips/clip_700002")
        let prompts = try JSONDecoder().decode(ClipPrompts.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: clip + "/prompts.json")))
        let dir = try TemporaryDirectory("default-model-bf16")
        var labels: [String: [[UInt8]]] = [:]
        for precision in ["fp32", "bf16"] {
            var args = ["track", clip + "/video.mp4", "--format", "palette", "--output", dir.file(precision), "--quiet",
                        "--precision", precision]
            for id in prompts.objects.keys.sorted(by: { Int($0)! < Int($1)! }) {
                args += ["--mask", "\(id):\(clip)/masks/\(id).png"]
            }
            let result = try Samtrack.run(args, timeout: 600, environment: ["SAMTRACK_MODEL": ""])
            XCTAssertEqual(result.status, 0, result.summary)
            labels[precision] = try readLabels(dir.file(precision) + "/%05d.png")
        }
        let (fp32, bf16) = (labels["fp32"]!, labels["bf16"]!)
        XCTAssertEqual(fp32.count, prompts.num_frames)
        XCTAssertEqual(bf16.count, prompts.num_frames)
        var ious: [Double] = []
        var differing = 0
        for id in prompts.objects.keys.compactMap({ UInt8($0) }) {
            for t in 0..<min(fp32.count, bf16.count) {
                var inter = 0, union = 0
                for (a, b) in zip(fp32[t], bf16[t]) {
                    let x = a == id, y = b == id
                    if x && y { inter += 1 }
                    if x || y { union += 1 }
                    if x != y { differing += 1 }
                }
                if union > 0 { ious.append(Double(inter) / Double(union)) }
            }
        }
        let meanIoU = ious.reduce(0, +) / Double(max(ious.count, 1))
        XCTAssertGreaterThanOrEqual(meanIoU, 0.98, "bf16 vs fp32 mean IoU \(meanIoU)")
        XCTAssertGreaterThan(differing, 0, "bf16 gave exactly the fp32 masks: the option did not change the products")
    }

    func testInfoWithoutCheckpointShowsTheDefaultModel() throws {
        let result = try Samtrack.run(["info"], environment: ["SAMTRACK_MODEL": ""])
        XCTAssertEqual(result.status, 0, result.summary)
        // The config name the shipped model's sidecar gives (e.g. "synth_wide_sam2.1").
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/synth.json"))))
        let name = try XCTUnwrap((sidecar as? [String: Any])?["name"] as? String)
        XCTAssertTrue(result.stdout.contains(name), result.stdout)
        XCTAssertTrue(result.stdout.contains("synth.pt"), result.stdout)
    }

    func testMissingDefaultModelNamesWhereItLooked() throws {
        let result = try Samtrack.run(["info"], environment: ["SAMTRACK_MODEL": "/nonexistent/model.pt"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("/nonexistent/model.pt"), result.stderr)
    }

    /// Palette PNGs (DAVIS colours) as object ids per pixel, frame by frame.
    private func readLabels(_ pattern: String) throws -> [[UInt8]] {
        var colourToID: [UInt32: UInt8] = [:]
        for index in 0..<256 {
            let c = DAVISPalette.color(index: index)
            let key = UInt32(c.red) << 16 | UInt32(c.green) << 8 | UInt32(c.blue)
            if colourToID[key] == nil { colourToID[key] = UInt8(index) }
        }
        let reader = try FrameReader(input: pattern, options: FrameReaderOptions(sourceRGB: true))
        var frames: [[UInt8]] = []
        while let frame = try reader.next() {
            guard let rgb = frame.rgb else { throw XCTSkip("no RGB from \(pattern)") }
            var ids = [UInt8](repeating: 0, count: rgb.width * rgb.height)
            for i in 0..<ids.count {
                let key = UInt32(rgb.pixels[3 * i]) << 16 | UInt32(rgb.pixels[3 * i + 1]) << 8 | UInt32(rgb.pixels[3 * i + 2])
                guard let id = colourToID[key] else {
                    XCTFail("\(pattern) frame \(frames.count): colour \(String(key, radix: 16)) is not in the DAVIS palette")
                    return frames
                }
                ids[i] = id
            }
            frames.append(ids)
        }
        return frames
    }
}
