// Prompt encoder + mask decoder parity with the official SAM2ImagePredictor on the micro models.
// The image features come from the fixture (the official encoder's output), so these tests isolate
// the prompt and decoder path: sparse/dense prompt embeddings, raw decoder outputs (masks, IoU,
// SAM tokens, object score), and the final masks at source resolution.
//
// Tolerance: relative L2 <= 1e-4 per tensor (DESIGN §8).

import Foundation
import XCTest
import Checkpoint
import SAM2
import Tensor
import TestSupport

final class DecoderParityTests: XCTestCase {
    let tolerance = 1e-4

    struct Case: Decodable {
        let name: String
        let points: [[Float]]?
        let labels: [Int]?
        let box: [Float]?
        let maskFrom: String?
        let multimask: Bool
        enum CodingKeys: String, CodingKey { case name, points, labels, box, multimask, maskFrom = "mask_from" }
    }

    func decoder(_ name: String) throws -> (PromptedDecoder, SAM2Config) {
        let config = try ConfigInference.load(configFile: Fixtures.path("models/\(name).json"))
        let store = try CheckpointLoader.load(path: Fixtures.path("models/\(name).pt"))
        let root = WeightLoader(store: store)
        let prompt = try PromptEncoder(root.child("sam_prompt_encoder"), embedDim: config.neck.dModel,
                                       imageSize: config.imageSize, embeddingSize: config.embeddingSize)
        let mask = try MaskDecoder(root.child("sam_mask_decoder"), config: config)
        XCTAssertEqual(store.untakenKeys.filter { $0.hasPrefix("sam_prompt_encoder.") }, [])
        XCTAssertEqual(store.untakenKeys.filter { $0.hasPrefix("sam_mask_decoder.") && !$0.contains("conv_s") }, [])
        return (PromptedDecoder(config: config, promptEncoder: prompt, maskDecoder: mask), config)
    }

    func testMicroDecoder() throws { try checkModel("micro") }
    func testMicro2Decoder() throws { try checkModel("micro2") }

    func checkModel(_ name: String) throws {
        let (heads, _) = try decoder(name)
        let f = try Fixtures.reference("models/\(name)_image.safetensors")
        let h = f.int("source_height")!, w = f.int("source_width")!
        assertTensorsClose(heads.promptEncoder.densePositionalEncoding, try f.tensor("dense_pe"), relativeL2: tolerance, "dense PE")
        let features = ImageFeatures(imageEmbedding: try f.tensor("image_embed"),
                                     highRes: (try f.tensor("high_res.0"), try f.tensor("high_res.1")),
                                     sourceHeight: h, sourceWidth: w)
        let cases = try JSONDecoder().decode([Case].self, from: Data(f.metadata["cases"]!.utf8))
        XCTAssertEqual(cases.count, 6)
        var lowResByCase: [String: Tensor] = [:]
        for c in cases {
            var prompt = ImagePrompt()
            if let points = c.points, let labels = c.labels {
                prompt.points = zip(points, labels).map { (x: $0[0], y: $0[1], label: $1) }
            }
            if let b = c.box { prompt.box = (b[0], b[1], b[2], b[3]) }
            if let from = c.maskFrom {
                // The fixture's mask input is what the official code fed (the earlier case's best
                // low-res logits); check ours produced the same, then use it.
                let expected = try f.tensor("\(c.name).mask_input")
                assertTensorsClose(lowResByCase[from]!, expected, relativeL2: tolerance, "\(name)/\(c.name) mask input")
                prompt.maskLogits = expected
            }
            let (sparse, dense) = try heads.embed(prompt, sourceHeight: h, sourceWidth: w)
            assertTensorsClose(sparse, try f.tensor("\(c.name).sparse"), relativeL2: tolerance, "\(name)/\(c.name) sparse")
            assertTensorsClose(dense, try f.tensor("\(c.name).dense"), relativeL2: tolerance, "\(name)/\(c.name) dense")
            let result = try heads.predict(features, prompt: prompt, multimaskOutput: c.multimask)
            let raw = result.decoderOutput
            assertTensorsClose(raw.masks, try f.tensor("\(c.name).decoder_masks"), relativeL2: tolerance, "\(name)/\(c.name) decoder masks")
            assertTensorsClose(raw.iou, try f.tensor("\(c.name).decoder_iou"), relativeL2: tolerance, "\(name)/\(c.name) IoU")
            assertTensorsClose(raw.samTokens, try f.tensor("\(c.name).sam_tokens"), relativeL2: tolerance, "\(name)/\(c.name) SAM tokens")
            assertTensorsClose(raw.objectScoreLogits, try f.tensor("\(c.name).object_score"), relativeL2: tolerance, "\(name)/\(c.name) object score")
            let masks = try f.tensor("\(c.name).masks")
            assertTensorsClose(result.masks.reshaped(masks.shape), masks, relativeL2: tolerance, "\(name)/\(c.name) masks")
            let lowRes = try f.tensor("\(c.name).low_res")
            assertTensorsClose(result.lowResLogits.reshaped(lowRes.shape), lowRes, relativeL2: tolerance, "\(name)/\(c.name) low-res")
            // Binary masks agree except where the logit is within 1e-3 of the threshold.
            var disagreements = 0
            result.masks.withUnsafeBufferPointer { a in
                masks.withUnsafeBufferPointer { e in
                    for i in 0..<a.count where (a[i] > 0) != (e[i] > 0) && abs(e[i]) >= 1e-3 { disagreements += 1 }
                }
            }
            XCTAssertEqual(disagreements, 0, "\(name)/\(c.name): mask pixels differ")
            XCTAssertGreaterThan(result.objectScore, 0, "fixture models are built so the object is visible")
            let best = c.multimask ? result.bestIndex : 0
            lowResByCase[c.name] = result.lowResLogits.slice(axis: 0, best..<(best + 1)).reshaped([1, 1, lowRes.shape[2], lowRes.shape[3]])
        }
    }

    func testBadPrompts() throws {
        let (heads, _) = try decoder("micro")
        XCTAssertThrowsError(try heads.embed(ImagePrompt(), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .empty)
        }
        XCTAssertThrowsError(try heads.embed(ImagePrompt(points: [(x: 200, y: 10, label: 1)]), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .pointOutsideImage(x: 200, y: 10, width: 144, height: 96))
            XCTAssertTrue("\($0)".contains("outside the 144x96 image"))
        }
        XCTAssertThrowsError(try heads.embed(ImagePrompt(box: (10, 10, 150, 50)), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .boxOutsideImage(x1: 10, y1: 10, x2: 150, y2: 50, width: 144, height: 96))
        }
        XCTAssertThrowsError(try heads.embed(ImagePrompt(box: (50, 10, 20, 50)), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .invalidBox(x1: 50, y1: 10, x2: 20, y2: 50))
        }
        XCTAssertThrowsError(try heads.embed(ImagePrompt(points: [(x: 5, y: 5, label: 7)]), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .invalidLabel(7))
        }
        XCTAssertThrowsError(try heads.embed(ImagePrompt(maskLogits: Tensor(zeros: [1, 1, 8, 8])), sourceHeight: 96, sourceWidth: 144)) {
            XCTAssertEqual($0 as? PromptError, .maskShape(expected: [1, 1, 32, 32], actual: [1, 1, 8, 8]))
        }
    }
}
