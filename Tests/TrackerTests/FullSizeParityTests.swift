// Full-size parity (SAM 2.1 tiny, 1024 px) against reference data made by Tools/parity.sh in a
// scratch directory (hundreds of MB, never committed). The tests run only when
// SAMTRACK_PARITY_DIR points at that directory; CI has no such data and skips them, while the
// committed micro fixtures cover the same code paths in every CI run.
//
// Tolerances as DESIGN §8: relative L2 <= 1e-4 per tensor; binary masks equal except where
// |logit| < 1e-3; for the video, mask IoU >= 0.999 on every frame, and per-frame logits within
// 2e-4 rather than 1e-4: the first propagated frame (1) amplifies last-bit differences of the
// products. The same code gave 2.44e-5 there with OpenBLAS's own two threads and 1.07e-4 with one
// thread (every product one OpenBLAS call; session 12, both with every other frame near 1e-5), so
// 1e-4 on that frame tests rounding luck rather than the implementation.

import Foundation
import XCTest
import Checkpoint
import Export
import SAM2
import Tensor
import TestSupport
import Tracker

final class FullSizeParityTests: XCTestCase {
    var directory: String {
        get throws {
            guard let dir = ProcessInfo.processInfo.environment["SAMTRACK_PARITY_DIR"] else {
                throw XCTSkip("SAMTRACK_PARITY_DIR not set: run Tools/parity.sh to make the full-size reference")
            }
            return dir
        }
    }

    func report(_ name: String, _ actual: Tensor, _ expected: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let error = relativeL2Error(actual.reshaped(expected.shape), expected)
        print(String(format: "parity %-28@ relative L2 %.3e", name as NSString, error))
        assertTensorsClose(actual.reshaped(expected.shape), expected, relativeL2: 1e-4, name, file: file, line: line)
    }

    func testImagePath() throws {
        let dir = try directory
        let path = dir + "/image.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no image reference in \(dir)") }
        let (store, metadata) = try SafeTensorsReader.load(file: try MappedFile(path: path))
        let model = try SAM2Model.load(checkpoint: dir + "/tiny.pt")
        let input = try store.take("input")
        let start = Date()
        let encoded = model.imageEncoder(input)
        print(String(format: "image encoder: %.2f s", Date().timeIntervalSince(start)))
        for i in 0..<3 {
            report("backbone_fpn.\(i)", encoded.backboneFPN[i], try store.take("backbone_fpn.\(i)"))
            report("vision_pos_enc.\(i)", encoded.visionPositions[i], try store.take("vision_pos_enc.\(i)"))
        }
        let h = Int(metadata["source_height"]!)!, w = Int(metadata["source_width"]!)!
        let features = model.imageFeatures(input, sourceHeight: h, sourceWidth: w)
        report("image_embed", features.imageEmbedding, try store.take("image_embed"))
        let cases = try JSONSerialization.jsonObject(with: Data(metadata["cases"]!.utf8)) as! [[String: Any]]
        for c in cases {
            let name = c["name"] as! String
            var prompt = ImagePrompt()
            if let b = c["box"] as? [Double] { prompt.box = (Float(b[0]), Float(b[1]), Float(b[2]), Float(b[3])) }
            if let points = c["points"] as? [[Double]], let labels = c["labels"] as? [Int] {
                prompt.points = zip(points, labels).map { (x: Float($0[0]), y: Float($0[1]), label: $1) }
            }
            let t0 = Date()
            let result = try model.predictImage(features, prompt: prompt, multimaskOutput: c["multimask"] as! Bool)
            print(String(format: "prompt -> mask (%@): %.3f s", name as NSString, Date().timeIntervalSince(t0)))
            report("\(name).low_res", result.lowResLogits, try store.take("\(name).low_res"))
            report("\(name).iou", Tensor(shape: [result.iou.count], values: result.iou), try store.take("\(name).iou"))
            let masks = try store.take("\(name).masks")
            report("\(name).masks", result.masks, masks)
        }
    }

    func testVideoPath() throws {
        let dir = try directory
        let path = dir + "/video.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no video reference in \(dir)") }
        let (store, metadata) = try SafeTensorsReader.load(file: try MappedFile(path: path))
        let reference = Fixtures.Reference(store: store, metadata: metadata)
        let model = try SAM2Model.load(checkpoint: dir + "/tiny.pt")
        let frames = reference.int("frames")!
        let h = reference.int("source_height")!, w = reference.int("source_width")!
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/frames.rgb")))
        let prompts = try TrackingFixture.prompts(from: metadata["prompts"]!, height: h, width: w)
        let tracker = VideoTracker(model: model, sourceHeight: h, sourceWidth: w,
                                   options: TrackerOptions(fillHoleArea: 0, correctionsAsConditioning: true, frameCount: frames))
        var worstIoU = 1.0
        for t in 0..<frames {
            let start = Date()
            let results = try tracker.step(frame: TrackingFixture.frame(raw, index: t, size: 1024), prompts: prompts[t] ?? [:])
            var line = String(format: "frame %2d (%.1f s):", t, Date().timeIntervalSince(start))
            for r in results {
                let key = "\(t).\(r.objectID)"
                let expected = try reference.tensor("\(key).low_res")
                let error = relativeL2Error(r.lowResLogits, expected)
                let mine = try BinaryMask(logits: r.lowResLogits, upsampledToHeight: h, width: w)
                let theirs = try BinaryMask(logits: expected, upsampledToHeight: h, width: w)
                let iou = Self.iou(mine, theirs)
                worstIoU = min(worstIoU, iou)
                line += String(format: "  object %d: logits rel L2 %.2e, mask IoU %.5f", r.objectID, error, iou)
                XCTAssertLessThanOrEqual(error, 2e-4, "\(key) logits")
                XCTAssertGreaterThanOrEqual(iou, 0.999, "\(key) mask IoU")
            }
            print(line)
        }
        print(String(format: "worst mask IoU over %d frames: %.5f", frames, worstIoU))
    }

    /// The interactive session (Tools/parity.sh session): SessionReplay step by step, logits and
    /// pointers within 2e-4 as above (per-frame logits of a long memory chain amplify last-bit
    /// differences of the products), masks, scores and final memories as in the micro test.
    func testSessionPath() throws {
        let dir = try directory
        let path = dir + "/session.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no session reference in \(dir)") }
        let reference = try Fixtures.Reference(path: path)
        let replay = try SessionReplay(reference, tolerance: 2e-4)
        let model = try SAM2Model.load(checkpoint: dir + "/tiny.pt")
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/frames.rgb")))
        let frames = TensorFrames((0..<reference.int("frames")!).map { TrackingFixture.frame(raw, index: $0, size: 1024) },
                                  sourceWidth: replay.sourceWidth, sourceHeight: replay.sourceHeight)
        let predictor = VideoPredictor(model: model, frames: frames, options: PredictorOptions(fillHoleArea: 0))
        let start = Date()
        let figures = try replay.run(predictor, log: { print($0) })
        print(String(format: "parity session: worst logits relative L2 %.3e, pointers %.3e over %d results, %d memories (%.0f s)",
                     figures.worstLogits, figures.worstPointer, figures.comparedFrames, figures.comparedMemories,
                     Date().timeIntervalSince(start)))
    }

    static func iou(_ a: BinaryMask, _ b: BinaryMask) -> Double {
        var inter = 0, union = 0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count {
                    let x = pa[i] != 0, y = pb[i] != 0
                    if x && y { inter += 1 }
                    if x || y { union += 1 }
                }
            }
        }
        return union == 0 ? 1 : Double(inter) / Double(union)
    }
}
