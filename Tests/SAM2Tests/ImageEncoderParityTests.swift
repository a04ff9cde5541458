// Parity of the image encoder (Hiera trunk, FPN neck, scalp, conv_s0/s1) with the official sam2
// code on the micro models: Fixtures/models/<name>.pt + <name>.json, reference tensors in
// Fixtures/models/<name>_image.safetensors (Tools/reference/make_model_fixtures.py).
//
// micro: 128 px, 1 head, stages [1, 2, 2, 1], windows [8, 4, 6, 2] (stage 3 windows need padding,
// block 5 q-pools padded windows), global block 4, nearest top-down.
// micro2: 192 px, 2 heads, stages [1, 1, 3, 1], windows [8, 4, 10, 3] (block 2 pools 4-windows into
// 2-windows, block 5 pools padded 10-windows into 5-windows), global block 4.
//
// Tolerance: relative L2 error <= 1e-4 per tensor (DESIGN §8). The encoder runs ~10 matrix
// products and normalisations deep in float32 with summation orders that differ from PyTorch's;
// observed errors are ~1e-6.

import XCTest
import Foundation
import Checkpoint
import Tensor
import SAM2
import TestSupport

final class ImageEncoderParityTests: XCTestCase {
    let tolerance = 1e-4

    func loadConfig(_ name: String) throws -> SAM2Config {
        try SAM2Config.load(json: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/\(name).json"))))
    }

    /// Runs the encoder on the fixture input and compares every reference tensor.
    func checkParity(_ name: String) throws {
        let config = try loadConfig(name)
        let store = try CheckpointLoader.load(path: Fixtures.path("models/\(name).pt"))
        let encoder = try ImageEncoder(config: config, loader: WeightLoader(store: store))
        let unbound = store.untakenKeys.filter { $0.hasPrefix("image_encoder.") }
        XCTAssertEqual(unbound, [], "\(name): image encoder tensors left unbound")
        for key in ["sam_mask_decoder.conv_s0.weight", "sam_mask_decoder.conv_s1.bias"] {
            XCTAssertFalse(store.untakenKeys.contains(key), "\(name): \(key) not bound")
        }

        let reference = try Fixtures.reference("models/\(name)_image.safetensors")
        let input = try reference.tensor("input")
        XCTAssertEqual(input.shape, [1, 3, config.imageSize, config.imageSize])
        let start = Date()
        let out = encoder(input, keepIntermediates: true)
        let elapsed = Date().timeIntervalSince(start)

        var report: [String] = []
        func compare(_ actual: Tensor, _ key: String) throws {
            let expected = try reference.tensor(key)
            assertTensorsClose(actual, expected, relativeL2: tolerance, "\(name) \(key)")
            if actual.shape == expected.shape {
                report.append(String(format: "%@ %@ rel L2 %.2e", key, "\(actual.shape)", relativeL2Error(actual, expected)))
            }
        }
        XCTAssertEqual(out.trunk.count, 4)
        XCTAssertEqual(out.neckFeatures.count, 4)
        XCTAssertEqual(out.backboneFPN.count, 3)
        for i in 0..<4 {
            try compare(out.trunk[i], "trunk.\(i)")
            try compare(out.neckFeatures[i], "neck.features.\(i)")
            try compare(out.neckPositions[i], "neck.pos.\(i)")
        }
        for i in 0..<3 {
            try compare(out.backboneFPN[i], "backbone_fpn.\(i)")
            try compare(out.visionPositions[i], "vision_pos_enc.\(i)")
        }
        XCTAssertEqual(out.visionFeatures.scalars, out.backboneFPN[2].scalars, "vision_features is the last level")
        print("ImageEncoder parity \(name) (\(String(format: "%.1f", elapsed * 1000)) ms):\n  "
              + report.joined(separator: "\n  "))

        // Without intermediates the tracker-facing outputs are the same.
        let lean = encoder(input)
        XCTAssertTrue(lean.trunk.isEmpty && lean.neckFeatures.isEmpty && lean.neckPositions.isEmpty)
        for i in 0..<3 { XCTAssertEqual(lean.backboneFPN[i].scalars, out.backboneFPN[i].scalars) }
    }

    func testMicroParity() throws { try checkParity("micro") }

    func testMicro2Parity() throws { try checkParity("micro2") }

    /// A batch of two images gives each image's single-image result.
    func testBatchOfTwoMatchesSingles() throws {
        let config = try loadConfig("micro")
        let store = try CheckpointLoader.load(path: Fixtures.path("models/micro.pt"))
        let encoder = try ImageEncoder(config: config, loader: WeightLoader(store: store))
        let input = try Fixtures.reference("models/micro_image.safetensors").tensor("input")
        let flipped = input.reshaped([3 * config.imageSize, config.imageSize]).permuted([1, 0])
            .reshaped([1, 3, config.imageSize, config.imageSize])
        let both = encoder(Tensor.concatenate([input, flipped], axis: 0))
        for (b, single) in [input, flipped].enumerated() {
            let one = encoder(single)
            for i in 0..<3 {
                assertTensorsClose(both.backboneFPN[i].slice(axis: 0, b..<(b + 1)), one.backboneFPN[i],
                                   relativeL2: 1e-6, "batch item \(b) level \(i)")
                XCTAssertEqual(both.visionPositions[i].slice(axis: 0, b..<(b + 1)).scalars, one.visionPositions[i].scalars)
            }
        }
    }

    /// A trunk tensor with the wrong shape fails loading with shapeMismatch naming the key.
    func testWrongTrunkShapeNamesTheKey() throws {
        let config = try loadConfig("micro")
        let original = try CheckpointLoader.load(path: Fixtures.path("models/micro.pt"))
        let key = "image_encoder.trunk.blocks.1.attn.qkv.weight"
        let good = try XCTUnwrap(original.tensors[key])
        var tensors = original.tensors
        tensors[key] = Tensor(zeros: [good.shape[0] + 3, good.shape[1]])
        let broken = WeightStore(path: original.path, tensors: tensors, orderedKeys: original.orderedKeys)
        XCTAssertThrowsError(try ImageEncoder(config: config, loader: WeightLoader(store: broken))) { error in
            guard case let CheckpointError.shapeMismatch(_, errorKey, expected, actual) = error else {
                return XCTFail("expected shapeMismatch, got \(error)")
            }
            XCTAssertEqual(errorKey, key)
            XCTAssertEqual(expected, good.shape)
            XCTAssertEqual(actual, [good.shape[0] + 3, good.shape[1]])
            XCTAssertTrue("\(error)".contains(key))
        }
    }

    /// A missing tensor fails with missingTensor naming the key.
    func testMissingNeckTensorNamesTheKey() throws {
        let config = try loadConfig("micro")
        let original = try CheckpointLoader.load(path: Fixtures.path("models/micro.pt"))
        let key = "image_encoder.neck.convs.2.conv.bias"
        var tensors = original.tensors
        tensors[key] = nil
        let broken = WeightStore(path: original.path, tensors: tensors, orderedKeys: original.orderedKeys.filter { $0 != key })
        XCTAssertThrowsError(try ImageEncoder(config: config, loader: WeightLoader(store: broken))) { error in
            XCTAssertEqual(error as? CheckpointError, .missingTensor(path: original.path, key: key))
        }
    }

    /// Configs the reference cannot run are refused with a message, not a crash.
    func testInconsistentConfigsAreRefused() throws {
        let store = try CheckpointLoader.load(path: Fixtures.path("models/micro.pt"))
        var config = try loadConfig("micro")
        config.neck.backboneChannelList = [128, 64, 32, 8]
        XCTAssertThrowsError(try ImageEncoder(config: config, loader: WeightLoader(store: store))) { error in
            XCTAssertTrue("\(error)".contains("backbone_channel_list"), "\(error)")
        }
        config = try loadConfig("micro")
        config.imageSize = 136  // 34-token grid: window_spec[0] = 8 does not tile it
        XCTAssertThrowsError(try ImageEncoder(config: config, loader: WeightLoader(store: store))) { error in
            XCTAssertTrue(error is ImageEncoderConfigError, "\(error)")
        }
        config = try loadConfig("micro")
        config.neck.fpnInterpModel = "bicubic"
        XCTAssertThrowsError(try ImageEncoder(config: config, loader: WeightLoader(store: store))) { error in
            XCTAssertTrue("\(error)".contains("fpn_interp_model"), "\(error)")
        }
    }
}
