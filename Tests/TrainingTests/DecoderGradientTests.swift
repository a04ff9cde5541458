// The whole prompt encoder + mask decoder against PyTorch on the micro model
// (Fixtures/training/decoder_micro.safetensors): the official `_forward_sam_heads` with conv_s0 /
// conv_s1 on given neck features, over scripted cases (a three-step click chain whose mask inputs
// carry gradients back, a box, a tracked frame without prompts, a mask prompt through
// `mask_downsample`, an empty target, an object judged absent), the official loss summed over
// steps, and the gradient of every trainable tensor.
//
// Tolerance: outputs relative L2 <= 1e-4 (DESIGN §8); every parameter gradient relative L2
// <= 1e-4 (issue 30). Sums of thousands of fp32 terms in a different order stay near 1e-6.
// Two families are judged differently, for reasons of mathematics, not of implementation:
// - attention key biases (`*.k_proj.bias`): their exact gradient is zero (adding b_k to every key
//   adds q·b_k to every logit of a query's row, which softmax ignores), so both sides hold only
//   rounding residue; each side's norm must be below 1e-4 of the same module's query-bias gradient.
// - the object-score head: its gradient is (sigmoid(s) - 1) ds/dθ (present object), and with s
//   near +10 (the micro model's bias) PyTorch's fp32 sigmoid(s) sits a few float steps below 1:
//   the reference's own value of 1 - sigmoid(s) is only good to 2^-24 / (1 - sigmoid(s)) relative
//   (~6e-4 at s = 10), while Swift computes it in Double. The tolerance there is 1e-4 plus that
//   bound, taken at the group's most confident step (printed with the figures).

import XCTest
import Checkpoint
import SAM2
import Tensor
import TestSupport
@testable import Training

final class DecoderGradientTests: XCTestCase {
    struct Case: Decodable {
        struct Step: Decodable { var points: [[Float]]?; var labels: [Int]?; var mask: String?; var multimask: Bool }
        var name: String
        var bias: Float?
        var steps: [Step]
    }

    func testDecoderGradientsMatchPyTorch() throws {
        let r = try Fixtures.reference("training/decoder_micro.safetensors")
        let model = try SAM2Model.load(checkpoint: Fixtures.path("models/micro.pt"))
        let heads = TrainableSAMHeads(model: model)
        var params = try Parameters.promptEncoderAndDecoder(from: CheckpointLoader.load(path: Fixtures.path("models/micro.pt")))
        let trainable = try JSONDecoder().decode([String].self, from: Data(r.metadata["trainable"]!.utf8))
        XCTAssertEqual(Set(params.keys), Set(trainable), "trainable tensors differ from the official parameters")
        let cases = try JSONDecoder().decode([Case].self, from: Data(r.metadata["cases"]!.utf8))
        let groups = try JSONDecoder().decode([String: [String]].self, from: Data(r.metadata["groups"]!.utf8))
        let biasKey = r.metadata["bias_key"]!
        let features = SampleFeatures(imageEmbedding: try r.tensor("image_embedding"),
                                      highRes: (try r.tensor("neck0"), try r.tensor("neck1")))
        let size = model.config.imageSize
        let originalBias = params[biasKey]
        var worst = 0.0, worstKey = ""
        for (group, names) in groups.sorted(by: { $0.key < $1.key }) {
            var g = Gradients()
            var scoreDifference: Float = 0
            var referenceRounding = 0.0  // the bound above, over the group's steps
            for name in names {
                let c = cases.first { $0.name == name }!
                let targetTensor = try r.tensor(name == "tracked" || name == "mask" ? "target2" : "target")
                let target = name == "empty_target" ? [UInt8](repeating: 0, count: size * size)
                    : targetTensor.scalars.map { $0 > 0 ? UInt8(1) : 0 }
                if let bias = c.bias { params[biasKey] = Tensor(repeating: bias, shape: [1]) }
                var steps: [TrainableSAMHeads.Step] = [], losses: [StepLoss] = []
                var total = LossTerms()
                for (i, s) in c.steps.enumerated() {
                    let points = s.points.map { pts in
                        PointPrompts(coordinates: pts.map { (x: $0[0], y: $0[1]) }, labels: s.labels!)
                    }
                    var maskInput: Tensor? = nil
                    if s.mask == "prev" { maskInput = steps.last!.lowResMask }
                    if s.mask == "gt" {
                        maskInput = model.maskDownsample!(Tensor(shape: [1, 1, size, size], values: target.map(Float.init)))
                    }
                    let step = heads.forward(features, points: points, maskInput: maskInput, multimask: s.multimask, params)
                    assertTensorsClose(step.lowResCandidates, try r.tensor("\(name).\(i).low_res_multimasks"), relativeL2: 1e-4,
                                       "\(name) step \(i) low-res masks")
                    assertTensorsClose(Tensor(shape: [1, step.iou.count], values: step.iou), try r.tensor("\(name).\(i).iou"),
                                       relativeL2: 1e-4, "\(name) step \(i) IoU")
                    let torchScore = try r.tensor("\(name).\(i).object_score").scalars[0]
                    XCTAssertEqual(step.objectScore, torchScore, accuracy: 1e-3)
                    scoreDifference = max(scoreDifference, abs(step.objectScore - torchScore))
                    if target.contains(1) {
                        referenceRounding = max(referenceRounding, pow(2, -24) / (1 - 1 / (1 + exp(-Double(torchScore)))))
                    }
                    let loss = MaskLoss.step(logits: step.highResCandidates, iou: step.iou, objectScore: step.objectScore,
                                             target: target, objects: 1)
                    total += loss.terms
                    steps.append(step)
                    losses.append(loss)
                }
                let expected = Double(try r.tensor("\(name).core_loss").scalars[0])
                XCTAssertEqual(total.total(LossWeights()), expected, accuracy: 1e-4 * abs(expected), "\(name) loss")
                var dNext: Tensor? = nil
                for i in stride(from: steps.count - 1, through: 0, by: -1) {
                    let dInput = heads.backward(steps[i], dHighRes: losses[i].dMasks, dIoU: losses[i].dIoU,
                                                dObjectScore: losses[i].dObjectScore, dLowResMask: dNext, params, &g)
                    dNext = c.steps[i].mask == "prev" ? dInput : nil
                }
                params[biasKey] = originalBias
            }
            var checked = 0, groupWorst = 0.0, scoreWorst = 0.0
            let scoreTolerance = 1e-4 + 2 * Double(scoreDifference) + referenceRounding
            for key in trainable {
                let expected = try r.tensor("\(group).grad.\(key)")
                let actual = g.gradient(key, shape: expected.shape)
                if expected.scalars.allSatisfy({ $0 == 0 }) {
                    XCTAssertTrue(actual.scalars.allSatisfy { $0 == 0 }, "\(group) \(key): PyTorch's gradient is zero")
                } else if key.hasSuffix(".k_proj.bias") {
                    let scale = norm(try r.tensor("\(group).grad.\(key.replacingOccurrences(of: ".k_proj.", with: ".q_proj."))"))
                    XCTAssertLessThanOrEqual(norm(actual), 1e-4 * scale, "\(group) \(key): the exact gradient is zero")
                    XCTAssertLessThanOrEqual(norm(expected), 1e-4 * scale, "\(group) \(key): PyTorch's residue")
                } else if key.hasPrefix("sam_mask_decoder.pred_obj_score_head.") {
                    assertTensorsClose(actual, expected, relativeL2: scoreTolerance, "\(group) grad \(key)")
                    scoreWorst = max(scoreWorst, relativeL2Error(actual, expected))
                    checked += 1
                } else {
                    assertTensorsClose(actual, expected, relativeL2: 1e-4, "\(group) grad \(key)")
                    let error = relativeL2Error(actual, expected)
                    groupWorst = max(groupWorst, error)
                    if error > worst { (worst, worstKey) = (error, "\(group) \(key)") }
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, trainable.count / 2, "\(group): most gradients are non-zero")
            print(String(format: "decoder parity %@: %d gradients, worst rel L2 %.2e; object-score head %.2e (|ds| %.1e, torch's fp32 rounding bound %.1e)",
                         group, checked, groupWorst, scoreWorst, Double(scoreDifference), referenceRounding))
        }
        print(String(format: "decoder parity: worst parameter-gradient rel L2 %.2e (%@)", worst, worstKey))
    }

    func norm(_ t: Tensor) -> Double { t.scalars.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
}
