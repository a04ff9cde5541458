// AdamW against `torch.optim.AdamW` (Fixtures/training/adamw.safetensors): two parameter groups
// (lr 1e-3 with weight decay 0.1 on two tensors; lr 5e-4 without decay on a third), four steps
// with the learning rates changed between steps as a schedule does, a step with a zero gradient
// (moments decay, the step count advances) and a step with 10x larger gradients. Then the
// learning-rate schedule's factors and a parameter without a gradient (skipped, as `grad is None`).
//
// Tolerance: relative L2 <= 1e-6 per tensor after every step (the update is elementwise fp32; the
// scalars are computed in Double as PyTorch does).

import XCTest
import Tensor
import TestSupport
@testable import Training

final class AdamWTests: XCTestCase {
    func testMatchesTorchAdamWWithPerGroupRates() throws {
        let r = try Fixtures.reference("training/adamw.safetensors")
        let rates = try JSONDecoder().decode([[Double]].self, from: Data(r.metadata["lrs"]!.utf8))
        XCTAssertEqual(rates.count, 4)
        let names = ["w1", "w2", "b1"]
        var values: [String: Tensor] = [:]
        for name in names { values[name] = try r.tensor("\(name).initial") }
        var parameters = Parameters(keys: names, values: values)
        var optimizer = AdamW()
        var worstParameter = 0.0, worstUpdate = 0.0
        for (step, pair) in rates.enumerated() {
            var gradients = Gradients()
            for name in names { gradients.add(name, try r.tensor("\(name).grad.\(step)")) }
            let groups = [ParameterGroup(name: "decay", keys: ["w1", "w2"], learningRate: pair[0], weightDecay: 0.1),
                          ParameterGroup(name: "no decay", keys: ["b1"], learningRate: pair[1], weightDecay: 0)]
            optimizer.step(&parameters, gradients: gradients, groups: groups)
            for name in names {
                let expected = try r.tensor("\(name).after.\(step)")
                assertTensorsClose(parameters[name], expected, relativeL2: 1e-6, "\(name) after step \(step)")
                // The update itself (not only the parameter, which barely moves) must match.
                let before = step == 0 ? try r.tensor("\(name).initial") : try r.tensor("\(name).after.\(step - 1)")
                assertTensorsClose(parameters[name] - before, expected - before, relativeL2: 1e-4, "\(name) update at step \(step)")
                worstParameter = max(worstParameter, relativeL2Error(parameters[name], expected))
                worstUpdate = max(worstUpdate, relativeL2Error(parameters[name] - before, expected - before))
            }
        }
        XCTAssertEqual(optimizer.steps["w2"], 4)
        print(String(format: "AdamW parity: worst rel L2 %.2e (parameters), %.2e (updates) over 4 steps", worstParameter, worstUpdate))
    }

    func testParameterWithoutGradientIsSkipped() {
        var parameters = Parameters(keys: ["a", "b"], values: ["a": Tensor(shape: [2], values: [1, 2]),
                                                               "b": Tensor(shape: [2], values: [3, 4])])
        var optimizer = AdamW()
        var gradients = Gradients()
        gradients.add("a", Tensor(shape: [2], values: [0.5, -0.5]))
        optimizer.step(&parameters, gradients: gradients,
                       groups: [ParameterGroup(name: "all", keys: ["a", "b"], learningRate: 0.1, weightDecay: 0.5)])
        XCTAssertEqual(parameters["b"].scalars, [3, 4], "no gradient: no update, no weight decay")
        XCTAssertNil(optimizer.steps["b"])
        // First step: m_hat / sqrt(v_hat) = sign(g), so p = p (1 - lr wd) - lr sign(g).
        XCTAssertEqual(parameters["a"].scalars[0], 1 * 0.95 - 0.1, accuracy: 1e-6)
        XCTAssertEqual(parameters["a"].scalars[1], 2 * 0.95 + 0.1, accuracy: 1e-6)
    }

    func testScheduleWarmsUpThenDecays() {
        let cosine = LearningRateSchedule.cosine
        XCTAssertEqual(cosine.factor(step: 0, total: 100, warmup: 9), 0.1, accuracy: 1e-12)
        XCTAssertEqual(cosine.factor(step: 8, total: 100, warmup: 9), 0.9, accuracy: 1e-12)
        XCTAssertEqual(cosine.factor(step: 9, total: 100, warmup: 9), 1, accuracy: 1e-12)
        XCTAssertEqual(cosine.factor(step: 100, total: 100, warmup: 9), 0.1, accuracy: 1e-12)
        let middle = cosine.factor(step: 9 + 91 / 2, total: 100, warmup: 9)
        XCTAssertEqual(middle, 0.55, accuracy: 0.02)
        let stepped = LearningRateSchedule.step
        XCTAssertEqual(stepped.factor(step: 10, total: 40, warmup: 10), 1)
        XCTAssertEqual(stepped.factor(step: 39, total: 40, warmup: 10), 0.1)
        XCTAssertEqual(LearningRateSchedule.constant.factor(step: 1000, total: 10, warmup: 0), 1)
        XCTAssertEqual(LearningRateSchedule.constant.factor(step: 0, total: 10, warmup: 0), 1)
    }
}
